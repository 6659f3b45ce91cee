#include "logger.h"

#include "util.h"

#include <QDir>
#include <QFileInfo>
#include <QHash>
#include <QJsonDocument>
#include <QMutexLocker>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

namespace vigil::logging {

namespace {
constexpr int kRingCapacity = 2000;

std::atomic<int> g_format {static_cast<int>(Format::Text)};
std::atomic<int> g_minimum {QtInfoMsg};
std::atomic<bool> g_installed {false};
// Leaked on purpose: Qt may still log while static objects are being destroyed at exit.
struct Output
{
    QMutex mutex; // guards stderr lines and the file
    std::unique_ptr<RotatingFile> file;
    bool fileFailed = false; // a write failed; reported once on stderr
};
Output &output()
{
    static auto *o = new Output;
    return *o;
}

bool enabled(QtMsgType level)
{
    return levelRank(level) >= levelRank(static_cast<QtMsgType>(g_minimum.load(std::memory_order_relaxed)));
}

// Per event name: at most kMaxLinesPerEventPerSecond lines in a one-second window; the rest are
// counted and reported once in a `log_suppressed` line.
class Throttle
{
public:
    struct Summary
    {
        QByteArray name;
        QtMsgType level;
        qint64 count;
    };

    bool admit(const char *name, QtMsgType level, QList<Summary> *summaries)
    {
        const qint64 now = steadyNowNs() / 1'000'000;
        QMutexLocker lock(&m_mutex);
        const QByteArray key = QByteArray::fromRawData(name, qsizetype(std::strlen(name)));
        auto it = m_buckets.find(key);
        if (it == m_buckets.end())
            it = m_buckets.insert(QByteArray(name), Bucket {now, 0, 0, level});
        Bucket &b = it.value();
        if (now - b.windowStartMs >= 1000) {
            if (b.suppressed > 0)
                summaries->append({it.key(), b.level, b.suppressed});
            b = Bucket {now, 0, 0, level};
        }
        if (now - m_lastSweepMs >= 1000) {
            m_lastSweepMs = now;
            sweep(now, summaries, false);
        }
        if (b.written < kMaxLinesPerEventPerSecond) {
            ++b.written;
            return true;
        }
        ++b.suppressed;
        if (levelRank(level) > levelRank(b.level))
            b.level = level;
        return false;
    }

    // Summaries of windows that ended (or all of them, at shutdown).
    QList<Summary> drain(bool all)
    {
        QList<Summary> out;
        QMutexLocker lock(&m_mutex);
        sweep(steadyNowNs() / 1'000'000, &out, all);
        return out;
    }

private:
    struct Bucket
    {
        qint64 windowStartMs;
        int written;
        qint64 suppressed;
        QtMsgType level; // the most severe suppressed level
    };

    void sweep(qint64 now, QList<Summary> *out, bool all)
    {
        for (auto it = m_buckets.begin(); it != m_buckets.end(); ++it) {
            Bucket &b = it.value();
            if (b.suppressed > 0 && (all || now - b.windowStartMs >= 1000)) {
                out->append({it.key(), b.level, b.suppressed});
                b.suppressed = 0;
            }
        }
    }

