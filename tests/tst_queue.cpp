// The durable queue: group commit, idempotency, claim/lease, outcomes, retry with backoff, dead
// letters, lease rescue, failed commits, crash recovery. Runs on a temporary SQLite file, or with
// VIGIL_QUEUE_BACKEND=postgresql on fresh databases of the PostgreSQL server named by
// VIGIL_TEST_PG_URL (CTest: tst_queue_pg, label postgres), where it also runs two writers
// ("nodes") on one database.
#include "audit.h"
#include "backend.h"
#include "database.h"
#include "metrics.h"
#include "remediator.h"
#include "worker.h"
#include "writer.h"
#include "testdb.h"

#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QUrl>
#include <QtTest>

using namespace vigil;
using vigil::testing::TestDatabases;

class TestQueue : public QObject
{
    Q_OBJECT

private:
    TestDatabases m_dbs;
    bool m_pg = m_dbs.postgres();

    ServerConfig config()
    {
        ServerConfig c;
        c.nodeId = QStringLiteral("test");
        c.retry.baseSeconds = 0.05;
        c.retry.capSeconds = 0.1;
        c.retry.maxAttempts = 3;
        return c;
    }
    QString freshPath() { return m_dbs.fresh(QStringLiteral("q")); }

    static IngestEvent event(
        const QString &metric, double value, const QString &key = {}, const QString &source = QStringLiteral("host-1"))
    {
        IngestEvent e;
        e.metricName = metric;
        e.value = value;
        e.source = source;
        e.timestampMs = QDateTime::currentMSecsSinceEpoch();
        e.idempotencyKey = key;
        return e;
    }

    static QList<TaskItem> claim(Writer &w, const QString &worker, int max)
    {
        QList<TaskItem> got;
        bool done = false;
        w.submitClaim(worker, max, [&](QList<TaskItem> t) {
            got = std::move(t);
            done = true;
        });
        if (!QTest::qWaitFor([&] { return done; }, 5000))
            qFatal("claim did not complete");
        return got;
    }

    static bool outcome(Writer &w, TaskOutcome o)
    {
        bool done = false, ok = false;
        w.submitOutcomes({std::move(o)}, [&](bool r) {
            ok = r;
            done = true;
        });
        if (!QTest::qWaitFor([&] { return done; }, 5000))
            qFatal("outcome did not complete");
        return ok;
    }

    // One breaching cpu_usage event, processed: leaves one ready action task.
    static void makeAction(Writer &w)
    {
        bool ingested = false;
        w.submitIngest(event(QStringLiteral("cpu_usage"), 97), [&](const IngestResult &) { ingested = true; });
        QTRY_VERIFY(ingested);
        const QList<TaskItem> tasks = claim(w, QStringLiteral("setup"), 10);
        QCOMPARE(tasks.size(), 1);
        TaskOutcome o;
        o.taskId = tasks[0].taskId;
        o.kind = QStringLiteral("event");
        o.attempts = tasks[0].attempts;
        o.workerId = QStringLiteral("setup");
        o.metricName = QStringLiteral("cpu_usage");
        o.source = QStringLiteral("host-1");
        o.eventId = tasks[0].refId;
        o.breached = {policyId(w, QStringLiteral("cpu_usage"))};
        QVERIFY(outcome(w, o));
        QCOMPARE(w.snapshot().actions, 1);
    }

    static TaskOutcome actionOutcome(const TaskItem &t, const QString &worker, bool ok)
    {
        TaskOutcome a;
        a.taskId = t.taskId;
        a.kind = QStringLiteral("action");
        a.attempts = t.attempts;
        a.workerId = worker;
        a.actionId = t.refId;
        a.success = ok;
        return a;
    }

    static TaskOutcome eventOutcome(Writer &w, const TaskItem &t, const QString &worker)
    {
        TaskOutcome o;
        o.taskId = t.taskId;
        o.kind = QStringLiteral("event");
        o.attempts = t.attempts;
        o.workerId = worker;
        o.metricName = t.metricName;
        o.source = t.source;
        o.eventId = t.refId;
        for (const Policy &p : *w.policies())
            if (breaches(p, t.metricName, t.value))
                o.breached.append(p.id);
        return o;
    }

    static qint64 policyId(Writer &w, const QString &metric)
    {
        for (const Policy &p : *w.policies())
            if (p.metricName == metric)
                return p.id;
        return 0;
    }

private slots:
    void initTestCase()
    {
        if (const QString why = m_dbs.unavailable(); !why.isEmpty())
            QSKIP(qPrintable(why));
        if (m_pg)
            qInfo("queue tests on PostgreSQL (%s)", qPrintable(m_dbs.serverUrl()));
    }

    void databaseUrls_data()
    {
        QTest::addColumn<QString>("spec");
        QTest::addColumn<bool>("valid");
        QTest::addColumn<QString>("shown"); // display(), or a part of the error
        QTest::newRow("sqlite path") << "/tmp/x.db" << true << "/tmp/x.db";
        QTest::newRow("full url") << "postgresql://vigil:s3cret@db.example:6543/queue" << true
                                  << "postgresql://vigil:***@db.example:6543/queue";
        QTest::newRow("default port, postgres scheme")
            << "postgres://vigil:s3cret@10.0.0.5/queue" << true << "postgresql://vigil:***@10.0.0.5:5432/queue";
        QTest::newRow("encoded password")
            << "postgresql://vigil:p%40ss%2Fw@h/q" << true << "postgresql://vigil:***@h:5432/q";
        QTest::newRow("parameters") << "postgresql://vigil:s3cret@h:5432/q?sslmode=require" << true
                                    << "postgresql://vigil:***@h:5432/q";
        QTest::newRow("no database") << "postgresql://vigil:s3cret@h:5432" << false << "no database name";
        QTest::newRow("no host") << "postgresql://vigil:s3cret@:5432/q" << false << "malformed PostgreSQL URL";
        QTest::newRow("bad port") << "postgresql://vigil:s3cret@h:99999/q" << false << "malformed PostgreSQL URL";
        QTest::newRow("password parameter") << "postgresql://h/q?password=s3cret" << false << "belongs in the URL";
    }

    void databaseUrls()
    {
        QFETCH(QString, spec);
        QFETCH(bool, valid);
        QFETCH(QString, shown);
        DatabaseLocation loc;
        QString error;
        QCOMPARE(DatabaseLocation::parse(spec, &loc, &error), valid);
        if (valid) {
            QCOMPARE(loc.display(), shown);
            QVERIFY(!loc.display().contains(QLatin1String("s3cret")));
        } else {
            QVERIFY2(error.contains(shown), qPrintable(error));
            QVERIFY2(!error.contains(QLatin1String("s3cret")), qPrintable(error));
        }
        QVERIFY(!redactDatabaseUrl(spec).contains(QLatin1String("s3cret")));
        if (spec.contains(QLatin1String("p%40ss"))) {
            QCOMPARE(loc.password, QStringLiteral("p@ss/w"));
        }
    }

