// The logger: size-rotated JSON log file, the in-memory ring behind GET /api/v1/logs, and the
// per-event rate cap that keeps a storm of one event from costing more than a counter.
#include "logger.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

using namespace vigil;
using namespace vigil::logging;

namespace {
QList<QByteArray> linesOf(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    QList<QByteArray> lines = f.readAll().split('\n');
    if (!lines.isEmpty() && lines.constLast().isEmpty())
        lines.removeLast();
    return lines;
}

QByteArray jsonLine(int n)
{
    return QJsonDocument(QJsonObject {{QStringLiteral("event"), QStringLiteral("line")}, {QStringLiteral("n"), n}})
               .toJson(QJsonDocument::Compact)
        + '\n';
}
} // namespace

class TestLogger : public QObject
{
    Q_OBJECT

    QTemporaryDir m_dir;

private slots:
    void initTestCase() { QVERIFY(m_dir.isValid()); }

    void rotatesBySizeAndKeepsN()
    {
        const QString path = m_dir.filePath(QStringLiteral("rot/logs/vigil.log")); // directories created
        constexpr qint64 maxBytes = 1000;
        RotatingFile file(path, maxBytes, 3);
        QString error;
        QVERIFY2(file.open(&error), qPrintable(error));
        const int total = 400; // ~24 bytes each: about ten rotations
        for (int i = 0; i < total; ++i)
            QVERIFY(file.write(jsonLine(i)));
        file.close();
        QVERIFY(file.rotations() >= 8);

        // The current file and exactly three rotated ones; nothing beyond .3.
        QVERIFY(QFile::exists(path));
        for (int i = 1; i <= 3; ++i)
            QVERIFY2(QFile::exists(path + QLatin1Char('.') + QString::number(i)), qPrintable(QString::number(i)));
        QVERIFY(!QFile::exists(path + QStringLiteral(".4")));

        // Every file stays within the limit, holds whole JSON lines, and together they are the
        // newest lines in order: .3 (oldest) … .1, then the current file.
        QList<int> numbers;
        const QStringList files {
            path + QStringLiteral(".3"), path + QStringLiteral(".2"), path + QStringLiteral(".1"), path};
        for (const QString &name : files) {
            QVERIFY2(QFileInfo(name).size() <= maxBytes, qPrintable(name));
            for (const QByteArray &line : linesOf(name)) {
                QJsonParseError e;
                const QJsonObject o = QJsonDocument::fromJson(line, &e).object();
                QVERIFY2(e.error == QJsonParseError::NoError, line.constData());
                numbers.append(o.value(QStringLiteral("n")).toInt());
            }
        }
        QVERIFY(!numbers.isEmpty());
        QCOMPARE(numbers.constLast(), total - 1);
        for (qsizetype i = 1; i < numbers.size(); ++i)
            QCOMPARE(numbers.at(i), numbers.at(i - 1) + 1); // no line lost or repeated within what is kept
        QVERIFY(numbers.size() > 3 * (maxBytes / 26)); // three full rotated files plus the current one
    }

    void reopenAppendsAndRotatesLater()
    {
        const QString path = m_dir.filePath(QStringLiteral("append.log"));
        {
            RotatingFile file(path, 100, 2);
            QString error;
            QVERIFY(file.open(&error));
            QVERIFY(file.write(QByteArray(60, 'a') + '\n'));
        }
        RotatingFile file(path, 100, 2);
        QString error;
        QVERIFY(file.open(&error));
        QCOMPARE(file.size(), 61); // a restart continues the same file
        QVERIFY(file.write(QByteArray(60, 'b') + '\n')); // 122 > 100: rotates first
        QCOMPARE(file.rotations(), 1);
        QCOMPARE(linesOf(path + QStringLiteral(".1")), QList<QByteArray> {QByteArray(60, 'a')});
        QCOMPARE(linesOf(path), QList<QByteArray> {QByteArray(60, 'b')});
    }

    void keepZeroTruncates()
    {
        const QString path = m_dir.filePath(QStringLiteral("zero.log"));
        RotatingFile file(path, 50, 0);
        QString error;
        QVERIFY(file.open(&error));
        for (int i = 0; i < 10; ++i)
            QVERIFY(file.write(QByteArray(20, 'x') + '\n'));
        QVERIFY(!QFile::exists(path + QStringLiteral(".1")));
        QVERIFY(QFileInfo(path).size() <= 50);
    }

    void unwritableDirectoryIsReported()
    {
        QFile blocker(m_dir.filePath(QStringLiteral("not-a-dir")));
        QVERIFY(blocker.open(QIODevice::WriteOnly));
        blocker.close();
        RotatingFile file(m_dir.filePath(QStringLiteral("not-a-dir/logs/vigil.log")), 1000, 5);
        QString error;
        QVERIFY(!file.open(&error));
        QVERIFY(error.contains(QStringLiteral("not-a-dir")));
    }