    QMutex m_mutex;
    QHash<QByteArray, Bucket> m_buckets;
    qint64 m_lastSweepMs = 0;
};

Throttle &throttle()
{
    static auto *t = new Throttle;
    return *t;
}

constexpr char kEventMarker[] = "\x1evigil-event\x1e";

QByteArray textValue(const QJsonValue &v)
{
    if (v.isString())
        return v.toString().toUtf8();
    if (v.isDouble()) {
        // Integers (ids, seeds up to 2^53) exactly, so a logged seed can replay a run.
        const double d = v.toDouble();
        if (d == std::floor(d) && std::fabs(d) <= 9007199254740992.0)
            return QByteArray::number(static_cast<qint64>(d));
        return QByteArray::number(d, 'g', 12);
    }
    if (v.isBool())
        return v.toBool() ? "true" : "false";
    return QJsonDocument(QJsonObject {{QStringLiteral("v"), v}}).toJson(QJsonDocument::Compact).mid(5).chopped(1);
}

void writeLine(QtMsgType level, const QString &event, const QJsonObject &fields)
{
    if (!enabled(level))
        return;
    const qint64 tsMs = wallNowMs();
    recentLines().append(tsMs, level, event, fields);
    const QString ts = isoUtc(tsMs, true);
    QJsonObject all = fields;
    all.insert(QStringLiteral("ts"), ts);
    all.insert(QStringLiteral("level"), QLatin1String(levelName(level)));
    all.insert(QStringLiteral("event"), event);
    const QByteArray json = QJsonDocument(all).toJson(QJsonDocument::Compact) + '\n';
    QByteArray text;
    if (static_cast<Format>(g_format.load()) == Format::Text) {
        text = ts.toUtf8() + ' ' + QByteArray(levelName(level)).leftJustified(7, ' ') + ' ' + event.toUtf8();
        for (auto it = fields.begin(); it != fields.end(); ++it)
            text += ' ' + it.key().toUtf8() + '=' + textValue(it.value());
        text += '\n';
    }
    const QByteArray &console = text.isEmpty() ? json : text;
    Output &out = output();
    QMutexLocker lock(&out.mutex);
    std::fwrite(console.constData(), 1, static_cast<size_t>(console.size()), stderr);
    std::fflush(stderr);
    if (out.file && !out.file->write(json) && !out.fileFailed) {
        out.fileFailed = true;
        std::fprintf(stderr, "vigil: cannot write the log file %s\n", qPrintable(out.file->path()));
    }
}

void handler(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    if (message.startsWith(QLatin1String(kEventMarker))) {
        const QByteArray payload = message.mid(static_cast<qsizetype>(sizeof(kEventMarker) - 1)).toUtf8();
        const QJsonObject obj = QJsonDocument::fromJson(payload).object();
        writeLine(type, obj.value(QStringLiteral("e")).toString(), obj.value(QStringLiteral("f")).toObject());
    } else {
        QList<Throttle::Summary> summaries;
        const bool admitted = !enabled(type) ? false : throttle().admit("qt", type, &summaries);
        for (const Throttle::Summary &s : summaries)
            writeLine(s.level, QStringLiteral("log_suppressed"),
                {{QStringLiteral("suppressed_event"), QString::fromUtf8(s.name)}, {QStringLiteral("count"), s.count}});
        if (admitted) {
            QJsonObject fields {{QStringLiteral("message"), message}};
            if (context.category && qstrcmp(context.category, "default") != 0)
                fields.insert(QStringLiteral("category"), QLatin1String(context.category));
            writeLine(type, QStringLiteral("qt"), fields);
        }
    }
    if (type == QtFatalMsg)
        std::abort();
}

void emitEvent(QtMsgType level, const char *name, const QJsonObject &fields)
{
    if (!g_installed) {
        // No handler of ours (tests, library use): plain readable text through Qt's own handler,
        // and the ring still gets the line.
        recentLines().append(wallNowMs(), level, QLatin1String(name), fields);
        QString text = QLatin1String(name);
        for (auto it = fields.begin(); it != fields.end(); ++it)
            text += QLatin1Char(' ') + it.key() + QLatin1Char('=') + QString::fromUtf8(textValue(it.value()));
        if (level == QtWarningMsg)
            qWarning().noquote() << text;
        else if (level == QtDebugMsg)
            qDebug().noquote() << text;
        else if (level == QtCriticalMsg || level == QtFatalMsg)
            qCritical().noquote() << text;
        else
            qInfo().noquote() << text;
        return;
    }
    // Route through Qt's logging so tests (QTest::ignoreMessage) and custom handlers see it too.
    const QJsonObject payload {{QStringLiteral("e"), QLatin1String(name)}, {QStringLiteral("f"), fields}};
    const QString text
        = QLatin1String(kEventMarker) + QString::fromUtf8(QJsonDocument(payload).toJson(QJsonDocument::Compact));
    switch (level) {
    case QtDebugMsg:
        qDebug().noquote() << text;
        break;
    case QtWarningMsg:
        qWarning().noquote() << text;
        break;
    case QtCriticalMsg:
    case QtFatalMsg:
        qCritical().noquote() << text;
        break;
    case QtInfoMsg:
        qInfo().noquote() << text;
        break;
    }
}

void emitSummary(const Throttle::Summary &s)
{
    emitEvent(s.level, "log_suppressed",
        {{QStringLiteral("suppressed_event"), QString::fromUtf8(s.name)}, {QStringLiteral("count"), s.count}});
}
} // namespace

bool install(const Options &options, QString *error)
{
    g_format = static_cast<int>(options.format);
    g_minimum = options.minimumLevel;
    bool ok = true;
    {
        Output &out = output();
        QMutexLocker lock(&out.mutex);
        out.file.reset();
        out.fileFailed = false;
        if (!options.filePath.isEmpty()) {
            auto file = std::make_unique<RotatingFile>(options.filePath, options.maxFileBytes, options.keepFiles);
            QString message;
            if (file->open(&message))
                out.file = std::move(file);
            else {
                ok = false;
                if (error)
                    *error = message;
            }
        }
    }
    g_installed = true;
    qInstallMessageHandler(handler);
    return ok;
}

void install(Format format, QtMsgType minimumLevel)
{
    Options options;
    options.format = format;
    options.minimumLevel = minimumLevel;
    install(options);
}

void shutdown()
{
    for (const Throttle::Summary &s : throttle().drain(true))
        emitSummary(s);
    Output &out = output();
    QMutexLocker lock(&out.mutex);
    out.file.reset();
}

void event(QtMsgType level, const char *name, const QJsonObject &fields)
{
    if (!enabled(level))
        return;
    QList<Throttle::Summary> summaries;
    const bool admitted = throttle().admit(name, level, &summaries);
    for (const Throttle::Summary &s : summaries)
        emitSummary(s);
    if (admitted)
        emitEvent(level, name, fields);
}

bool parseLevel(const QString &text, QtMsgType *level)
{
    const QString t = text.toLower();
    if (t == QLatin1String("debug"))
        *level = QtDebugMsg;
    else if (t == QLatin1String("info"))
        *level = QtInfoMsg;
    else if (t == QLatin1String("warning") || t == QLatin1String("warn"))
        *level = QtWarningMsg;
    else if (t == QLatin1String("error"))
        *level = QtCriticalMsg;
    else
        return false;
    return true;
}

const char *levelName(QtMsgType t)
{
    switch (t) {
    case QtDebugMsg:
        return "debug";
    case QtInfoMsg:
        return "info";
    case QtWarningMsg:
        return "warning";
    case QtCriticalMsg:
        return "error";
    case QtFatalMsg:
        return "fatal";
    }
    return "info";
}

int levelRank(QtMsgType t)
{
    switch (t) {
    case QtDebugMsg:
        return 0;
    case QtInfoMsg:
        return 1;
    case QtWarningMsg:
        return 2;
    case QtCriticalMsg:
        return 3;
    case QtFatalMsg:
        return 4;
    }
    return 1;
}

// ---- RotatingFile ----

RotatingFile::RotatingFile(const QString &path, qint64 maxBytes, int keep)
    : m_path(path)
    , m_maxBytes(std::max<qint64>(1, maxBytes))
    , m_keep(std::max(0, keep))
{ }

RotatingFile::~RotatingFile()
{
    close();
}

bool RotatingFile::open(QString *error)
{
    const QFileInfo info(m_path);
    if (!QDir().mkpath(info.absolutePath())) {
        *error = QStringLiteral("cannot create the log directory %1").arg(info.absolutePath());
        return false;
    }
    m_file.setFileName(m_path);
    // Unbuffered: one write(2) per line, appended atomically (O_APPEND), nothing held in memory.
    if (!m_file.open(QIODevice::WriteOnly | QIODevice::Append | QIODevice::Unbuffered)) {
        *error = QStringLiteral("cannot open the log file %1: %2").arg(m_path, m_file.errorString());
        return false;
    }
    m_size = m_file.size();
    return true;
}

void RotatingFile::close()
{
    if (m_file.isOpen())
        m_file.close();
}

bool RotatingFile::write(const QByteArray &line)
{
    if (!m_file.isOpen())
        return false;
    if (m_size > 0 && m_size + line.size() > m_maxBytes)
        rotate();
    const qint64 n = m_file.write(line);
    if (n > 0)
        m_size += n;
    return n == line.size();
}

bool RotatingFile::rotate()
{
    m_file.close();
    bool ok = true;
    if (m_keep == 0) {
        ok = QFile::remove(m_path);
    } else {
        const auto numbered = [this](int i) -> QString { return m_path + QLatin1Char('.') + QString::number(i); };
        QFile::remove(numbered(m_keep));
        for (int i = m_keep - 1; i >= 1; --i)
            if (QFile::exists(numbered(i)))
                QFile::rename(numbered(i), numbered(i + 1));
        ok = QFile::rename(m_path, numbered(1));
    }
    m_file.open(QIODevice::WriteOnly | QIODevice::Append | QIODevice::Unbuffered);
    // If the rename failed we keep appending to the same file and try again after another
    // maxBytes, rather than on every line.
    m_size = ok ? m_file.size() : 0;
    ++m_rotations;
    return ok;
}

// ---- LogRing ----

QJsonObject LogLine::toJson() const
{
    return {{QStringLiteral("seq"), seq}, {QStringLiteral("ts"), isoUtc(tsMs, true)},
        {QStringLiteral("level"), QLatin1String(levelName(level))}, {QStringLiteral("event"), event},
        {QStringLiteral("fields"), fields}};
}

LogRing::LogRing(int capacity)
    : m_capacity(std::max(1, capacity))
{
    m_lines.reserve(size_t(m_capacity));
}

void LogRing::append(qint64 tsMs, QtMsgType level, const QString &event, const QJsonObject &fields)
{
    QMutexLocker lock(&m_mutex);
    LogLine line {++m_seq, tsMs, level, event, fields};
    if (m_lines.size() < size_t(m_capacity)) {
        m_lines.push_back(std::move(line));
    } else {
        m_lines[m_next] = std::move(line);
        m_next = (m_next + 1) % m_lines.size();
    }
}

LogRing::Page LogRing::lines(QtMsgType minimum, int limit, qint64 afterSeq, const QString &event) const
{
    Page page;
    QMutexLocker lock(&m_mutex);
    page.lastSeq = m_seq;
    const size_t n = m_lines.size();
    const size_t oldest = n < size_t(m_capacity) ? 0 : m_next;
    const int minRank = levelRank(minimum);
    // Newest first until `limit` matches, then reversed: the newest lines win when limited.
    for (size_t k = 0; k < n; ++k) {
        const LogLine &line = m_lines[(oldest + n - 1 - k) % n];
        if (line.seq <= afterSeq)
            break;
        if (levelRank(line.level) < minRank || (!event.isEmpty() && line.event != event))
            continue;
        if (page.lines.size() == limit) {
            page.truncated = true;
            break;
        }
        page.lines.append(line);
    }
    std::reverse(page.lines.begin(), page.lines.end());
    return page;
}

qint64 LogRing::lastSeq() const
{
    QMutexLocker lock(&m_mutex);
    return m_seq;
}

LogRing &recentLines()
{
    static auto *ring = new LogRing(kRingCapacity);
    return *ring;
}

} // namespace vigil::logging