    void unreachableServerIsAClearError()
    {
        if (!QSqlDatabase::isDriverAvailable(QStringLiteral("QPSQL")))
            QSKIP("the QPSQL driver (libqt6sql6-psql) is not installed");
        MetricsRegistry metrics;
        Writer w(config(), metrics);
        QString error;
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        QVERIFY(!w.open(QStringLiteral("postgresql://vigil:s3cret@127.0.0.1:1/vigil"), &error));
        QVERIFY2(
            error.contains(QLatin1String("cannot connect to PostgreSQL at postgresql://vigil:***@127.0.0.1:1/vigil")),
            qPrintable(error));
        QVERIFY2(!error.contains(QLatin1String("s3cret")), qPrintable(error));
    }

    void ingestCommitsAndDeduplicatesInOneBatch()
    {
        MetricsRegistry metrics;
        Writer w(config(), metrics);
        const QString path = freshPath();
        QString error;
        QVERIFY2(w.open(path, &error), qPrintable(error));
        QList<IngestResult> results;
        // Three submissions before the event loop runs: one group commit, two share a key.
        for (const QString &key : {QStringLiteral("k1"), QStringLiteral("k1"), QString()})
            w.submitIngest(
                event(QStringLiteral("cpu_usage"), 10, key), [&](const IngestResult &r) { results.append(r); });
        QTRY_COMPARE(results.size(), 3);
        QCOMPARE(results[0].status, IngestResult::Status::Created);
        QCOMPARE(results[1].status, IngestResult::Status::Duplicate);
        QCOMPARE(results[1].id, results[0].id);
        QCOMPARE(results[2].status, IngestResult::Status::Created);
        QCOMPARE(w.snapshot().ready, 2);
        QCOMPARE(metrics.counterTotal("ingest_total"), 2u);
        // A later duplicate (other batch) also answers the first id.
        IngestResult later;
        w.submitIngest(
            event(QStringLiteral("cpu_usage"), 11, QStringLiteral("k1")), [&](const IngestResult &r) { later = r; });
        QTRY_COMPARE(later.status, IngestResult::Status::Duplicate);
        QCOMPARE(later.id, results[0].id);
        w.close();
        QCOMPARE(TestDatabases::scalar(path, QStringLiteral("SELECT count(*) FROM events")), 2);
        QCOMPARE(TestDatabases::scalar(path, QStringLiteral("SELECT count(*) FROM tasks WHERE kind='event'")), 2);
    }

    void claimLeasesAndCarriesPayload()
    {
        MetricsRegistry metrics;
        Writer w(config(), metrics);
        QString error;
        QVERIFY(w.open(freshPath(), &error));
        int n = 0;
        for (int i = 0; i < 5; ++i)
            w.submitIngest(event(QStringLiteral("memory_usage"), 50 + i), [&](const IngestResult &) { ++n; });
        QTRY_COMPARE(n, 5);
        const QList<TaskItem> first = claim(w, QStringLiteral("test/w0"), 3);
        QCOMPARE(first.size(), 3);
        QCOMPARE(first[0].kind, QStringLiteral("event"));
        QCOMPARE(first[0].metricName, QStringLiteral("memory_usage"));
        QCOMPARE(first[0].value, 50.0);
        QCOMPARE(first[0].source, QStringLiteral("host-1"));
        QCOMPARE(first[0].attempts, 1);
        const QList<TaskItem> second = claim(w, QStringLiteral("test/w1"), 10);
        QCOMPARE(second.size(), 2); // disjoint: leased tasks are not handed out twice
        for (const TaskItem &a : first)
            for (const TaskItem &b : second)
                QVERIFY(a.taskId != b.taskId);
        QCOMPARE(claim(w, QStringLiteral("test/w0"), 10).size(), 0);
        QCOMPARE(w.snapshot().leased, 5);
        QCOMPARE(w.snapshot().ready, 0);
        w.close();
    }

    void breachCreatesOneActionAndAuditEntry()
    {
        MetricsRegistry metrics;
        Writer w(config(), metrics);
        const QString path = freshPath();
        QString error;
        QVERIFY(w.open(path, &error));
        bool ingested = false;
        w.submitIngest(event(QStringLiteral("cpu_usage"), 97), [&](const IngestResult &) { ingested = true; });
        QTRY_VERIFY(ingested);
        const QList<TaskItem> tasks = claim(w, QStringLiteral("test/w0"), 10);
        QCOMPARE(tasks.size(), 1);
        TaskOutcome o;
        o.taskId = tasks[0].taskId;
        o.kind = QStringLiteral("event");
        o.attempts = tasks[0].attempts;
        o.workerId = QStringLiteral("test/w0");
        o.metricName = QStringLiteral("cpu_usage");
        o.source = QStringLiteral("host-1");
        o.eventId = tasks[0].refId;
        o.breached = {policyId(w, QStringLiteral("cpu_usage"))};
        QVERIFY(o.breached[0] > 0);
        QVERIFY(outcome(w, o));
        QVERIFY(outcome(w, o)); // a redelivered (stale) outcome changes nothing
        QCOMPARE(w.snapshot().actions, 1);
        QCOMPARE(metrics.counterTotal("actions_total"), 1u);
        const QList<TaskItem> actions = claim(w, QStringLiteral("test/w0"), 10);
        QCOMPARE(actions.size(), 1);
        QCOMPARE(actions[0].kind, QStringLiteral("action"));
        QCOMPARE(actions[0].actionType, QStringLiteral("restart_service"));
        QVERIFY(!actions[0].actionKey.isEmpty());
        TaskOutcome a;
        a.taskId = actions[0].taskId;
        a.kind = QStringLiteral("action");
        a.attempts = actions[0].attempts;
        a.workerId = QStringLiteral("test/w0");
        a.actionId = actions[0].refId;
        a.success = true;
        QVERIFY(outcome(w, a));
        QCOMPARE(w.snapshot().done, 2);
        w.close();
        QCOMPARE(TestDatabases::scalar(path, QStringLiteral("SELECT count(*) FROM actions")), 1);
        QCOMPARE(
            TestDatabases::scalar(path, QStringLiteral("SELECT count(*) FROM actions WHERE status='succeeded'")), 1);
        QCOMPARE(
            TestDatabases::scalar(path, QStringLiteral("SELECT count(*) FROM audit_log WHERE kind='action_triggered'")),
            1);
        QCOMPARE(
            TestDatabases::scalar(path, QStringLiteral("SELECT count(*) FROM audit_log WHERE kind='action_succeeded'")),
            1);
        QCOMPARE(
            TestDatabases::scalar(path, QStringLiteral("SELECT max(seq) - min(seq) + 1 - count(*) FROM audit_log")),
            0); // no gaps
    }