    void ringKeepsNewestAndFilters()
    {
        LogRing ring(5);
        for (int i = 1; i <= 8; ++i)
            ring.append(1000 + i, i % 3 == 0 ? QtWarningMsg : QtInfoMsg, QStringLiteral("e%1").arg(i),
                {{QStringLiteral("i"), i}});
        QCOMPARE(ring.lastSeq(), 8);
        LogRing::Page all = ring.lines(QtDebugMsg, 100);
        QCOMPARE(all.lines.size(), 5); // capacity
        QCOMPARE(all.lines.first().seq, 4);
        QCOMPARE(all.lines.last().seq, 8);
        QCOMPARE(all.lastSeq, 8);
        QVERIFY(!all.truncated);

        const LogRing::Page warnings = ring.lines(QtWarningMsg, 100);
        QCOMPARE(warnings.lines.size(), 1); // e6 (e3 fell out of the ring)
        QCOMPARE(warnings.lines.first().event, QStringLiteral("e6"));

        const LogRing::Page after = ring.lines(QtDebugMsg, 100, 6);
        QCOMPARE(after.lines.size(), 2);
        QCOMPARE(after.lines.first().seq, 7);

        const LogRing::Page limited = ring.lines(QtDebugMsg, 2);
        QCOMPARE(limited.lines.size(), 2);
        QCOMPARE(limited.lines.first().seq, 7); // the newest two, oldest first
        QVERIFY(limited.truncated);

        const LogRing::Page byEvent = ring.lines(QtDebugMsg, 100, 0, QStringLiteral("e5"));
        QCOMPARE(byEvent.lines.size(), 1);

        const QJsonObject json = all.lines.last().toJson();
        QCOMPARE(json.value(QStringLiteral("level")).toString(), QStringLiteral("info"));
        QCOMPARE(json.value(QStringLiteral("event")).toString(), QStringLiteral("e8"));
        QCOMPARE(json.value(QStringLiteral("fields")).toObject().value(QStringLiteral("i")).toInt(), 8);
        QVERIFY(json.value(QStringLiteral("ts")).toString().endsWith(QLatin1Char('Z')));
    }

    void levelsParseAndRank()
    {
        QtMsgType t = QtInfoMsg;
        QVERIFY(parseLevel(QStringLiteral("WARN"), &t));
        QCOMPARE(t, QtWarningMsg);
        QVERIFY(parseLevel(QStringLiteral("error"), &t));
        QCOMPARE(t, QtCriticalMsg);
        QVERIFY(!parseLevel(QStringLiteral("loud"), &t));
        QVERIFY(levelRank(QtDebugMsg) < levelRank(QtInfoMsg));
        QVERIFY(levelRank(QtInfoMsg) < levelRank(QtWarningMsg));
        QVERIFY(levelRank(QtWarningMsg) < levelRank(QtCriticalMsg));
        QCOMPARE(QByteArray(levelName(QtCriticalMsg)), QByteArray("error"));
    }

    // The last test: it installs the process-wide handler (text on stderr, JSON in the file).
    void installedLoggerWritesJsonFileAndCapsStorms()
    {
        const QString path = m_dir.filePath(QStringLiteral("installed/vigil.log"));
        Options options;
        options.format = Format::Text;
        options.minimumLevel = QtDebugMsg;
        options.filePath = path;
        options.maxFileBytes = 1 << 20;
        QString error;
        QVERIFY2(install(options, &error), qPrintable(error));

        info("test_started", {{QStringLiteral("answer"), 42}, {QStringLiteral("who"), QStringLiteral("tst")}});
        debug("test_debug", {});
        qWarning("plain Qt warning");

        // A storm of one event: 20,000 calls cost little and write at most the cap per second.
        QElapsedTimer timer;
        timer.start();
        constexpr int storm = 20000;
        for (int i = 0; i < storm; ++i)
            warning("storm_event", {{QStringLiteral("i"), i}});
        const qint64 stormMs = timer.elapsed();
        shutdown(); // reports what was suppressed and closes the file

        int stormLines = 0;
        qint64 suppressed = 0;
        bool sawStart = false, sawDebug = false, sawQt = false;
        for (const QByteArray &line : linesOf(path)) {
            QJsonParseError e;
            const QJsonObject o = QJsonDocument::fromJson(line, &e).object();
            QVERIFY2(e.error == QJsonParseError::NoError, line.constData()); // JSON even with --log-format text
            QVERIFY(o.contains(QStringLiteral("ts")) && o.contains(QStringLiteral("level"))
                && o.contains(QStringLiteral("event")));
            const QString event = o.value(QStringLiteral("event")).toString();
            if (event == QLatin1String("test_started")) {
                sawStart = true;
                QCOMPARE(o.value(QStringLiteral("answer")).toInt(), 42);
                QCOMPARE(o.value(QStringLiteral("level")).toString(), QStringLiteral("info"));
            }
            sawDebug |= event == QLatin1String("test_debug");
            sawQt |= event == QLatin1String("qt")
                && o.value(QStringLiteral("message")).toString() == QLatin1String("plain Qt warning");
            if (event == QLatin1String("storm_event"))
                ++stormLines;
            if (event == QLatin1String("log_suppressed")
                && o.value(QStringLiteral("suppressed_event")).toString() == QLatin1String("storm_event")) {
                suppressed += o.value(QStringLiteral("count")).toInteger();
                QCOMPARE(o.value(QStringLiteral("level")).toString(), QStringLiteral("warning"));
            }
        }
        QVERIFY(sawStart);
        QVERIFY(sawDebug);
        QVERIFY(sawQt);
        const qint64 windows = stormMs / 1000 + 2;
        QVERIFY2(stormLines <= windows * kMaxLinesPerEventPerSecond,
            qPrintable(QStringLiteral("%1 lines in %2 ms").arg(stormLines).arg(stormMs)));
        QCOMPARE(stormLines + suppressed, qint64(storm)); // every call is either written or counted
        qInfo("storm of %d events: %d written, %lld counted, %lld ms", storm, stormLines, suppressed, stormMs);

        // The ring has what was written, newest last.
        const LogRing::Page page = recentLines().lines(QtWarningMsg, 10, 0, QStringLiteral("log_suppressed"));
        QVERIFY(!page.lines.isEmpty());
        qInstallMessageHandler(nullptr);
    }
};

QTEST_GUILESS_MAIN(TestLogger)
#include "tst_logger.moc"
