// Hostile requests (issue 4, "Proof"): a table of raw HTTP requests no well-behaved client sends — malformed JSON of
// many kinds, huge bodies, deep nesting, NaN/Infinity, wrong types, unicode edge cases, header abuse, path tricks,
// wrong content types and methods — each with the status and error code the server must answer (docs/API.md).
// Every row goes over its own raw connection to one real Backend; afterwards the server must still be healthy, no
// request may have been answered 500, and the database must hold exactly the events answered 202, each with its
// task.
#include "backend.h"
#include "config.h"
#include "hostile_rows.h"
#include "support/rawhttp.h"

#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtTest>

#include <memory>

using namespace vigil;
using namespace vigil::testsupport;

namespace {

constexpr int kWait = 30'000;
constexpr qsizetype kMiB = 1024 * 1024;

} // namespace

class TestHostile final : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::unique_ptr<Backend> m_backend;
    int m_accepted = 0; // answers 202 seen
    int m_rows = 0;

private slots:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QVERIFY(m_dir.isValid());
        ServerConfig c;
        c.port = 0;
        c.databasePath = m_dir.filePath(QStringLiteral("hostile.db"));
        c.workers = 1;
        c.httpThreads = 2;
        c.faultInjection = true;
        c.remediator.latencyMs = 1;
        c.remediator.failureRate = 0;
        // Over a hundred requests in a few seconds from one address: rate limits are tst_limits' subject, not this
        // table's, and a 429 would stand in for the answer a row expects.
        c.limits.ingest = {0, 0};
        c.limits.query = {0, 0};
        c.limits.control = {0, 0};
        QCOMPARE(c.maxBodyBytes, qint64(kMiB)); // the documented default the 413 rows rely on
        m_backend = std::make_unique<Backend>(c);
        QString error;
        QVERIFY2(m_backend->start(&error), qPrintable(error));
    }

    void cleanupTestCase() { m_backend.reset(); }

    void hostile_data() { addHostileRows(); }

    void hostile()
    {
        QFETCH(QByteArray, request);
        QFETCH(int, status);
        QFETCH(QString, code);
        ++m_rows;
        RawClient client(m_backend->port());
        QVERIFY(client.waitConnected(kWait));
        client.send(request);
        QTRY_VERIFY_WITH_TIMEOUT(client.finalCount() >= 1 || client.closed(), kWait);
        const Parsed parsed = client.parsed();
        QVERIFY2(parsed.error.isEmpty(), qPrintable(parsed.error));
        const QList<RawResponse> finals = parsed.finals();
        QVERIFY2(!finals.isEmpty(),
            qPrintable(
                QStringLiteral("no answer; received: %1").arg(QString::fromLatin1(client.received().left(200)))));
        const RawResponse &r = finals.first();
        if (r.status == 202)
            ++m_accepted;
        QVERIFY2(r.status == status,
            qPrintable(QStringLiteral("answered %1, expected %2: %3")
                           .arg(r.status)
                           .arg(status)
                           .arg(QString::fromUtf8(r.body.left(300)))));
        if (!code.isEmpty()) {
            QCOMPARE(r.header("content-type"), QByteArray("application/json"));
            QCOMPARE(r.json().value(QStringLiteral("ok")), QJsonValue(false));
            QCOMPARE(r.errorCode(), code);
        }
        if (status == 405)
            QVERIFY(!r.header("allow").isEmpty());
    }

    // After every row: still healthy, never a 500, and the database holds exactly what was acknowledged.
    void healthyAndConsistentAfterwards()
    {
        QVERIFY2(m_rows >= 60, "the hostile table must have run first");
        RawClient health(m_backend->port());
        QVERIFY(health.waitConnected(kWait));
        health.send(rawGet("/healthz") + rawGet("/readyz") + rawGet("/metrics"));
        QTRY_VERIFY_WITH_TIMEOUT(health.finalCount() >= 3, kWait);
        const QList<RawResponse> answers = health.parsed().finals();
        QCOMPARE(answers.at(0).status, 200);
        QCOMPARE(answers.at(1).status, 200);
        QCOMPARE(answers.at(2).status, 200);
        QVERIFY2(!answers.at(2).body.contains("code=\"500\""), "some request was answered 500");

        const QString db = m_backend->databasePath();
        QCOMPARE(sqliteScalar(db, QStringLiteral("SELECT COUNT(*) FROM events")), qint64(m_accepted));
        QCOMPARE(sqliteScalar(db,
                     QStringLiteral("SELECT COUNT(*) FROM events e WHERE NOT EXISTS "
                                    "(SELECT 1 FROM tasks t WHERE t.kind = 'event' AND t.ref_id = e.id)")),
            qint64(0));
        QCOMPARE(sqliteScalar(db,
                     QStringLiteral("SELECT COUNT(*) FROM tasks t WHERE t.kind = 'event' AND NOT EXISTS "
                                    "(SELECT 1 FROM events e WHERE e.id = t.ref_id)")),
            qint64(0));
        // The workers finish what was accepted.
        QTRY_COMPARE_WITH_TIMEOUT(
            sqliteScalar(db, QStringLiteral("SELECT COUNT(*) FROM tasks WHERE status NOT IN ('done', 'dead')")),
            qint64(0), kWait);
    }
};

QTEST_GUILESS_MAIN(TestHostile)
#include "tst_hostile.moc"