    void eventWithoutSourceCanBreach()
    {
        // Regression: a breach by an event without "source" once broke the whole group commit.
        MetricsRegistry metrics;
        Writer w(config(), metrics);
        QString error;
        QVERIFY(w.open(freshPath(), &error));
        bool ingested = false;
        w.submitIngest(event(QStringLiteral("cpu_usage"), 99, {}, QString()),
            [&](const IngestResult &r) { ingested = r.status == IngestResult::Status::Created; });
        QTRY_VERIFY(ingested);
        const auto tasks = claim(w, QStringLiteral("w"), 10);
        QCOMPARE(tasks.size(), 1);
        QVERIFY(tasks[0].source.isEmpty());
        TaskOutcome o;
        o.taskId = tasks[0].taskId;
        o.kind = QStringLiteral("event");
        o.attempts = 1;
        o.workerId = QStringLiteral("w");
        o.metricName = QStringLiteral("cpu_usage");
        o.source = tasks[0].source;
        o.eventId = tasks[0].refId;
        o.breached = {policyId(w, QStringLiteral("cpu_usage"))};
        QVERIFY(outcome(w, o));
        QCOMPARE(w.snapshot().actions, 1);
        QCOMPARE(w.snapshot().done, 1);
        w.close();
    }

    void failedActionsRetryWithBackoffThenDeadLetter()
    {
        MetricsRegistry metrics;
        Writer w(config(), metrics); // max 3 attempts, backoff 50..100 ms
        const QString path = freshPath();
        QString error;
        QVERIFY(w.open(path, &error));
        bool ingested = false;
        w.submitIngest(event(QStringLiteral("disk_usage"), 99), [&](const IngestResult &) { ingested = true; });
        QTRY_VERIFY(ingested);
        auto tasks = claim(w, QStringLiteral("w"), 10);
        TaskOutcome o;
        o.taskId = tasks[0].taskId;
        o.kind = QStringLiteral("event");
        o.attempts = 1;
        o.workerId = QStringLiteral("w");
        o.metricName = QStringLiteral("disk_usage");
        o.source = QStringLiteral("host-1");
        o.eventId = tasks[0].refId;
        o.breached = {policyId(w, QStringLiteral("disk_usage"))};
        QVERIFY(outcome(w, o));
        QCOMPARE(w.snapshot().actions, 1);
        for (int attempt = 1; attempt <= 3; ++attempt) {
            QList<TaskItem> action;
            // Wait for the backoff to pass (QTRY_* would re-run the claim, so loop by hand).
            QDeadlineTimer deadline(10000);
            while ((action = claim(w, QStringLiteral("w"), 10)).isEmpty() && !deadline.hasExpired())
                QTest::qWait(20);
            QCOMPARE(action.size(), 1);
            QCOMPARE(action[0].attempts, attempt);
            TaskOutcome a;
            a.taskId = action[0].taskId;
            a.kind = QStringLiteral("action");
            a.attempts = action[0].attempts;
            a.workerId = QStringLiteral("w");
            a.actionId = action[0].refId;
            a.success = false;
            a.error = QStringLiteral("boom");
            QVERIFY(outcome(w, a));
            if (attempt < 3) {
                QCOMPARE(w.snapshot().dead, 0);
                QCOMPARE(claim(w, QStringLiteral("w"), 10).size(), 0); // not before run_at
            }
        }
        QCOMPARE(w.snapshot().dead, 1);
        QCOMPARE(w.snapshot().retried, 2);
        QCOMPARE(metrics.counterTotal("dead_letter_total"), 1u);
        w.close();
        QCOMPARE(TestDatabases::scalar(path, QStringLiteral("SELECT count(*) FROM tasks WHERE status='dead'")), 1);
        QCOMPARE(TestDatabases::scalar(path, QStringLiteral("SELECT count(*) FROM action_attempts")), 3);
        QCOMPARE(TestDatabases::scalar(
                     path, QStringLiteral("SELECT count(*) FROM audit_log WHERE kind='action_dead_lettered'")),
            1);
        QCOMPARE(TestDatabases::scalar(path, QStringLiteral("SELECT count(*) FROM actions WHERE status='dead'")), 1);
    }

    // A lease that expires on the task's last attempt dead-letters the task; for an action task the action
    // itself ends too (status, audit entry), or it would show as pending forever with nothing left to run it.
    void actionWhoseLastLeaseExpiresIsDeadLettered()
    {
        MetricsRegistry metrics;
        ServerConfig c = config();
        c.leaseSeconds = 1;
        c.retry.maxAttempts = 1;
        Writer w(c, metrics);
        QString error;
        const QString path = freshPath();
        QVERIFY(w.open(path, &error));
        makeAction(w);
        const QList<TaskItem> tasks = claim(w, QStringLiteral("gone"), 10);
        QCOMPARE(tasks.size(), 1);
        QCOMPARE(tasks[0].kind, QStringLiteral("action"));
        QTRY_COMPARE_WITH_TIMEOUT(w.snapshot().dead, 1, 10000);
        QCOMPARE(w.snapshot().leased, 0);
        QCOMPARE(TestDatabases::scalar(path, QStringLiteral("SELECT count(*) FROM actions WHERE status = 'dead'")), 1);
        QCOMPARE(TestDatabases::scalar(path,
                     QStringLiteral("SELECT count(*) FROM audit_log WHERE kind = 'action_dead_lettered' AND actor = "
                                    "'reaper:test'")),
            1);
        const audit::VerifyResult v = TestDatabases::verifyAudit(path);
        QVERIFY2(v.ok, qPrintable(v.problem));
        w.close();
    }

    void expiredLeasesAreRescued()
    {
        MetricsRegistry metrics;
        ServerConfig c = config();
        c.leaseSeconds = 1;
        Writer w(c, metrics);
        QString error;
        QVERIFY(w.open(freshPath(), &error));
        bool ingested = false;
        w.submitIngest(event(QStringLiteral("cpu_usage"), 1), [&](const IngestResult &) { ingested = true; });
        QTRY_VERIFY(ingested);
        const auto tasks = claim(w, QStringLiteral("gone"), 10);
        QCOMPARE(tasks.size(), 1);
        QSignalSpy wake(&w, &Writer::tasksAvailable);
        // The reaper runs every second; the lease is 1 s.
        QTRY_COMPARE_WITH_TIMEOUT(w.snapshot().rescued, 1, 10000);
        QVERIFY(wake.count() >= 1);
        const auto again = claim(w, QStringLiteral("other"), 10);
        QCOMPARE(again.size(), 1);
        QCOMPARE(again[0].taskId, tasks[0].taskId);
        QCOMPARE(again[0].attempts, 2); // the rescue counts as an attempt
        // The original holder's late outcome is ignored: the lease is no longer theirs.
        TaskOutcome late;
        late.taskId = tasks[0].taskId;
        late.kind = QStringLiteral("event");
        late.attempts = 1;
        late.workerId = QStringLiteral("gone");
        QVERIFY(outcome(w, late));
        QCOMPARE(w.snapshot().leased, 1);
        QCOMPARE(w.snapshot().done, 0);
        w.close();
    }

