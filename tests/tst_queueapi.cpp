// Queue control over real HTTP against a real backend on port 0 and a temporary SQLite file (or, as
// tst_queueapi_pg, a fresh PostgreSQL database: see testdb.h):
// batch ingest (per-item results, limits, duplicates), dead letters (list, retry, discard,
// retry-all, purge; 404/409), pause/resume (visible in /api/v1/queue and /metrics), workers,
// and the audit entries every mutation writes.
#include "backend.h"
#include "metrics.h"
#include "testdb.h"

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

class TestQueueApi : public QObject
{
    Q_OBJECT

private:
    vigil::testing::TestDatabases m_dbs;
    QString m_location; // the database the backend runs on (a PostgreSQL URL with its password)
    std::unique_ptr<Backend> m_backend;
    QNetworkAccessManager m_nam;

    struct Answer
    {
        int status = 0;
        QJsonObject body;
        QByteArray raw;
    };

    Answer call(const QByteArray &verb, const QString &path, const QByteArray &body = {})
    {
        QNetworkRequest req(QUrl(m_backend->baseUrl().toString() + path));
        req.setTransferTimeout(30000);
        if (!body.isNull())
            req.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
        QNetworkReply *reply = m_nam.sendCustomRequest(req, verb, body);
        QSignalSpy done(reply, &QNetworkReply::finished);
        if (!reply->isFinished())
            done.wait(30000);
        Answer a;
        a.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        a.raw = reply->readAll();
        a.body = QJsonDocument::fromJson(a.raw).object();
        reply->deleteLater();
        return a;
    }
    QJsonObject queue()
    {
        return call("GET", QStringLiteral("/api/v1/queue")).body[QStringLiteral("queue")].toObject();
    }

    qint64 scalar(const QString &sql) { return vigil::testing::TestDatabases::scalar(m_location, sql); }

