// The durable queue on a temporary SQLite file: group commit, idempotency, claim/lease,
// outcomes, retry with backoff, dead letters, lease rescue, failed commits, crash recovery.
#include "metrics.h"
#include "writer.h"

#include <QSqlQuery>
#include <QTemporaryDir>
#include <QtTest>

using namespace vigil;

class TestQueue : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    int m_n = 0;

    ServerConfig config()
    {
        ServerConfig c;
        c.nodeId = QStringLiteral("test");
        c.retry.baseSeconds = 0.05;
        c.retry.capSeconds = 0.1;
        c.retry.maxAttempts = 3;
        return c;
    }
    QString freshPath() { return m_dir.filePath(QStringLiteral("q%1.db").arg(++m_n)); }

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

    static qint64 scalar(const QString &path, const QString &sql)
    {
        const QString name = QStringLiteral("probe-%1").arg(qHash(sql));
        qint64 v = -1;
        {
            QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
            db.setDatabaseName(path);
            db.open();
            QSqlQuery q(db);
            if (q.exec(sql) && q.next())
                v = q.value(0).toLongLong();
        }
        QSqlDatabase::removeDatabase(name);
        return v;
    }

    static qint64 policyId(Writer &w, const QString &metric)
    {
        for (const Policy &p : *w.policies())
            if (p.metricName == metric)
                return p.id;
        return 0;
    }

private slots:
    void initTestCase() { QVERIFY(m_dir.isValid()); }

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
        QCOMPARE(scalar(path, QStringLiteral("SELECT count(*) FROM events")), 2);
        QCOMPARE(scalar(path, QStringLiteral("SELECT count(*) FROM tasks WHERE kind='event'")), 2);
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
        QCOMPARE(scalar(path, QStringLiteral("SELECT count(*) FROM actions")), 1);
        QCOMPARE(scalar(path, QStringLiteral("SELECT count(*) FROM actions WHERE status='succeeded'")), 1);
        QCOMPARE(scalar(path, QStringLiteral("SELECT count(*) FROM audit_log WHERE kind='action_triggered'")), 1);
        QCOMPARE(scalar(path, QStringLiteral("SELECT count(*) FROM audit_log WHERE kind='action_succeeded'")), 1);
        QCOMPARE(
            scalar(path, QStringLiteral("SELECT max(seq) - min(seq) + 1 - count(*) FROM audit_log")), 0); // no gaps
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
        QCOMPARE(scalar(path, QStringLiteral("SELECT count(*) FROM tasks WHERE status='dead'")), 1);
        QCOMPARE(scalar(path, QStringLiteral("SELECT count(*) FROM action_attempts")), 3);
        QCOMPARE(scalar(path, QStringLiteral("SELECT count(*) FROM audit_log WHERE kind='action_dead_lettered'")), 1);
        QCOMPARE(scalar(path, QStringLiteral("SELECT count(*) FROM actions WHERE status='dead'")), 1);
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
        QCOMPARE(scalar(path, QStringLiteral("SELECT count(*) FROM events")), 1);
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
            QCOMPARE(claim(w, QStringLiteral("crashed-node/w0"), 10).size(), 3);
            // Simulate a crash: leave the leases in the file (close() would release this node's).
        }
        QCOMPARE(scalar(path, QStringLiteral("SELECT count(*) FROM tasks WHERE status='leased'")), 3);
        MetricsRegistry metrics;
        Writer w(config(), metrics);
        QString error;
        QVERIFY(w.open(path, &error));
        QCOMPARE(w.snapshot().leased, 0);
        QCOMPARE(w.snapshot().ready, 3);
        QCOMPARE(w.snapshot().rescued, 3);
        w.close();
    }
};

QTEST_GUILESS_MAIN(TestQueue)
#include "tst_queue.moc"
