#pragma once

#include <QFile>
#include <QJsonObject>
#include <QList>
#include <QMutex>
#include <QString>

#include <QtGlobal>

#include <vector>

namespace vigil::logging {

enum class Format { Json, Text };

// Where and how lines are written. stderr gets `format`; the file (when set) always gets one JSON
// object per line, so tools can read it whatever a person chose for the terminal.
struct Options
{
    Format format = Format::Text;
    QtMsgType minimumLevel = QtInfoMsg;
    QString filePath; // empty: no log file
    qint64 maxFileBytes = 10 * 1024 * 1024; // rotate before a line would push the file past this
    int keepFiles = 5; // rotated files kept: <file>.1 (newest) … <file>.<keepFiles>
};

// Structured logging on top of Qt's message handler (process-wide by nature, like Qt's own).
// JSON: one object per line {"ts","level","event",...fields}; text: "ts level event k=v ...".
// Plain qDebug/qWarning output from Qt itself goes through the same handler as event "qt".
// Returns false (and leaves stderr logging installed) when the log file cannot be opened.
bool install(const Options &options, QString *error = nullptr);
void install(Format format, QtMsgType minimumLevel);
// Writes pending suppression summaries and closes the log file (stderr logging stays).
void shutdown();

// Log one event: event("simulator_started", {{"rate", 500}, {"mode", "burst"}}).
// Sampling: at most kMaxLinesPerEventPerSecond lines per event name and second are written; the
// rest are only counted and reported in one `log_suppressed` line per name and second, so a storm
// of one event (a failing disk, a flood of Qt warnings) costs a counter, never the pipeline.
void event(QtMsgType level, const char *name, const QJsonObject &fields = {});
inline void info(const char *name, const QJsonObject &fields = {})
{
    event(QtInfoMsg, name, fields);
}
inline void warning(const char *name, const QJsonObject &fields = {})
{
    event(QtWarningMsg, name, fields);
}
inline void debug(const char *name, const QJsonObject &fields = {})
{
    event(QtDebugMsg, name, fields);
}

constexpr int kMaxLinesPerEventPerSecond = 50;

bool parseLevel(const QString &text, QtMsgType *level);
const char *levelName(QtMsgType level); // debug, info, warning, error, fatal
int levelRank(QtMsgType level); // 0 debug … 4 fatal (Qt's own enum order is not by severity)

// An append-only file that is renamed to <path>.1 (and older ones shifted up to <path>.<keep>)
// before a write would make it larger than maxBytes. Not thread-safe: the logger serialises.
class RotatingFile final
{
    Q_DISABLE_COPY_MOVE(RotatingFile)
public:
    RotatingFile(const QString &path, qint64 maxBytes, int keep);
    ~RotatingFile();

    // Creates the directory if needed and appends to an existing file.
    bool open(QString *error);
    bool write(const QByteArray &line);
    void close();

    QString path() const { return m_path; }
    qint64 size() const { return m_size; }
    int rotations() const { return m_rotations; }

private:
    bool rotate();

    QString m_path;
    qint64 m_maxBytes = 0;
    int m_keep = 0;
    QFile m_file;
    qint64 m_size = 0;
    int m_rotations = 0;
};

struct LogLine
{
    qint64 seq = 0; // 1, 2, … in the order lines were written
    qint64 tsMs = 0;
    QtMsgType level = QtInfoMsg;
    QString event;
    QJsonObject fields;

    QJsonObject toJson() const; // {seq, ts, level, event, fields}
};

// The last N written lines, in memory, for GET /api/v1/logs (the window's log panel, local or
// remote). Thread-safe.
class LogRing final
{
    Q_DISABLE_COPY_MOVE(LogRing)
public:
    explicit LogRing(int capacity);

    void append(qint64 tsMs, QtMsgType level, const QString &event, const QJsonObject &fields);
    struct Page
    {
        QList<LogLine> lines; // oldest first
        qint64 lastSeq = 0; // newest seq in the ring, matching or not: the next `afterSeq`
        bool truncated = false; // more matching lines after afterSeq than `limit`; the oldest were left out
    };
    // The newest `limit` lines with seq > afterSeq, level at least `minimum` and, when given, that
    // event name.
    Page lines(QtMsgType minimum, int limit, qint64 afterSeq = 0, const QString &event = {}) const;
    qint64 lastSeq() const;
    int capacity() const { return m_capacity; }

private:
    mutable QMutex m_mutex;
    int m_capacity;
    std::vector<LogLine> m_lines; // ring storage
    size_t m_next = 0; // where the next line goes once full
    qint64 m_seq = 0;
};

// The ring every logged line goes to (whether or not install() ran), shared like the handler.
LogRing &recentLines();

} // namespace vigil::logging