    void failedCommitAnswersEveryWaiterAndStoresNothing()
    {
        MetricsRegistry metrics;
        Writer w(config(), metrics);
        const QString path = freshPath();
        QString error;
        QVERIFY(w.open(path, &error));
        w.failNextCommitForTesting();
        QList<IngestResult> results;
        for (int i = 0; i < 4; ++i)
            w.submitIngest(event(QStringLiteral("cpu_usage"), i), [&](const IngestResult &r) { results.append(r); });
        QTRY_COMPARE(results.size(), 4);
        for (const IngestResult &r : results)
            QCOMPARE(r.status, IngestResult::Status::Failed);
        QCOMPARE(w.snapshot().ready, 0);
        QCOMPARE(metrics.counterTotal("ingest_total"), 0u);
        // The next batch works again.
        IngestResult next;
        w.submitIngest(event(QStringLiteral("cpu_usage"), 1), [&](const IngestResult &r) { next = r; });
        QTRY_COMPARE(next.status, IngestResult::Status::Created);
        w.close();
        QCOMPARE(TestDatabases::scalar(path, QStringLiteral("SELECT count(*) FROM events")), 1);
    }

    void batchIngestIsOneOperationWithPerItemResults()
    {
        MetricsRegistry metrics;
        Writer w(config(), metrics);
        const QString path = freshPath();
        QString error;
        QVERIFY(w.open(path, &error));
        IngestResult earlier;
        w.submitIngest(
            event(QStringLiteral("cpu_usage"), 1, QStringLiteral("old")), [&](const IngestResult &r) { earlier = r; });
        QTRY_COMPARE(earlier.status, IngestResult::Status::Created);
        QList<IngestResult> results;
        bool done = false;
        w.submitIngestBatch({event(QStringLiteral("cpu_usage"), 2, QStringLiteral("a")),
                                event(QStringLiteral("cpu_usage"), 3, QStringLiteral("a")), // same key in the batch
                                event(QStringLiteral("cpu_usage"), 4, QStringLiteral("old")), // key of an earlier batch
                                event(QStringLiteral("cpu_usage"), 5)},
            [&](const QList<IngestResult> &r) {
                results = r;
                done = true;
            });
        QTRY_VERIFY(done);
        QCOMPARE(results.size(), 4);
        QCOMPARE(results[0].status, IngestResult::Status::Created);
        QCOMPARE(results[1].status, IngestResult::Status::Duplicate);
        QCOMPARE(results[1].id, results[0].id);
        QCOMPARE(results[2].status, IngestResult::Status::Duplicate);
        QCOMPARE(results[2].id, earlier.id);
        QCOMPARE(results[3].status, IngestResult::Status::Created);
        QCOMPARE(metrics.counterTotal("ingest_total"), 3u);
        QCOMPARE(w.snapshot().ready, 3);
        // A failed commit fails every item: nothing of the batch is stored.
        w.failNextCommitForTesting();
        done = false;
        w.submitIngestBatch({event(QStringLiteral("cpu_usage"), 6), event(QStringLiteral("cpu_usage"), 7)},
            [&](const QList<IngestResult> &r) {
                results = r;
                done = true;
            });
        QTRY_VERIFY(done);
        QCOMPARE(results.size(), 2);
        for (const IngestResult &r : results)
            QCOMPARE(r.status, IngestResult::Status::Failed);
        w.close();
        QCOMPARE(TestDatabases::scalar(path, QStringLiteral("SELECT count(*) FROM events")), 3);
    }

    void heartbeatExtendsOnlyLeasesStillHeld()
    {
        MetricsRegistry metrics;
        ServerConfig c = config();
        c.leaseSeconds = 1;
        Writer w(c, metrics);
        const QString path = freshPath();
        QString error;
        QVERIFY(w.open(path, &error));
        int n = 0;
        for (int i = 0; i < 2; ++i)
            w.submitIngest(event(QStringLiteral("memory_usage"), i), [&](const IngestResult &) { ++n; });
        QTRY_COMPARE(n, 2);
        const auto mine = claim(w, QStringLiteral("me"), 1);
        const auto theirs = claim(w, QStringLiteral("them"), 1);
        QCOMPARE(mine.size(), 1);
        QCOMPARE(theirs.size(), 1);
        int extended = -1;
        // Asks for both: only the one leased by "me" is extended.
        w.submitHeartbeat(QStringLiteral("me"), {mine[0].taskId, theirs[0].taskId}, [&](int e) { extended = e; });
        QTRY_COMPARE(extended, 1);
        // Keep beating for 3 s (three leases): "me" keeps its task, "them" loses theirs to the reaper.
        QElapsedTimer t;
        t.start();
        while (t.elapsed() < 3000) {
            w.submitHeartbeat(QStringLiteral("me"), {mine[0].taskId});
            QTest::qWait(300);
        }
        QCOMPARE(w.snapshot().rescued, 1);
        QCOMPARE(w.snapshot().leased, 1);
        QVERIFY(metrics.counterTotal("queue_lease_extensions_total") >= 5);
        w.close();
    }

    void workerHeartbeatKeepsALongRemediationLeased()
    {
        // A remediation of ~2.5 s under a 1 s lease: the worker's heartbeats keep the lease, so the
        // task is not rescued while it runs, and it finishes on its first attempt.
        MetricsRegistry metrics;
        ServerConfig c = config();
        c.leaseSeconds = 1;
        c.remediator.latencyMs = 2500;
        c.remediator.failureRate = 0;
        c.remediator.timeoutMs = 10000;
        Writer w(c, metrics);
        const QString path = freshPath();
        QString error;
        QVERIFY(w.open(path, &error));
        SimulatedRemediator remediator(
            c.remediator, 1, [&w](const QString &key, const QString &worker, std::function<void(bool, bool)> done) {
                w.submitExecution(key, worker, std::move(done));
            });
        makeAction(w);
        Worker worker(QStringLiteral("test/w0"), c, w, remediator);
        connect(&w, &Writer::tasksAvailable, &worker, &Worker::wake);
        worker.start();
        QTRY_COMPARE_WITH_TIMEOUT(w.snapshot().completed, 2, 15000);
        QCOMPARE(w.snapshot().rescued, 0);
        QVERIFY(worker.stats().heartbeats >= 3);
        bool drained = false;
        worker.drain([&] { drained = true; });
        QTRY_VERIFY(drained);
        w.close();
        QCOMPARE(TestDatabases::scalar(path, QStringLiteral("SELECT attempts FROM tasks WHERE kind='action'")), 1);
        QCOMPARE(TestDatabases::scalar(path, QStringLiteral("SELECT executions FROM actions")), 1);
        QCOMPARE(TestDatabases::scalar(path, QStringLiteral("SELECT deliveries FROM actions")), 1);
    }