    static QByteArray batchOf(const QJsonArray &events)
    {
        return QJsonDocument(QJsonObject {{QStringLiteral("events"), events}}).toJson(QJsonDocument::Compact);
    }
    static QJsonObject ev(const QString &metric, double value, const QString &key = {})
    {
        QJsonObject o {{QStringLiteral("metric_name"), metric}, {QStringLiteral("value"), value},
            {QStringLiteral("source"), QStringLiteral("api-test")}};
        if (!key.isEmpty())
            o.insert(QStringLiteral("idempotency_key"), key);
        return o;
    }

private slots:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        if (const QString why = m_dbs.unavailable(); !why.isEmpty())
            QSKIP(qPrintable(why));
        ServerConfig config;
        config.port = 0;
        m_location = m_dbs.fresh(QStringLiteral("vigil"));
        config.databasePath = m_location;
        config.remediator.latencyMs = 1;
        config.remediator.failureRate = 1.0; // every remediation fails: actions dead-letter at once
        config.retry.maxAttempts = 1;
        // Dozens of control calls within a second or two: the per-address limits are tst_limits' subject.
        config.limits.control = {0, 0};
        config.limits.ingest = {0, 0};
        m_backend = std::make_unique<Backend>(config);
        QString error;
        QVERIFY2(m_backend->start(&error), qPrintable(error));
    }

    void batchResultsPerItemInOrder()
    {
        const quint64 ingestBefore = m_backend->metrics().counterTotal("ingest_total");
        const quint64 rejectedBefore = m_backend->metrics().counterTotal("ingest_rejected_total");
        const QJsonArray events {
            ev(QStringLiteral("memory_usage"), 10, QStringLiteral("b-1")),
            QJsonObject {{QStringLiteral("metric_name"), QStringLiteral("memory_usage")},
                {QStringLiteral("value"), QStringLiteral("high")}}, // wrong type
            ev(QStringLiteral("memory_usage"), 11, QStringLiteral("b-1")), // duplicate inside the batch
            QStringLiteral("not an object"),
            ev(QStringLiteral("memory_usage"), 12),
        };
        const Answer a = call("POST", QStringLiteral("/api/v1/ingest/batch"), batchOf(events));
        QCOMPARE(a.status, 202);
        QCOMPARE(a.body[QStringLiteral("accepted")].toInt(), 2);
        QCOMPARE(a.body[QStringLiteral("duplicates")].toInt(), 1);
        QCOMPARE(a.body[QStringLiteral("rejected")].toInt(), 2);
        const QJsonArray r = a.body[QStringLiteral("results")].toArray();
        QCOMPARE(r.size(), 5);
        for (int i = 0; i < 5; ++i)
            QCOMPARE(r[i][QStringLiteral("index")].toInt(), i);
        QVERIFY(r[0][QStringLiteral("ok")].toBool());
        const qint64 firstId = r[0][QStringLiteral("id")].toInteger();
        QVERIFY(firstId > 0);
        QVERIFY(!r[1][QStringLiteral("ok")].toBool());
        QCOMPARE(r[1][QStringLiteral("error")][QStringLiteral("field")].toString(), QStringLiteral("value"));
        QCOMPARE(r[1][QStringLiteral("error")][QStringLiteral("code")].toString(), QStringLiteral("invalid_type"));
        QVERIFY(r[2][QStringLiteral("duplicate")].toBool());
        QCOMPARE(r[2][QStringLiteral("id")].toInteger(), firstId);
        QCOMPARE(r[3][QStringLiteral("error")][QStringLiteral("code")].toString(), QStringLiteral("invalid_type"));
        QVERIFY(r[4][QStringLiteral("id")].toInteger() > firstId);
        // Counted like single ingest; committed before the 202.
        QCOMPARE(m_backend->metrics().counterTotal("ingest_total"), ingestBefore + 2);
        QCOMPARE(m_backend->metrics().counterTotal("ingest_rejected_total"), rejectedBefore + 2);
        QCOMPARE(scalar(QStringLiteral("SELECT count(*) FROM events WHERE idempotency_key = 'b-1'")), 1);

        // Across batches: the same key again answers the first id; all duplicates → 200.
        const Answer again = call("POST", QStringLiteral("/api/v1/ingest/batch"),
            batchOf({ev(QStringLiteral("memory_usage"), 13, QStringLiteral("b-1"))}));
        QCOMPARE(again.status, 200);
        QCOMPARE(again.body[QStringLiteral("results")][0][QStringLiteral("id")].toInteger(), firstId);
    }

    void batchEnvelopeErrors_data()
    {
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<int>("status");
        QTest::addColumn<QString>("code");
        QTest::addColumn<QString>("field");
        QTest::newRow("not json") << QByteArray("{") << 400 << "invalid_json"
                                  << "";
        QTest::newRow("array body") << QByteArray("[]") << 400 << "invalid_json"
                                    << "";
        QTest::newRow("missing events") << QByteArray("{}") << 400 << "missing_field"
                                        << "events";
        QTest::newRow("events not array") << QByteArray(R"({"events":{}})") << 400 << "invalid_type"
                                          << "events";
        QTest::newRow("empty") << QByteArray(R"({"events":[]})") << 400 << "invalid_value"
                               << "events";
        QTest::newRow("unknown field") << QByteArray(R"({"events":[],"x":1})") << 400 << "unknown_field"
                                       << "x";
        QTest::newRow("events twice") << QByteArray(R"({"events":[{"metric_name":"a","value":1}],"events":[]})") << 400
                                      << "duplicate_field"
                                      << "events";
        QTest::newRow("not a JSON number")
            << QByteArray(R"({"events":[{"metric_name":"a","value":.5}]})") << 400 << "invalid_json"
            << "";
        QTest::newRow("empty body") << QByteArray("") << 400 << "invalid_json"
                                    << "";
        QTest::newRow("all invalid") << QByteArray(R"({"events":[{"value":1}]})") << 400 << "no_valid_events"
                                     << "events";
        QJsonArray many;
        for (int i = 0; i < 1001; ++i)
            many.append(ev(QStringLiteral("cpu_usage"), 1));
        QTest::newRow("1001 events") << batchOf(many) << 413 << "too_many_events"
                                     << "events";
    }

    void batchEnvelopeErrors()
    {
        QFETCH(QByteArray, body);
        QFETCH(int, status);
        QFETCH(QString, code);
        QFETCH(QString, field);
        const qint64 before = scalar(QStringLiteral("SELECT count(*) FROM events"));
        const Answer a = call("POST", QStringLiteral("/api/v1/ingest/batch"), body);
        QCOMPARE(a.status, status);
        QCOMPARE(a.body[QStringLiteral("error")][QStringLiteral("code")].toString(), code);
        QCOMPARE(a.body[QStringLiteral("error")][QStringLiteral("field")].toString(), field);
        QCOMPARE(scalar(QStringLiteral("SELECT count(*) FROM events")), before);
    }

    void thousandEventsInOneBatch()
    {
        QJsonArray events;
        for (int i = 0; i < 1000; ++i)
            events.append(ev(QStringLiteral("memory_usage"), 1, QStringLiteral("k-%1").arg(i)));
        const Answer a = call("POST", QStringLiteral("/api/v1/ingest/batch"), batchOf(events));
        QCOMPARE(a.status, 202);
        QCOMPARE(a.body[QStringLiteral("accepted")].toInt(), 1000);
        QCOMPARE(scalar(QStringLiteral("SELECT count(*) FROM events WHERE idempotency_key LIKE 'k-%'")), 1000);
    }

    void deadLettersListRetryDiscardPurge()
    {
        // Three breaching events → three actions; every remediation fails, one attempt each → dead.
        const Answer a = call("POST", QStringLiteral("/api/v1/ingest/batch"),
            batchOf({ev(QStringLiteral("cpu_usage"), 99), ev(QStringLiteral("error_rate"), 50),
                ev(QStringLiteral("disk_usage"), 99)}));
        QCOMPARE(a.status, 202);
        QTRY_COMPARE_WITH_TIMEOUT(queue()[QStringLiteral("dead")].toInteger(), 3, 20000);

        Answer list = call("GET", QStringLiteral("/api/v1/queue/dead?limit=2"));
        QCOMPARE(list.status, 200);
        QCOMPARE(list.body[QStringLiteral("total")].toInteger(), 3);
        QJsonArray dead = list.body[QStringLiteral("dead")].toArray();
        QCOMPARE(dead.size(), 2);
        const QJsonObject first = dead[0].toObject();
        QCOMPARE(first[QStringLiteral("kind")].toString(), QStringLiteral("action"));
        QCOMPARE(first[QStringLiteral("attempts")].toInt(), 1);
        QVERIFY(first[QStringLiteral("last_error")].toString().contains(QStringLiteral("simulated")));
        QVERIFY(first[QStringLiteral("finished_at")].toString().endsWith(QLatin1Char('Z')));
        QVERIFY(!first[QStringLiteral("action")][QStringLiteral("idempotency_key")].toString().isEmpty());
        QCOMPARE(first[QStringLiteral("event")][QStringLiteral("source")].toString(), QStringLiteral("api-test"));
        const qint64 next = list.body[QStringLiteral("next_after")].toInteger();
        QVERIFY(next > 0);
        list = call("GET", QStringLiteral("/api/v1/queue/dead?limit=2&after=%1").arg(next));
        QCOMPARE(list.body[QStringLiteral("dead")].toArray().size(), 1);
        QVERIFY(list.body[QStringLiteral("next_after")].isNull());
        QCOMPARE(call("GET", QStringLiteral("/api/v1/queue/dead?limit=0")).status, 400);
        QCOMPARE(call("GET", QStringLiteral("/api/v1/queue/dead?foo=1")).status, 400);

        const qint64 id = first[QStringLiteral("task_id")].toInteger();
        // 404 for an unknown id (and for a non-number), 409 for a task that is not dead.
        Answer r = call("POST", QStringLiteral("/api/v1/queue/dead/999999/retry"));
        QCOMPARE(r.status, 404);
        QCOMPARE(r.body[QStringLiteral("error")][QStringLiteral("code")].toString(), QStringLiteral("not_found"));
        QCOMPARE(call("DELETE", QStringLiteral("/api/v1/queue/dead/abc")).status, 404);
        const qint64 doneTask = scalar(QStringLiteral("SELECT min(id) FROM tasks WHERE status = 'done'"));
        r = call("DELETE", QStringLiteral("/api/v1/queue/dead/%1").arg(doneTask));
        QCOMPARE(r.status, 409);
        QCOMPARE(r.body[QStringLiteral("error")][QStringLiteral("code")].toString(), QStringLiteral("not_dead"));

        // Retry one: it runs again (and fails again: the remediator always fails here).
        r = call("POST", QStringLiteral("/api/v1/queue/dead/%1/retry").arg(id));
        QCOMPARE(r.status, 200);
        QCOMPARE(r.body[QStringLiteral("retried")].toInteger(), 1);
        QTRY_COMPARE_WITH_TIMEOUT(
            scalar(QStringLiteral("SELECT attempts FROM tasks WHERE id = %1 AND status = 'dead'").arg(id)), 2, 20000);
        // Discard one.
        r = call("DELETE", QStringLiteral("/api/v1/queue/dead/%1").arg(id));
        QCOMPARE(r.status, 200);
        QCOMPARE(r.body[QStringLiteral("discarded")].toInteger(), 1);
        QCOMPARE(call("DELETE", QStringLiteral("/api/v1/queue/dead/%1").arg(id)).status, 404);
        QCOMPARE(queue()[QStringLiteral("dead")].toInteger(), 2);
        // Retry all: both run once more and die again.
        r = call("POST", QStringLiteral("/api/v1/queue/dead/retry"));
        QCOMPARE(r.status, 200);
        QCOMPARE(r.body[QStringLiteral("retried")].toInteger(), 2);
        QTRY_COMPARE_WITH_TIMEOUT(
            scalar(QStringLiteral("SELECT count(*) FROM tasks WHERE status = 'dead' AND attempts = 2")), 2, 20000);
        // Purge.
        r = call("DELETE", QStringLiteral("/api/v1/queue/dead"));
        QCOMPARE(r.status, 200);
        QCOMPARE(r.body[QStringLiteral("purged")].toInteger(), 2);
        QCOMPARE(queue()[QStringLiteral("dead")].toInteger(), 0);
        QCOMPARE(call("GET", QStringLiteral("/api/v1/queue/dead")).body[QStringLiteral("total")].toInteger(), 0);

        // Every mutation is in the audit trail with who and from where; the refused ones are not.
        for (const char *kind :
            {"dead_letter_retried", "dead_letter_discarded", "dead_letters_retried", "dead_letters_purged"})
            QVERIFY2(
                scalar(QStringLiteral("SELECT count(*) FROM audit_log WHERE kind = '%1' AND actor = "
                                      "'anonymous@127.0.0.1' AND details LIKE '%\"remote_address\":\"127.0.0.1\"%'")
                           .arg(QLatin1String(kind)))
                    == 1,
                kind);
    }

    void eventsAndActionsAreReadable()
    {
        // The dead-letter test left actions behind: three discarded/purged ones with their attempts.
        Answer a = call("GET", QStringLiteral("/api/v1/actions?limit=2"));
        QCOMPARE(a.status, 200);
        const QJsonArray actions = a.body[QStringLiteral("actions")].toArray();
        QCOMPARE(actions.size(), 2);
        QVERIFY(actions[0][QStringLiteral("id")].toInteger() > actions[1][QStringLiteral("id")].toInteger());
        QVERIFY(!a.body[QStringLiteral("next_before")].isNull());
        const qint64 id = actions[0][QStringLiteral("id")].toInteger();
        a = call("GET", QStringLiteral("/api/v1/actions/%1").arg(id));
        QCOMPARE(a.status, 200);
        const QJsonObject action = a.body[QStringLiteral("action")].toObject();
        QCOMPARE(action[QStringLiteral("status")].toString(), QStringLiteral("discarded"));
        QCOMPARE(action[QStringLiteral("executions")].toInteger(), 0); // every remediation failed: no effect
        const QJsonArray log = action[QStringLiteral("attempt_log")].toArray();
        QCOMPARE(log.size(), action[QStringLiteral("attempts")].toInt());
        QCOMPARE(log[0][QStringLiteral("outcome")].toString(), QStringLiteral("failure"));
        QCOMPARE(call("GET", QStringLiteral("/api/v1/actions/999999")).status, 404);
        QCOMPARE(call("GET", QStringLiteral("/api/v1/actions?status=odd")).status, 400);
        QCOMPARE(call("GET", QStringLiteral("/api/v1/actions?status=discarded"))
                     .body[QStringLiteral("actions")]
                     .toArray()
                     .size(),
            3);

        a = call("GET", QStringLiteral("/api/v1/events?metric=error_rate&source=api-test"));
        QCOMPARE(a.status, 200);
        const QJsonArray events = a.body[QStringLiteral("events")].toArray();
        QCOMPARE(events.size(), 1);
        QCOMPARE(events[0][QStringLiteral("value")].toDouble(), 50.0);
        QCOMPARE(events[0][QStringLiteral("task")][QStringLiteral("status")].toString(), QStringLiteral("done"));
        QCOMPARE(call("GET", QStringLiteral("/api/v1/events?since=yesterday")).status, 400);
        QCOMPARE(call("GET", QStringLiteral("/api/v1/events?since=2020-01-01T00:00:00Z&limit=5"))
                     .body[QStringLiteral("events")]
                     .toArray()
                     .size(),
            5);
        QCOMPARE(call("GET", QStringLiteral("/api/v1/events?x=1")).status, 400);
    }

    void pauseStopsClaimingAndShows()
    {
        Answer r = call("POST", QStringLiteral("/api/v1/queue/pause"));
        QCOMPARE(r.status, 200);
        QVERIFY(r.body[QStringLiteral("paused")].toBool());
        QVERIFY(queue()[QStringLiteral("paused")].toBool());
        QVERIFY(call("GET", QStringLiteral("/metrics")).raw.contains("\nqueue_paused 1\n"));
        // Ingest still accepted; nothing is processed while paused.
        const Answer a = call("POST", QStringLiteral("/api/v1/ingest/batch"),
            batchOf({ev(QStringLiteral("memory_usage"), 1), ev(QStringLiteral("memory_usage"), 2)}));
        QCOMPARE(a.status, 202);
        const QJsonArray workers
            = call("GET", QStringLiteral("/api/v1/workers")).body[QStringLiteral("workers")].toArray();
        QCOMPARE(workers.size(), 2);
        QTRY_COMPARE_WITH_TIMEOUT(call("GET", QStringLiteral("/api/v1/workers"))
                                      .body[QStringLiteral("workers")][0][QStringLiteral("state")]
                                      .toString(),
            QStringLiteral("paused"), 10000);
        // Twice the worker poll interval: still nothing claimed.
        QTest::qWait(600);
        QCOMPARE(queue()[QStringLiteral("ready")].toInteger(), 2);
        QCOMPARE(queue()[QStringLiteral("leased")].toInteger(), 0);
        r = call("POST", QStringLiteral("/api/v1/queue/resume"));
        QCOMPARE(r.status, 200);
        QVERIFY(!r.body[QStringLiteral("paused")].toBool());
        QTRY_COMPARE_WITH_TIMEOUT(queue()[QStringLiteral("depth")].toInteger(), 0, 10000);
        QVERIFY(call("GET", QStringLiteral("/metrics")).raw.contains("\nqueue_paused 0\n"));
        QCOMPARE(scalar(QStringLiteral("SELECT count(*) FROM audit_log WHERE kind IN ('queue_paused', 'queue_resumed') "
                                       "AND actor = 'anonymous@127.0.0.1'")),
            2);
        QCOMPARE(call("GET", QStringLiteral("/api/v1/queue/pause")).status, 405);
    }

    void workersReportRatesAndTimes()
    {
        const QJsonArray workers
            = call("GET", QStringLiteral("/api/v1/workers")).body[QStringLiteral("workers")].toArray();
        QCOMPARE(workers.size(), 2);
        qint64 perMinute = 0, failed = 0;
        for (const QJsonValue &w : workers) {
            const QJsonObject o = w.toObject();
            QVERIFY(o[QStringLiteral("id")].toString().contains(QStringLiteral("/w")));
            QVERIFY(QStringList({QStringLiteral("idle"), QStringLiteral("busy")})
                        .contains(o[QStringLiteral("state")].toString()));
            perMinute += o[QStringLiteral("processed_per_minute")].toInteger();
            failed += o[QStringLiteral("totals")][QStringLiteral("failed")].toInteger();
            QVERIFY(o[QStringLiteral("totals")][QStringLiteral("processed")].toInteger() >= 0);
        }
        // Everything this test ran happened within the last minute: ≥ 1000 events + actions.
        QVERIFY2(perMinute >= 1000, qPrintable(QString::number(perMinute)));
        const QJsonObject busiest = workers[0][QStringLiteral("processed_per_minute")].toInteger()
                >= workers[1][QStringLiteral("processed_per_minute")].toInteger()
            ? workers[0].toObject()
            : workers[1].toObject();
        const double rate = busiest[QStringLiteral("success_rate")].toDouble();
        QVERIFY(rate > 50 && rate <= 100); // mostly event tasks, which succeed
        QCOMPARE(failed, 6); // 3 remediations + 1 retry + 2 retried by retry-all, all failing
        QVERIFY(busiest[QStringLiteral("avg_processing_ms")].toDouble() >= 0);
        const QByteArray metrics = call("GET", QStringLiteral("/metrics")).raw;
        for (const char *name : {"queue_enqueued_total", "queue_dequeued_total", "queue_lease_extensions_total",
                 "remediation_executions_total", "queue_paused", "queue_oldest_age_seconds"})
            QVERIFY2(metrics.contains(QByteArray(QByteArray("# TYPE ") + name)), name);
    }

    // Routes that take no query parameters refuse one instead of ignoring it (a filter silently dropped would
    // show the wrong data); the monitoring endpoints stay lenient, as scrapers and probes expect.
    void queryParametersARouteDoesNotTakeAreRefused_data()
    {
        QTest::addColumn<QByteArray>("verb");
        QTest::addColumn<QString>("path");
        QTest::addColumn<int>("status");
        QTest::newRow("queue") << QByteArray("GET") << QStringLiteral("/api/v1/queue?bogus=1") << 400;
        QTest::newRow("workers") << QByteArray("GET") << QStringLiteral("/api/v1/workers?bogus=1") << 400;
        QTest::newRow("audit verify") << QByteArray("GET") << QStringLiteral("/api/v1/audit/verify?bogus=1") << 400;
        QTest::newRow("simulator status")
            << QByteArray("GET") << QStringLiteral("/api/v1/ui/simulator/status?bogus=1") << 400;
        QTest::newRow("simulator stop") << QByteArray("POST") << QStringLiteral("/api/v1/ui/simulator/stop?bogus=1")
                                        << 400;
        QTest::newRow("resume") << QByteArray("POST") << QStringLiteral("/api/v1/queue/resume?bogus=1") << 400;
        QTest::newRow("action by id") << QByteArray("GET") << QStringLiteral("/api/v1/actions/1?bogus=1") << 400;
        QTest::newRow("policy by id") << QByteArray("GET") << QStringLiteral("/api/v1/policies/1?bogus=1") << 400;
        QTest::newRow("dead retry all") << QByteArray("POST") << QStringLiteral("/api/v1/queue/dead/retry?bogus=1")
                                        << 400;
        QTest::newRow("metrics (lenient)") << QByteArray("GET") << QStringLiteral("/metrics?bogus=1") << 200;
        QTest::newRow("metrics, repeated (lenient)") << QByteArray("GET") << QStringLiteral("/metrics?a=1&a=2") << 200;
        QTest::newRow("healthz (lenient)") << QByteArray("GET") << QStringLiteral("/healthz?bogus=1") << 200;
    }
    void queryParametersARouteDoesNotTakeAreRefused()
    {
        QFETCH(QByteArray, verb);
        QFETCH(QString, path);
        QFETCH(int, status);
        const Answer a = call(verb, path);
        QCOMPARE(a.status, status);
        if (status == 400) {
            QCOMPARE(a.body[QStringLiteral("error")][QStringLiteral("code")].toString(),
                QStringLiteral("unknown_parameter"));
            QCOMPARE(a.body[QStringLiteral("error")][QStringLiteral("field")].toString(), QStringLiteral("bogus"));
        }
    }

    // Which of two values would count is a guess: a parameter given twice is refused on every endpoint.
    void repeatedParametersAreRefused_data()
    {
        QTest::addColumn<QString>("path");
        QTest::addColumn<QString>("field");
        QTest::newRow("events") << QStringLiteral("/api/v1/events?limit=1&limit=2") << QStringLiteral("limit");
        QTest::newRow("audit") << QStringLiteral("/api/v1/audit?kind=a&kind=b") << QStringLiteral("kind");
        QTest::newRow("dead letters") << QStringLiteral("/api/v1/queue/dead?limit=5&limit=5")
                                      << QStringLiteral("limit");
        QTest::newRow("timeseries") << QStringLiteral("/api/v1/stats/timeseries?window=5&window=6")
                                    << QStringLiteral("window");
    }
    void repeatedParametersAreRefused()
    {
        QFETCH(QString, path);
        QFETCH(QString, field);
        const Answer a = call("GET", path);
        QCOMPARE(a.status, 400);
        QCOMPARE(
            a.body[QStringLiteral("error")][QStringLiteral("code")].toString(), QStringLiteral("invalid_parameter"));
        QCOMPARE(a.body[QStringLiteral("error")][QStringLiteral("field")].toString(), field);
    }

    void ingestWithAQueryParameterStoresNothing()
    {
        const qint64 before = scalar(QStringLiteral("SELECT count(*) FROM events"));
        const Answer a = call("POST", QStringLiteral("/api/v1/ingest?source=web-1"),
            QJsonDocument(ev(QStringLiteral("cpu_usage"), 1)).toJson(QJsonDocument::Compact));
        QCOMPARE(a.status, 400);
        QCOMPARE(a.body[QStringLiteral("error")][QStringLiteral("field")].toString(), QStringLiteral("source"));
        QCOMPARE(scalar(QStringLiteral("SELECT count(*) FROM events")), before);
    }

    // Simulator parameters travel in the query string: a JSON body would otherwise be ignored and a default
    // run started.
    void simulatorStartRefusesABody()
    {
        const Answer a = call("POST", QStringLiteral("/api/v1/ui/simulator/start"), R"({"rate":100,"mode":"ramp"})");
        QCOMPARE(a.status, 400);
        QCOMPARE(a.body[QStringLiteral("error")][QStringLiteral("code")].toString(), QStringLiteral("unexpected_body"));
        const Answer status = call("GET", QStringLiteral("/api/v1/ui/simulator/status"));
        QCOMPARE(status.body[QStringLiteral("simulator")][QStringLiteral("running")].toBool(true), false);
    }

    void cleanupTestCase() { m_backend.reset(); }
};

QTEST_GUILESS_MAIN(TestQueueApi)
#include "tst_queueapi.moc"
