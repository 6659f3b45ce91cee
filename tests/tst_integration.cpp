// The main path end to end: real backend on port 0 with a temporary SQLite file, the simulator
// sending real HTTP to it, and the database checked against what the simulator was told.
#include "backend.h"
#include "metrics.h"
#include "sim/simulator.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QSqlQuery>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtTest>

using namespace vigil;

class TestIntegration : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::unique_ptr<Backend> m_backend;
    QNetworkAccessManager m_nam;

    QJsonObject call(
        const QByteArray &verb, const QString &pathAndQuery, int *status = nullptr, Backend *backend = nullptr)
    {
        QNetworkRequest req(QUrl((backend ? backend : m_backend.get())->baseUrl().toString() + pathAndQuery));
        req.setTransferTimeout(30000);
        QNetworkReply *reply = m_nam.sendCustomRequest(req, verb);
        QSignalSpy done(reply, &QNetworkReply::finished);
        if (!reply->isFinished())
            done.wait(30000);
        if (status)
            *status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        const QJsonObject body = QJsonDocument::fromJson(reply->readAll()).object();
        reply->deleteLater();
        return body;
    }
    QJsonObject status() { return call("GET", QStringLiteral("/api/v1/ui/simulator/status")); }
    QJsonObject metricsOf(const QJsonObject &s)
    {
        return s[QStringLiteral("simulator")][QStringLiteral("metrics")].toObject();
    }
    qint64 m(const QJsonObject &s, const char *key) { return metricsOf(s)[QLatin1String(key)].toInteger(); }

    qint64 scalar(const QString &sql)
    {
        // A second connection while the server runs: WAL readers never block the writer.
        const QString name = QStringLiteral("probe");
        qint64 v = -1;
        {
            QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
            db.setDatabaseName(m_backend->databasePath());
            db.open();
            QSqlQuery q(db);
            if (!q.exec(sql) || !q.next())
                qWarning() << "query failed" << sql;
            else
                v = q.value(0).toLongLong();
        }
        QSqlDatabase::removeDatabase(name);
        return v;
    }

    // Waits until the run has ended and nothing is in flight.
    QJsonObject waitForRunEnd(int timeoutMs)
    {
        QJsonObject s;
        QDeadlineTimer deadline(timeoutMs);
        do {
            s = status();
            const QJsonObject sim = s[QStringLiteral("simulator")].toObject();
            if (!sim[QStringLiteral("running")].toBool() && m(s, "events_in_flight") == 0)
                return s;
            QTest::qWait(200);
        } while (!deadline.hasExpired());
        return s;
    }

    bool waitForDrainedQueue(int timeoutMs, Backend *backend = nullptr)
    {
        QDeadlineTimer deadline(timeoutMs);
        do {
            const QJsonObject q
                = call("GET", QStringLiteral("/api/v1/queue"), nullptr, backend)[QStringLiteral("queue")].toObject();
            if (q[QStringLiteral("depth")].toInteger() == 0 && q[QStringLiteral("scheduled")].toInteger() == 0)
                return true;
            QTest::qWait(200);
        } while (!deadline.hasExpired());
        return false;
    }