    void rescuedActionRunningTwiceExecutesOnce()
    {
        // Force the case heartbeats normally prevent: worker A holds an action and stops beating
        // (wedged) while its remediation runs; the lease expires, the reaper rescues the task and
        // worker B runs it again concurrently. The effect ledger lets exactly one of them act.
        MetricsRegistry metrics;
        ServerConfig c = config();
        c.leaseSeconds = 1;
        c.remediator.latencyMs = 5000; // 2.5..7.5 s: still running when the 1 s lease has expired (≤ 2 s)
        c.remediator.failureRate = 0;
        Writer w(c, metrics);
        const QString path = freshPath();
        QString error;
        QVERIFY(w.open(path, &error));
        SimulatedRemediator remediator(
            c.remediator, 7, [&w](const QString &key, const QString &worker, std::function<void(bool, bool)> done) {
                w.submitExecution(key, worker, std::move(done));
            });
        makeAction(w);
        const auto first = claim(w, QStringLiteral("A"), 10);
        QCOMPARE(first.size(), 1);
        QObject context;
        int answers = 0;
        remediator.execute({first[0].actionType, first[0].actionKey, {}, {}, QStringLiteral("A")}, &context,
            [&](bool ok, const QString &) {
                QVERIFY(ok);
                QVERIFY(outcome(w, actionOutcome(first[0], QStringLiteral("A"), true))); // stale: ignored
                ++answers;
            });
        QTRY_COMPARE_WITH_TIMEOUT(w.snapshot().rescued, 1, 10000);
        const auto second = claim(w, QStringLiteral("B"), 10);
        QCOMPARE(second.size(), 1);
        QCOMPARE(second[0].taskId, first[0].taskId);
        QCOMPARE(second[0].attempts, 2);
        QCOMPARE(second[0].actionKey, first[0].actionKey); // the same idempotency key for every attempt
        // B is alive and beats; A does not.
        QTimer beat;
        connect(&beat, &QTimer::timeout, &context, [&] { w.submitHeartbeat(QStringLiteral("B"), {second[0].taskId}); });
        beat.start(300);
        remediator.execute({second[0].actionType, second[0].actionKey, {}, {}, QStringLiteral("B")}, &context,
            [&](bool ok, const QString &) {
                QVERIFY(ok);
                QVERIFY(outcome(w, actionOutcome(second[0], QStringLiteral("B"), true)));
                ++answers;
            });
        QTRY_COMPARE_WITH_TIMEOUT(answers, 2, 20000);
        beat.stop();
        QCOMPARE(w.snapshot().rescued, 1);
        QCOMPARE(remediator.executions(), 1);
        QCOMPARE(remediator.duplicatesSuppressed(), 1);
        QCOMPARE(metrics.counterTotal("remediation_executions_total"), 1u);
        QCOMPARE(metrics.counterTotal("remediation_duplicates_suppressed_total"), 1u);
        w.close();
        // The proof, in the actions table: delivered twice, executed once, succeeded.
        QCOMPARE(TestDatabases::scalar(path, QStringLiteral("SELECT deliveries FROM actions")), 2);
        QCOMPARE(TestDatabases::scalar(path, QStringLiteral("SELECT executions FROM actions")), 1);
        QCOMPARE(
            TestDatabases::scalar(path, QStringLiteral("SELECT count(*) FROM actions WHERE status='succeeded'")), 1);
        QCOMPARE(TestDatabases::scalar(
                     path, QStringLiteral("SELECT count(*) FROM tasks WHERE kind='action' AND status='done'")),
            1);
    }

    void deadLettersRetryDiscardAndPauseAreAudited()
    {
        MetricsRegistry metrics;
        ServerConfig c = config();
        c.retry.maxAttempts = 1;
        Writer w(c, metrics);
        const QString path = freshPath();
        QString error;
        QVERIFY(w.open(path, &error));
        makeAction(w);
        auto action = claim(w, QStringLiteral("w"), 10);
        QCOMPARE(action.size(), 1);
        QVERIFY(outcome(w, actionOutcome(action[0], QStringLiteral("w"), false)));
        QCOMPARE(w.snapshot().dead, 1);
        const AuditActor who {QStringLiteral("anonymous@127.0.0.1"), QStringLiteral("127.0.0.1")};
        auto admin = [&](auto submit) {
            QueueAdminResult result;
            bool done = false;
            submit([&](QueueAdminResult r) {
                result = r;
                done = true;
            });
            if (!QTest::qWaitFor([&] { return done; }, 5000))
                qFatal("admin operation did not complete");
            return result;
        };
        const qint64 deadId = action[0].taskId;
        // Unknown id, and a task that is not dead (the event task is done).
        QCOMPARE(admin([&](auto cb) { w.submitDeadLetter(Writer::DeadAction::Retry, 999, who, cb); }).status,
            QueueAdminResult::Status::NotFound);
        QCOMPARE(admin([&](auto cb) { w.submitDeadLetter(Writer::DeadAction::Discard, deadId - 1, who, cb); }).status,
            QueueAdminResult::Status::NotDead);
        // Retry: back to ready with a fresh attempt, claimable, and it can succeed now.
        const QueueAdminResult retried
            = admin([&](auto cb) { w.submitDeadLetter(Writer::DeadAction::Retry, deadId, who, cb); });
        QCOMPARE(retried.status, QueueAdminResult::Status::Ok);
        QCOMPARE(retried.count, 1);
        QCOMPARE(w.snapshot().dead, 0);
        // Paused: claims hand out nothing; resumed: they do.
        QCOMPARE(admin([&](auto cb) { w.submitPause(true, who, cb); }).count, 1);
        QVERIFY(w.snapshot().paused);
        QCOMPARE(claim(w, QStringLiteral("w"), 10).size(), 0);
        QSignalSpy wake(&w, &Writer::tasksAvailable);
        QCOMPARE(admin([&](auto cb) { w.submitPause(false, who, cb); }).count, 1);
        QVERIFY(!w.snapshot().paused);
        QVERIFY(wake.count() >= 1);
        action = claim(w, QStringLiteral("w"), 10);
        QCOMPARE(action.size(), 1);
        QCOMPARE(action[0].attempts, 2);
        QCOMPARE(action[0].maxAttempts, 2);
        QVERIFY(outcome(w, actionOutcome(action[0], QStringLiteral("w"), false)));
        QCOMPARE(w.snapshot().dead, 1);
        // Discard: the row is deleted, so a second discard finds no such task (404).
        QCOMPARE(admin([&](auto cb) { w.submitDeadLetter(Writer::DeadAction::Discard, deadId, who, cb); }).count, 1);
        QCOMPARE(admin([&](auto cb) { w.submitDeadLetter(Writer::DeadAction::Discard, deadId, who, cb); }).status,
            QueueAdminResult::Status::NotFound);
        QCOMPARE(w.snapshot().dead, 0);
        // Retry-all and purge on an empty list change nothing and still succeed.
        QCOMPARE(admin([&](auto cb) { w.submitDeadLetter(Writer::DeadAction::Retry, 0, who, cb); }).count, 0);
        QCOMPARE(admin([&](auto cb) { w.submitDeadLetter(Writer::DeadAction::Discard, 0, who, cb); }).count, 0);
        w.close();
        QCOMPARE(TestDatabases::scalar(path, QStringLiteral("SELECT count(*) FROM tasks WHERE kind='action'")), 0);
        for (const char *kind : {"dead_letter_retried", "dead_letter_discarded", "queue_paused", "queue_resumed",
                 "dead_letters_retried", "dead_letters_purged"})
            QVERIFY2(
                TestDatabases::scalar(path,
                    QStringLiteral("SELECT count(*) FROM audit_log WHERE actor='anonymous@127.0.0.1' AND kind='%1' "
                                   "AND details LIKE '%\"remote_address\":\"127.0.0.1\"%'")
                        .arg(QLatin1String(kind)))
                    == 1,
                kind);
        // The 404/409 attempts changed nothing and wrote nothing.
        QCOMPARE(TestDatabases::scalar(
                     path, QStringLiteral("SELECT count(*) FROM audit_log WHERE actor LIKE 'anonymous@%'")),
            6);
    }

    void pauseSurvivesRestart()
    {
        const QString path = freshPath();
        const AuditActor who {QStringLiteral("anonymous@::1"), QStringLiteral("::1")};
        {
            MetricsRegistry metrics;
            Writer w(config(), metrics);
            QString error;
            QVERIFY(w.open(path, &error));
            bool done = false;
            w.submitPause(true, who, [&](QueueAdminResult) { done = true; });
            QTRY_VERIFY(done);
            w.close();
        }
        MetricsRegistry metrics;
        Writer w(config(), metrics);
        QString error;
        QVERIFY(w.open(path, &error));
        QVERIFY(w.snapshot().paused);
        w.close();
    }

    void leasesLeftByADeadProcessAreReleasedAtOpen()
    {
        const QString path = freshPath();
        {
            MetricsRegistry metrics;
            Writer w(config(), metrics);
            QString error;
            QVERIFY(w.open(path, &error));
            int n = 0;
            for (int i = 0; i < 3; ++i)
                w.submitIngest(event(QStringLiteral("cpu_usage"), i), [&](const IngestResult &) { ++n; });
            QTRY_COMPARE(n, 3);
            // SQLite: any lease left in the file is a dead process's. PostgreSQL: only this node id's
            // own leases are taken back at start (other nodes may be alive): claim as this node.
            QCOMPARE(claim(w, m_pg ? QStringLiteral("test/w0") : QStringLiteral("crashed-node/w0"), 10).size(), 3);
            // Simulate a crash: leave the leases in the file (close() would release this node's).
        }
        QCOMPARE(TestDatabases::scalar(path, QStringLiteral("SELECT count(*) FROM tasks WHERE status='leased'")), 3);
        MetricsRegistry metrics;
        Writer w(config(), metrics);
        QString error;
        QVERIFY(w.open(path, &error));
        QCOMPARE(w.snapshot().leased, 0);
        QCOMPARE(w.snapshot().ready, 3);
        QCOMPARE(w.snapshot().rescued, 3);
        w.close();
    }

    void startupKeepsLiveLeasesOfOtherNodes()
    {
        if (!m_pg)
            QSKIP("PostgreSQL only: a SQLite file has a single owner");
        const QString path = freshPath();
        MetricsRegistry ma, mb;
        ServerConfig ca = config();
        ca.nodeId = QStringLiteral("node-a");
        Writer a(ca, ma);
        QString error;
        QVERIFY2(a.open(path, &error), qPrintable(error));
        int n = 0;
        for (int i = 0; i < 4; ++i)
            a.submitIngest(event(QStringLiteral("cpu_usage"), i), [&](const IngestResult &) { ++n; });
        QTRY_COMPARE(n, 4);
        QCOMPARE(claim(a, QStringLiteral("node-a/w0"), 4).size(), 4);
        // Node b starts while a is alive and holds unexpired leases: they must stay a's.
        ServerConfig cb = config();
        cb.nodeId = QStringLiteral("node-b");
        Writer b(cb, mb);
        QVERIFY2(b.open(path, &error), qPrintable(error));
        QCOMPARE(b.snapshot().rescued, 0);
        QCOMPARE(b.snapshot().leased, 4);
        QCOMPARE(claim(b, QStringLiteral("node-b/w0"), 10).size(), 0);
        QCOMPARE(
            TestDatabases::scalar(path, QStringLiteral("SELECT count(*) FROM tasks WHERE leased_by='node-a/w0'")), 4);
        b.close();
        a.close();
    }