private slots:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QVERIFY(m_dir.isValid());
        ServerConfig config;
        config.port = 0;
        config.databasePath = m_dir.filePath(QStringLiteral("vigil.db"));
        config.retry.baseSeconds = 0.05; // keep action retries short so the queue drains quickly
        config.retry.capSeconds = 0.2;
        config.remediator.latencyMs = 5;
        config.remediator.failureRate = 0.2;
        // The runs below send 50-100 events/s from one address, above the default ingest limit;
        // rate limiting has its own test (tst_limits), these are about the pipeline.
        config.limits.ingest = {0, 0};
        m_backend = std::make_unique<Backend>(config);
        QString error;
        QVERIFY2(m_backend->start(&error), qPrintable(error));
        QVERIFY(m_backend->port() > 0);
    }

    void statusHasEveryOriginalKey()
    {
        const QJsonObject s = status();
        QCOMPARE(s[QStringLiteral("ok")].toBool(), true);
        QVERIFY(s[QStringLiteral("timestamp")].toString().endsWith(QLatin1Char('Z')));
        const QJsonObject sim = s[QStringLiteral("simulator")].toObject();
        for (const char *key : {"running", "started_at", "runtime_seconds", "configuration", "metrics"})
            QVERIFY2(sim.contains(QLatin1String(key)), key);
        QVERIFY(sim[QStringLiteral("running")].isBool());
        QVERIFY(sim[QStringLiteral("started_at")].isNull()); // never ran
        const QJsonObject conf = sim[QStringLiteral("configuration")].toObject();
        for (const char *key :
            {"target_rate", "mode", "failure_rate", "timeout_rate", "malformed_rate", "seed", "target"})
            QVERIFY2(conf.contains(QLatin1String(key)), key);
        const QJsonObject met = sim[QStringLiteral("metrics")].toObject();
        for (const char *key :
            {"events_generated", "events_succeeded", "events_failed", "events_rate_limited", "events_timeout",
                "events_malformed", "actual_rate", "events_dropped", "events_in_flight", "events_retried",
                "average_rate", "current_target_rate", "success_rate", "latency_ms", "faults_honoured"})
            QVERIFY2(met.contains(QLatin1String(key)), key);
        for (const char *key : {"p50", "p95", "p99"})
            QVERIFY(met[QStringLiteral("latency_ms")].toObject().contains(QLatin1String(key)));
    }

    void steadyRunIsStoredExactlyOnceAndProcessed()
    {
        int code = 0;
        const QJsonObject started = call(
            "POST", QStringLiteral("/api/v1/ui/simulator/start?rate=6000&mode=steady&duration=6&seed=42"), &code);
        QCOMPARE(code, 200);
        QVERIFY(started[QStringLiteral("simulator")][QStringLiteral("running")].toBool());
        const QString runId = started[QStringLiteral("simulator")][QStringLiteral("run_id")].toString();
        QVERIFY(!runId.isEmpty());
        const QJsonObject s = waitForRunEnd(60000);
        QVERIFY2(!s[QStringLiteral("simulator")][QStringLiteral("running")].toBool(), "run did not end");

        const qint64 generated = m(s, "events_generated");
        const qint64 succeeded = m(s, "events_succeeded");
        const qint64 failed = m(s, "events_failed");
        const qint64 dropped = m(s, "events_dropped");
        QCOMPARE(m(s, "events_in_flight"), 0);
        // The original's arithmetic: every generated event has exactly one outcome.
        QCOMPARE(generated, succeeded + failed + dropped);
        // 100 events/s for 6 s (open model: the schedule decides, not the replies).
        QVERIFY2(generated >= 590 && generated <= 601, qPrintable(QString::number(generated)));
        QCOMPARE(failed, 0);
        QVERIFY2(dropped <= generated / 100, qPrintable(QString::number(dropped)));
        QCOMPARE(m(s, "events_malformed"), 0);

        // Every 202 is in the database exactly once.
        const QString like = QStringLiteral("'sim-%1-%'").arg(runId);
        const qint64 stored = scalar(QStringLiteral("SELECT count(*) FROM events WHERE idempotency_key LIKE ") + like);
        const qint64 distinct = scalar(
            QStringLiteral("SELECT count(DISTINCT idempotency_key) FROM events WHERE idempotency_key LIKE ") + like);
        QCOMPARE(stored, succeeded);
        QCOMPARE(distinct, stored);
        QCOMPARE(qint64(m_backend->metrics().counterTotal("ingest_total")), stored);

        // ... and processed: every event task done, every action finished (retries included).
        QVERIFY(waitForDrainedQueue(60000));
        QCOMPARE(
            scalar(QStringLiteral("SELECT count(*) FROM tasks t JOIN events e ON e.id = t.ref_id AND t.kind = 'event' "
                                  "WHERE t.status = 'done' AND e.idempotency_key LIKE ")
                + like),
            stored);
        const qint64 actions = scalar(QStringLiteral("SELECT count(*) FROM actions"));
        QVERIFY2(actions > 0, "the simulator's values breach the default policies now and then");
        QCOMPARE(scalar(QStringLiteral("SELECT count(*) FROM actions WHERE status NOT IN ('succeeded', 'dead')")), 0);
        QCOMPARE(scalar(QStringLiteral("SELECT count(*) FROM audit_log WHERE kind = 'action_triggered'")), actions);
        QCOMPARE(qint64(m_backend->metrics().counterTotal("actions_total")), actions);
        QVERIFY(scalar(QStringLiteral("SELECT count(*) FROM action_attempts WHERE outcome = 'failure'")) > 0);
        // The operator call that started the run is in the audit trail, with who called and from where.
        QCOMPARE(scalar(QStringLiteral("SELECT count(*) FROM audit_log WHERE kind = 'simulator_started' AND subject = "
                                       "'simulator' AND actor = 'anonymous@127.0.0.1' AND details LIKE '%")
                     + runId + QStringLiteral("%'")),
            1);
    }

    void chaosRunShowsRetriesAndRejectsMalformed()
    {
        const quint64 rejectedBefore = m_backend->metrics().counterTotal("ingest_rejected_total");
        int code = 0;
        const QJsonObject started = call("POST",
            QStringLiteral("/api/v1/ui/simulator/start?rate=3000&mode=chaos&duration=6&seed=7&client_timeout_ms=1000"
                           "&failure_rate=0.1&timeout_rate=0.05&malformed_rate=0.05"),
            &code);
        QCOMPARE(code, 200);
        const QString runId = started[QStringLiteral("simulator")][QStringLiteral("run_id")].toString();
        const QJsonObject s = waitForRunEnd(90000);
        QVERIFY(!s[QStringLiteral("simulator")][QStringLiteral("running")].toBool());
        const qint64 generated = m(s, "events_generated");
        QVERIFY(generated > 50);
        QCOMPARE(generated, m(s, "events_succeeded") + m(s, "events_failed") + m(s, "events_dropped"));
        QVERIFY2(m(s, "events_retried") > 0, "injected errors and timeouts must be retried");
        QVERIFY(m(s, "events_malformed") > 0);
        QVERIFY(m(s, "events_timeout") > 0);
        QVERIFY(metricsOf(s)[QStringLiteral("faults_honoured")].toBool());
        // Server side too: injected faults and malformed bodies were refused by the server.
        QVERIFY(m_backend->metrics().counterTotal("ingest_rejected_total") > rejectedBefore);
        QVERIFY(m_backend->metrics().counter("ingest_rejected_total", "", {{"reason", "injected_fault"}}).value() > 0);
        // Retries after timeouts reused their idempotency key: no event stored twice.
        const QString like = QStringLiteral("'sim-%1-%'").arg(runId);
        QCOMPARE(scalar(QStringLiteral("SELECT count(*) FROM events WHERE idempotency_key LIKE ") + like),
            scalar(QStringLiteral("SELECT count(DISTINCT idempotency_key) FROM events WHERE idempotency_key LIKE ")
                + like));
        // Each valid event that succeeded is stored (malformed ones succeeded by being refused).
        QCOMPARE(scalar(QStringLiteral("SELECT count(*) FROM events WHERE idempotency_key LIKE ") + like),
            m(s, "events_succeeded") - m(s, "events_malformed"));
    }

    void badSimulatorParametersAreRefusedByName()
    {
        int code = 0;
        const QJsonObject err = call("POST", QStringLiteral("/api/v1/ui/simulator/start?rate=0"), &code);
        QCOMPARE(code, 400);
        QCOMPARE(err[QStringLiteral("error")][QStringLiteral("field")].toString(), QStringLiteral("rate"));
        call("POST", QStringLiteral("/api/v1/ui/simulator/start?mode=sideways"), &code);
        QCOMPARE(code, 400);
    }

    void timeseriesServesSamples()
    {
        QTRY_VERIFY_WITH_TIMEOUT(
            !call("GET", QStringLiteral("/api/v1/stats/timeseries?window=60"))[QStringLiteral("samples")]
                 .toArray()
                 .isEmpty(),
            10000);
        const QJsonArray samples
            = call("GET", QStringLiteral("/api/v1/stats/timeseries?window=60"))[QStringLiteral("samples")].toArray();
        double maxIngest = 0;
        for (const auto &v : samples)
            maxIngest = std::max(maxIngest, v[QStringLiteral("ingest_per_s")].toDouble());
        QVERIFY2(maxIngest > 10, "the runs above must show in the 1 Hz samples");
        int code = 0;
        call("GET", QStringLiteral("/api/v1/stats/timeseries?window=abc"), &code);
        QCOMPARE(code, 400);
    }

    void shutdownUnderLoadLosesNothing()
    {
        // A second server on its own file, stopped while the simulator is sending 500 events/s.
        ServerConfig config;
        config.port = 0;
        config.databasePath = m_dir.filePath(QStringLiteral("shutdown.db"));
        config.remediator.latencyMs = 200; // keep actions in flight at the moment of the stop
        config.limits.ingest = {0, 0}; // 500 events/s: far above the default limit, not what this test is about
        auto backend = std::make_unique<Backend>(config);
        QString error;
        QVERIFY2(backend->start(&error), qPrintable(error));
        SimConfig sim;
        sim.ratePerMin = 30000;
        bool started = false;
        QString runId;
        backend->simulator().requestStart(sim, [&](const QJsonObject &st) {
            runId = st[QStringLiteral("simulator")][QStringLiteral("run_id")].toString();
            started = true;
        });
        QTRY_VERIFY_WITH_TIMEOUT(started, 10000);
        QTRY_VERIFY_WITH_TIMEOUT(
            metricsOf(backend->simulator().status())[QStringLiteral("events_succeeded")].toInteger() > 300, 30000);
        backend->stop();
        const QJsonObject st = backend->simulator().status();
        const qint64 succeeded = metricsOf(st)[QStringLiteral("events_succeeded")].toInteger();
        const qint64 failed = metricsOf(st)[QStringLiteral("events_failed")].toInteger();
        QCOMPARE(metricsOf(st)[QStringLiteral("events_in_flight")].toInteger(), 0);
        backend.reset();

        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), QStringLiteral("shutdown"));
        db.setDatabaseName(config.databasePath);
        QVERIFY(db.open());
        auto count = [&db](const QString &sql) {
            QSqlQuery q(db);
            return q.exec(sql) && q.next() ? q.value(0).toLongLong() : -1;
        };
        const QString like = QStringLiteral("'sim-%1-%'").arg(runId);
        const qint64 stored = count(QStringLiteral("SELECT count(*) FROM events WHERE idempotency_key LIKE ") + like);
        // Every answer the client saw as 202 is stored; requests cut off by the stop may be stored
        // too (committed, answer lost on the wire) — never more than that, never twice.
        QVERIFY2(
            stored >= succeeded, qPrintable(QStringLiteral("stored %1 < acknowledged %2").arg(stored).arg(succeeded)));
        QVERIFY(stored <= succeeded + failed);
        QCOMPARE(count(QStringLiteral("SELECT count(DISTINCT idempotency_key) FROM events WHERE idempotency_key LIKE ")
                     + like),
            stored);
        QCOMPARE(
            count(QStringLiteral("SELECT count(*) FROM tasks WHERE status = 'leased'")), 0); // finished or released
        db.close();
        db = QSqlDatabase();
        QSqlDatabase::removeDatabase(QStringLiteral("shutdown"));

        // Restarted on the same file, the server processes whatever was left.
        config.remediator.latencyMs = 1;
        backend = std::make_unique<Backend>(config);
        QVERIFY2(backend->start(&error), qPrintable(error));
        QVERIFY(waitForDrainedQueue(60000, backend.get()));
        backend->stop();
    }

    void cleanupTestCase()
    {
        m_backend->stop();
        // Clean shutdown: no lease left behind, nothing accepted lost.
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), QStringLiteral("after"));
        db.setDatabaseName(m_dir.filePath(QStringLiteral("vigil.db")));
        QVERIFY(db.open());
        QSqlQuery q(db);
        QVERIFY(q.exec(QStringLiteral("SELECT count(*) FROM tasks WHERE status = 'leased'")) && q.next());
        QCOMPARE(q.value(0).toInt(), 0);
        q.finish();
        db.close();
        db = QSqlDatabase();
        QSqlDatabase::removeDatabase(QStringLiteral("after"));
        m_backend.reset();
    }
};

QTEST_GUILESS_MAIN(TestIntegration)
#include "tst_integration.moc"