    void twoNodesShareOneDatabase()
    {
        if (!m_pg)
            QSKIP("PostgreSQL only: several nodes need a shared server");
        const QString path = freshPath();
        MetricsRegistry ma, mb;
        ServerConfig ca = config(), cb = config();
        ca.nodeId = QStringLiteral("node-a");
        cb.nodeId = QStringLiteral("node-b");
        Writer a(ca, ma), b(cb, mb);
        QString error;
        QVERIFY2(a.open(path, &error), qPrintable(error));
        QVERIFY2(b.open(path, &error), qPrintable(error)); // the schema exists: no second migration
        QCOMPARE(TestDatabases::scalar(path, QStringLiteral("SELECT count(*) FROM policies")), 4); // seeded once
        // Wake-ups cross nodes: b hears about a's commit through LISTEN/NOTIFY.
        QSignalSpy bWoken(&b, &Writer::tasksAvailable);
        // The same idempotency key through both nodes stores one event; both answer its id.
        IngestResult ra, rb;
        a.submitIngest(event(QStringLiteral("cpu_usage"), 10, QStringLiteral("shared-key")),
            [&](const IngestResult &r) { ra = r; });
        QTRY_COMPARE(ra.status, IngestResult::Status::Created);
        QTRY_VERIFY_WITH_TIMEOUT(bWoken.count() >= 1, 5000);
        b.submitIngest(event(QStringLiteral("cpu_usage"), 10, QStringLiteral("shared-key")),
            [&](const IngestResult &r) { rb = r; });
        QTRY_COMPARE(rb.status, IngestResult::Status::Duplicate);
        QCOMPARE(rb.id, ra.id);
        // 40 breaching events of one source, half through each node: claims are disjoint, and the
        // cooldown (30 s per policy and source) holds across nodes: exactly one action fires.
        int n = 0;
        for (int i = 0; i < 40; ++i)
            (i % 2 ? a : b)
                .submitIngest(event(QStringLiteral("cpu_usage"), 95, {}, QStringLiteral("web-1")),
                    [&](const IngestResult &r) { n += r.status == IngestResult::Status::Created; });
        QTRY_COMPARE(n, 40);
        QSet<qint64> seen;
        QList<TaskItem> ta = claim(a, QStringLiteral("node-a/w0"), 25);
        QList<TaskItem> tb = claim(b, QStringLiteral("node-b/w0"), 25);
        QCOMPARE(ta.size() + tb.size(), 41);
        for (const TaskItem &t : ta + tb) {
            QVERIFY2(!seen.contains(t.taskId), "a task was claimed by both nodes");
            seen.insert(t.taskId);
            QCOMPARE(t.metricName, QStringLiteral("cpu_usage")); // the payload came with the claim
        }
        for (int i = 0; i < std::max(ta.size(), tb.size()); ++i) {
            if (i < ta.size())
                QVERIFY(outcome(a, eventOutcome(a, ta[i], QStringLiteral("node-a/w0"))));
            if (i < tb.size())
                QVERIFY(outcome(b, eventOutcome(b, tb[i], QStringLiteral("node-b/w0"))));
        }
        QCOMPARE(TestDatabases::scalar(path, QStringLiteral("SELECT count(*) FROM actions")), 1);
        QCOMPARE(TestDatabases::scalar(
                     path, QStringLiteral("SELECT count(*) FROM tasks WHERE kind='event' AND status='done'")),
            41);
        // Audit entries from both nodes form one unbroken chain.
        b.submitAudit(QStringLiteral("test"), QStringLiteral("note"), QStringLiteral("b"), {});
        a.submitAudit(QStringLiteral("test"), QStringLiteral("note"), QStringLiteral("a"), {});
        b.submitAudit(QStringLiteral("test"), QStringLiteral("note"), QStringLiteral("b2"), {});
        QTRY_COMPARE(
            TestDatabases::scalar(path, QStringLiteral("SELECT count(*) FROM audit_log WHERE kind='note'")), 3);
        const audit::VerifyResult v = TestDatabases::verifyAudit(path);
        QVERIFY2(v.ok, qPrintable(v.problem));
        QCOMPARE(v.entries, 4); // action_triggered + 3 notes
        // The queue depth each node reports is the database's, not its own share.
        QTRY_COMPARE_WITH_TIMEOUT(a.snapshot().ready, 1, 5000); // the action task
        QTRY_COMPARE_WITH_TIMEOUT(b.snapshot().ready, 1, 5000);
        QCOMPARE(b.snapshot().done, 41);
        a.close();
        b.close();
    }

    void policyEditsReachTheOtherNode()
    {
        if (!m_pg)
            QSKIP("PostgreSQL only: several nodes need a shared server");
        const QString path = freshPath();
        MetricsRegistry ma, mb;
        ServerConfig ca = config(), cb = config();
        ca.nodeId = QStringLiteral("node-a");
        cb.nodeId = QStringLiteral("node-b");
        Writer a(ca, ma), b(cb, mb);
        QString error;
        QVERIFY2(a.open(path, &error), qPrintable(error));
        QVERIFY2(b.open(path, &error), qPrintable(error));
        const AuditActor who {QStringLiteral("test"), QStringLiteral("127.0.0.1")};
        auto make = [](const QString &name) {
            Policy p;
            p.name = name;
            p.metricName = QStringLiteral("queue_lag");
            p.op = CompareOp::Gt;
            p.threshold = 100;
            p.forCount = 1;
            p.cooldownSeconds = 0;
            p.action = QStringLiteral("restart_service");
            p.enabled = true;
            return p;
        };
        // Created on both nodes in the same moment: distinct ids, and each node's set has both.
        PolicyResult ra, rb;
        a.submitPolicyCreate(make(QStringLiteral("lag-a")), who, [&](PolicyResult r) { ra = r; });
        b.submitPolicyCreate(make(QStringLiteral("lag-b")), who, [&](PolicyResult r) { rb = r; });
        QTRY_COMPARE_WITH_TIMEOUT(ra.status, PolicyResult::Status::Ok, 10000);
        QTRY_COMPARE_WITH_TIMEOUT(rb.status, PolicyResult::Status::Ok, 10000);
        QVERIFY(ra.policy.id != rb.policy.id);
        QCOMPARE(TestDatabases::scalar(path, QStringLiteral("SELECT count(*) FROM policies")), 6);
        auto has = [](const Writer &w, const QString &name, double threshold) {
            const auto set = w.policies();
            return std::any_of(set->cbegin(), set->cend(),
                [&](const Policy &p) { return p.name == name && p.threshold == threshold; });
        };
        QTRY_VERIFY_WITH_TIMEOUT(has(a, QStringLiteral("lag-b"), 100) && has(b, QStringLiteral("lag-a"), 100), 10000);
        // A name taken on the other node is a duplicate here too.
        PolicyResult dup;
        b.submitPolicyCreate(make(QStringLiteral("lag-a")), who, [&](PolicyResult r) { dup = r; });
        QTRY_COMPARE_WITH_TIMEOUT(dup.status, PolicyResult::Status::DuplicateName, 10000);
        // An edit through b of a's policy reaches a's workers.
        PolicyResult patched;
        b.submitPolicyPatch(
            ra.policy.id, QJsonObject {{QStringLiteral("threshold"), 250}}, who, [&](PolicyResult r) { patched = r; });
        QTRY_COMPARE_WITH_TIMEOUT(patched.status, PolicyResult::Status::Ok, 10000);
        QTRY_VERIFY_WITH_TIMEOUT(has(a, QStringLiteral("lag-a"), 250), 10000);
        // A delete through a disappears from b's set.
        PolicyResult deleted;
        a.submitPolicyDelete(rb.policy.id, who, [&](PolicyResult r) { deleted = r; });
        QTRY_COMPARE_WITH_TIMEOUT(deleted.status, PolicyResult::Status::Ok, 10000);
        QTRY_VERIFY_WITH_TIMEOUT(!has(b, QStringLiteral("lag-b"), 100), 10000);
        // Ids are not reused across nodes either.
        PolicyResult again;
        b.submitPolicyCreate(make(QStringLiteral("lag-c")), who, [&](PolicyResult r) { again = r; });
        QTRY_COMPARE_WITH_TIMEOUT(again.status, PolicyResult::Status::Ok, 10000);
        QVERIFY(again.policy.id > std::max(ra.policy.id, rb.policy.id));
        const audit::VerifyResult v = TestDatabases::verifyAudit(path);
        QVERIFY2(v.ok, qPrintable(v.problem));
        a.close();
        b.close();
    }

    void writerReconnectsAfterItsConnectionIsCut()
    {
        if (!m_pg)
            QSKIP("PostgreSQL only: a SQLite file cannot go away under an open connection");
        const QString path = freshPath();
        MetricsRegistry metrics;
        Writer w(config(), metrics);
        QString error;
        QVERIFY2(w.open(path, &error), qPrintable(error));
        IngestResult first;
        w.submitIngest(event(QStringLiteral("cpu_usage"), 10), [&](const IngestResult &r) { first = r; });
        QTRY_COMPARE(first.status, IngestResult::Status::Created);
        // What a server restart does to the node: its session ends under it.
        QVERIFY(TestDatabases::exec(path,
            QStringLiteral("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid()")));
        // Ingests fail (503 to their clients, nothing stored) until the writer has reconnected, which it does
        // by itself within a few seconds.
        int failed = 0;
        IngestResult::Status last = IngestResult::Status::Failed;
        QElapsedTimer clock;
        clock.start();
        while (last != IngestResult::Status::Created && clock.elapsed() < 20000) {
            bool done = false;
            w.submitIngest(event(QStringLiteral("cpu_usage"), 20), [&](const IngestResult &r) {
                last = r.status;
                done = true;
            });
            QVERIFY(QTest::qWaitFor([&] { return done; }, 10000));
            if (last != IngestResult::Status::Created) {
                ++failed;
                QTest::qWait(200);
            }
        }
        QCOMPARE(last, IngestResult::Status::Created);
        QVERIFY(w.isHealthy());
        QCOMPARE(TestDatabases::scalar(path, QStringLiteral("SELECT count(*) FROM events")), 2); // failed ones: none
        // The re-prepared statements work: both tasks can be claimed and finished.
        const QList<TaskItem> tasks = claim(w, QStringLiteral("test/w0"), 10);
        QCOMPARE(tasks.size(), 2);
        for (const TaskItem &t : tasks)
            QVERIFY(outcome(w, eventOutcome(w, t, QStringLiteral("test/w0"))));
        QCOMPARE(TestDatabases::scalar(path, QStringLiteral("SELECT count(*) FROM tasks WHERE status='done'")), 2);
        qInfo("%d ingest(s) failed while the connection was being restored", failed);
        w.close();
    }

    // Two live processes with one --node-id would take each other's leases for their own: the second is refused.
    // A crashed one's id is free again once its heartbeat is stale; a cleanly closed one's at once.
    void liveNodeIdIsNotTakenTwice()
    {
        if (!m_pg)
            QSKIP("PostgreSQL only: a SQLite file has one process");
        const QString path = freshPath();
        MetricsRegistry mb, mc;
        ServerConfig c = config();
        c.nodeId = QStringLiteral("twin");
        c.databasePath = path;
        c.port = 0;
        QString error;
        // The first node runs as a server does, its writer on its own thread (so its heartbeat goes on
        // while the second one waits here).
        auto first = std::make_unique<Backend>(c);
        QVERIFY2(first->start(&error), qPrintable(error));
        {
            Writer second(c, mb);
            QVERIFY(!second.open(path, &error));
            QVERIFY2(error.contains(QLatin1String("in use by another live node")), qPrintable(error));
        }
        first->stop();
        first.reset();
        QElapsedTimer clock;
        clock.start();
        Writer again(c, mc);
        QVERIFY2(again.open(path, &error), qPrintable(error));
        QVERIFY2(clock.elapsed() < Writer::kNodeStaleMs, "a cleanly stopped node's id was not free at once");
        again.close();
    }

    // A pause through one node stops the other node's claims with its commit, not at its next refresh.
    void pauseStopsEveryNodesClaimsAtOnce()
    {
        if (!m_pg)
            QSKIP("PostgreSQL only: several nodes need a shared server");
        const QString path = freshPath();
        MetricsRegistry ma, mb;
        ServerConfig ca = config(), cb = config();
        ca.nodeId = QStringLiteral("node-a");
        cb.nodeId = QStringLiteral("node-b");
        Writer a(ca, ma), b(cb, mb);
        QString error;
        QVERIFY2(a.open(path, &error), qPrintable(error));
        QVERIFY2(b.open(path, &error), qPrintable(error));
        int n = 0;
        for (int i = 0; i < 3; ++i)
            b.submitIngest(event(QStringLiteral("cpu_usage"), 10), [&](const IngestResult &) { ++n; });
        QTRY_COMPARE(n, 3);
        bool paused = false;
        a.submitPause(true, AuditActor {QStringLiteral("test"), QStringLiteral("127.0.0.1")},
            [&](const QueueAdminResult &) { paused = true; });
        QTRY_VERIFY(paused);
        QCOMPARE(claim(b, QStringLiteral("node-b/w0"), 10).size(), 0);
        bool resumed = false;
        a.submitPause(false, AuditActor {QStringLiteral("test"), QStringLiteral("127.0.0.1")},
            [&](const QueueAdminResult &) { resumed = true; });
        QTRY_VERIFY(resumed);
        QCOMPARE(claim(b, QStringLiteral("node-b/w0"), 10).size(), 3);
        a.close();
        b.close();
    }

    void survivingNodeRescuesADeadNodesLeases()
    {
        if (!m_pg)
            QSKIP("PostgreSQL only: several nodes need a shared server");
        const QString path = freshPath();
        ServerConfig ca = config(), cb = config();
        ca.nodeId = QStringLiteral("node-a");
        cb.nodeId = QStringLiteral("node-b");
        ca.leaseSeconds = cb.leaseSeconds = 1;
        MetricsRegistry mb;
        Writer b(cb, mb);
        QString error;
        QVERIFY2(b.open(path, &error), qPrintable(error));
        {
            MetricsRegistry ma;
            Writer a(ca, ma);
            QVERIFY2(a.open(path, &error), qPrintable(error));
            int n = 0;
            for (int i = 0; i < 5; ++i)
                a.submitIngest(event(QStringLiteral("memory_usage"), 1), [&](const IngestResult &) { ++n; });
            QTRY_COMPARE(n, 5);
            QCOMPARE(claim(a, QStringLiteral("node-a/w0"), 10).size(), 5);
            // a dies: destroyed without close(), its leases stay in the database.
        }
        QTRY_COMPARE_WITH_TIMEOUT(b.snapshot().rescued, 5, 10000);
        QCOMPARE(mb.counterTotal("queue_rescued_total"), 5u);
        const QList<TaskItem> again = claim(b, QStringLiteral("node-b/w0"), 10);
        QCOMPARE(again.size(), 5);
        for (const TaskItem &t : again)
            QCOMPARE(t.attempts, 2);
        b.close();
    }
};

QTEST_GUILESS_MAIN(TestQueue)
#include "tst_queue.moc"
