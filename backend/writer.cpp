#include "writer.h"

#include "audit.h"
#include "database.h"
#include "logger.h"
#include "metrics.h"
#include "prng.h"
#include "retry.h"
#include "util.h"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSqlDriver>
#include <QSqlError>
#include <QSqlField>
#include <QSqlQuery>

#include <QSet>
#include <QThread>
#include <QUuid>

namespace vigil {

namespace {
// The rows of "SELECT status, count(*) FROM tasks GROUP BY status" into the snapshot's depths
// (a status without rows counts 0).
void takeStatusCounts(QSqlQuery &q, QueueSnapshot *s)
{
    s->ready = s->leased = s->done = s->dead = 0;
    while (q.next()) {
        const QString st = q.value(0).toString();
        const qint64 n = q.value(1).toLongLong();
        if (st == QLatin1String("ready"))
            s->ready = n;
        else if (st == QLatin1String("leased"))
            s->leased = n;
        else if (st == QLatin1String("done"))
            s->done = n;
        else if (st == QLatin1String("dead"))
            s->dead = n;
    }
}

QString compactJson(const QJsonObject &o)
{
    return QString::fromUtf8(QJsonDocument(o).toJson(QJsonDocument::Compact));
}

int g_writerIds = 0;

// Tasks leased by this node: its own id, or one of its workers ("<node>/w0"). Binds: node, prefix length, prefix.
const QString kOwnLeases = QStringLiteral("(leased_by = ? OR substr(leased_by, 1, ?) = ?)");
void bindOwnLeases(QSqlQuery &q, const QString &nodeId)
{
    const QString prefix = nodeId + QLatin1Char('/');
    q.addBindValue(nodeId);
    q.addBindValue(prefix.size());
    q.addBindValue(prefix);
}
} // namespace

// Hot statements, prepared once per connection (Qt re-binds them by position).
struct Writer::Statements
{
    explicit Statements(const QSqlDatabase &db)
        : connection(db)
        , insertEvent(db)
        , findKey(db)
        , insertTask(db)
        , claim(db)
        , loadEvent(db)
        , loadAction(db)
        , finishEvents(db)
    { }
    QSqlDatabase connection;
    QSqlQuery insertEvent, findKey, insertTask, claim, loadEvent, loadAction, finishEvents;
    // Every other statement of the per-task paths, prepared on first use. On QPSQL a prepare() is
    // a round trip of its own (PREPARE … / DEALLOCATE), so preparing once matters there.
    QHash<QString, QSqlQuery> cache;
    QSqlQuery &cached(const QString &sql)
    {
        auto it = cache.find(sql);
        if (it == cache.end()) {
            it = cache.insert(sql, QSqlQuery(connection));
            it->prepare(sql);
        }
        return *it;
    }

    bool prepare(SqlDialect dialect, QString *error)
    {
        const QByteArray claimSql = sqldialect::claimTasks(dialect).toLatin1();
        const QString ids = sqldialect::idsFromJson(dialect);
        const QByteArray loadEventSql
            = QStringLiteral("SELECT id, metric_name, value, source FROM events WHERE id IN (%1)").arg(ids).toLatin1();
        const QByteArray loadActionSql = QStringLiteral("SELECT a.id, a.type, a.idempotency_key, a.event_id, p.name, "
                                                        "p.params FROM actions a JOIN policies p ON p.id = a.policy_id "
                                                        "WHERE a.id IN (%1)")
                                             .arg(ids)
                                             .toLatin1();
        const QByteArray finishEventsSql = sqldialect::finishEventTasks(dialect).toLatin1();
        const std::pair<QSqlQuery *, const char *> all[] = {
            // RETURNING: QPSQL has no lastInsertId for tables without OIDs; no row means a duplicate key.
            {&insertEvent,
                "INSERT INTO events (idempotency_key, metric_name, value, source, labels, ts, received_at) "
                "VALUES (?,?,?,?,?,?,?) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"},
            {&findKey, "SELECT id FROM events WHERE idempotency_key = ?"},
            {&insertTask,
                "INSERT INTO tasks (kind, ref_id, status, attempts, max_attempts, run_at, created_at) "
                "VALUES (?, ?, 'ready', 0, ?, ?, ?)"},
            {&claim, claimSql.constData()},
            // Batches go in as one JSON array bound to one parameter (json_each): one statement per
            // claim and per ack batch, whatever the batch size.
            {&loadEvent, loadEventSql.constData()},
            {&loadAction, loadActionSql.constData()},
            // Only the lease holder of this very attempt may finish a task: [task id, attempt, worker]
            // triples; an outcome that arrives after its lease was reaped changes nothing.
            {&finishEvents, finishEventsSql.constData()},
        };
        for (const auto &[query, sql] : all)
            if (!query->prepare(QString::fromLatin1(sql))) {
                *error = query->lastError().text() + QStringLiteral(" in: ") + QString::fromLatin1(sql);
                return false;
            }
        return true;
    }
};

Writer::Writer(const ServerConfig &config, MetricsRegistry &metrics, QObject *parent)
    : QObject(parent)
    , m_connection(QStringLiteral("vigil-writer-%1").arg(++g_writerIds))
    , m_config(config)
    , m_metrics(metrics)
    , m_housekeeping(this)
{
    m_ingestTotal = &metrics.counter("ingest_total", "Events accepted (committed to the database)");
    m_actionsTotal = &metrics.counter("actions_total", "Remediation actions triggered by policies");
    m_retriesTotal = &metrics.counter("worker_retries_total", "Failed task attempts scheduled for a retry");
    m_deadLetterTotal = &metrics.counter("dead_letter_total", "Tasks moved to the dead-letter list");
    m_rescuedTotal = &metrics.counter("queue_rescued_total", "Expired leases returned to the queue by the reaper");
    m_tasksSuccess
        = &metrics.counter("worker_tasks_total", "Tasks processed by workers, by result", {{"result", "success"}});
    m_tasksFailure
        = &metrics.counter("worker_tasks_total", "Tasks processed by workers, by result", {{"result", "failure"}});
    m_tasksDead
        = &metrics.counter("worker_tasks_total", "Tasks processed by workers, by result", {{"result", "dead_letter"}});
    m_commitFailures
        = &metrics.counter("writer_commit_failures_total", "Group commits that failed and were answered 503");
    m_enqueuedTotal = &metrics.counter("queue_enqueued_total", "Tasks added to the queue (events and actions)");
    m_dequeuedTotal = &metrics.counter("queue_dequeued_total", "Tasks handed to workers by claims");
    m_heartbeatTotal
        = &metrics.counter("queue_lease_extensions_total", "Leases extended by worker heartbeats (one per task)");
    m_executionsTotal = &metrics.counter(
        "remediation_executions_total", "Remediation effects applied (first delivery of an idempotency key)");
    m_duplicateDeliveries = &metrics.counter("remediation_duplicates_suppressed_total",
        "Remediation deliveries whose idempotency key had already been executed (no second effect)");
    m_jitterState = static_cast<quint64>(steadyNowNs());
}

Writer::~Writer()
{
    // Without close(): leases stay as they are (what a crash leaves; the next open rescues them).
    m_stmts.reset();
    if (QSqlDatabase::contains(m_connection))
        database::close(m_connection);
}

QSqlDatabase Writer::db() const
{
    return QSqlDatabase::database(m_connection, false);
}

bool Writer::open(const QString &location, QString *error)
{
    DatabaseLocation where;
    if (!DatabaseLocation::parse(location, &where, error))
        return false;
    m_dialect = where.dialect;
    m_location = location;
    if (!database::open(where, m_connection, m_config.durability, error))
        return false;
    QSqlDatabase conn = db();
    m_stmts = std::make_unique<Statements>(conn);
    // PostgreSQL: nodes starting together take turns to migrate and seed the default policies.
    auto startupLock = [&](const char *fn) {
        if (isPostgres())
            QSqlQuery(conn).exec(
                QStringLiteral("SELECT %1(%2)").arg(QLatin1String(fn)).arg(sqldialect::kMigrationLock));
    };
    startupLock("pg_advisory_lock");
    const bool ready = database::migrate(conn, error) && seedPolicies(error);
    startupLock("pg_advisory_unlock");
    // Before loadState(): that takes this node id's leases back, which must not happen to a live node's.
    if (!ready || !claimNodeId(error) || !loadState(error) || !m_stmts->prepare(m_dialect, error)) {
        m_stmts.reset();
        conn = QSqlDatabase(); // no handle left on the connection being removed
        database::close(m_connection);
        return false;
    }
    if (isPostgres()) {
        // Wake-ups from other nodes: they NOTIFY in the transaction that commits new ready tasks.
        // Only a hint (delivered between transactions); workers still poll as a fallback.
        connect(conn.driver(), &QSqlDriver::notification, this,
            [this](const QString &, QSqlDriver::NotificationSource source, const QVariant &) {
                if (source != QSqlDriver::SelfSource)
                    emit tasksAvailable();
            });
        subscribeWakeups();
    }
    m_open = true;
    m_housekeeping.setInterval(1000);
    connect(&m_housekeeping, &QTimer::timeout, this, &Writer::housekeeping);
    m_housekeeping.start();
    housekeeping();
    return true;
}

void Writer::subscribeWakeups()
{
    QSqlDriver *driver = db().driver();
    if (!driver->subscribeToNotification(QString::fromLatin1(sqldialect::kTaskChannel)))
        logging::warning("notify_unavailable",
            {{QStringLiteral("error"), driver->lastError().text()},
                {QStringLiteral("note"), QStringLiteral("idle workers poll once a second instead")}});
}

bool Writer::reconnectIfLost()
{
    if (!isPostgres() || (!m_checkConnection && !m_needPrepare))
        return true;
    // While the server is down, one connection attempt a second: the rest fail at once (503 to their clients).
    const qint64 now = steadyNowNs() / 1000000;
    if (m_databaseDown && now - m_lastReconnectTryMs < 1000)
        return false;
    m_lastReconnectTryMs = now;
    QString error;
    const database::Liveness state = database::ensureConnected(m_connection, &error);
    if (state == database::Liveness::Down) {
        if (!m_databaseDown || now - m_lastDownLogMs >= 10000) { // at the start, then every 10 s while it lasts
            m_lastDownLogMs = now;
            logging::event(QtCriticalMsg, "database_unreachable",
                {{QStringLiteral("database"), redactDatabaseUrl(m_location)}, {QStringLiteral("error"), error},
                    {QStringLiteral("note"),
                        QStringLiteral("requests that write get 503; reconnecting every second")}});
        }
        m_databaseDown = true;
        QMutexLocker lock(&m_stateMutex);
        m_healthy = false;
        return false;
    }
    if (state == database::Liveness::Reconnected || m_needPrepare) {
        // The old connection's prepared statements and LISTEN went with it.
        m_stmts = std::make_unique<Statements>(db());
        m_needPrepare = !m_stmts->prepare(m_dialect, &error);
        if (m_needPrepare) {
            logging::event(QtCriticalMsg, "database_prepare_failed", {{QStringLiteral("error"), error}});
            return false;
        }
        subscribeWakeups();
        logging::info("database_reconnected", {{QStringLiteral("database"), redactDatabaseUrl(m_location)}});
        m_newReadyTasks = true; // other nodes' NOTIFYs were missed meanwhile
        QMutexLocker lock(&m_stateMutex);
        m_healthy = true; // ready again (/readyz), though nothing may have been committed yet
    }
    m_databaseDown = false;
    m_checkConnection = false;
    return true;
}

bool Writer::claimNodeId(QString *error)
{
    if (!isPostgres())
        return true; // a SQLite file has one process (its lock file)
    m_instance = QUuid::createUuid().toString(QUuid::WithoutBraces);
    QElapsedTimer waited;
    waited.start();
    for (;;) {
        const qint64 now = wallNowMs();
        // Takes the row when it is new or its holder's heartbeat is older than kNodeStaleMs (a crashed
        // process); a live holder's row is left alone and nothing is returned.
        QSqlQuery q(db());
        q.prepare(QStringLiteral(
            "INSERT INTO nodes (node_id, instance, started_at, seen_at) VALUES (?, ?, ?, ?) ON CONFLICT (node_id) "
            "DO UPDATE SET instance = excluded.instance, started_at = excluded.started_at, seen_at = excluded.seen_at "
            "WHERE nodes.seen_at < ? RETURNING instance"));
        q.addBindValue(m_config.nodeId);
        q.addBindValue(m_instance);
        q.addBindValue(now);
        q.addBindValue(now);
        q.addBindValue(now - kNodeStaleMs);
        if (!q.exec()) {
            *error = QStringLiteral("cannot register node %1: %2").arg(m_config.nodeId, q.lastError().text());
            return false;
        }
        if (q.next())
            return true;
        // A process that crashed a moment ago still looks alive: wait for its heartbeat to go stale.
        if (waited.elapsed() > kNodeStaleMs + 1500) {
            QSqlQuery age(db());
            age.prepare(QStringLiteral("SELECT seen_at FROM nodes WHERE node_id = ?"));
            age.addBindValue(m_config.nodeId);
            const qint64 ms = age.exec() && age.next() ? wallNowMs() - age.value(0).toLongLong() : -1;
            *error = QStringLiteral("--node-id %1 is in use by another live node on this database (its heartbeat is "
                                    "%2 ms old): give every node its own --node-id")
                         .arg(m_config.nodeId)
                         .arg(ms);
            return false;
        }
        QThread::msleep(250);
    }
}

void Writer::nodeHeartbeat()
{
    if (!isPostgres() || m_instance.isEmpty())
        return;
    QSqlQuery q(db());
    q.prepare(QStringLiteral("UPDATE nodes SET seen_at = ? WHERE node_id = ? AND instance = ?"));
    q.addBindValue(static_cast<qint64>(wallNowMs()));
    q.addBindValue(m_config.nodeId);
    q.addBindValue(m_instance);
    if (q.exec() && q.numRowsAffected() == 0 && !m_nodeTakenOver) {
        // Our heartbeat stalled past kNodeStaleMs and another process took the node id.
        m_nodeTakenOver = true;
        logging::event(QtCriticalMsg, "node_id_taken_over",
            {{QStringLiteral("node"), m_config.nodeId},
                {QStringLiteral("note"), QStringLiteral("another process now uses this --node-id; stop one of them")}});
    }
}

bool Writer::seedPolicies(QString *error)
{
    QSqlDatabase conn = db();
    QSqlQuery count(conn);
    if (!count.exec(QStringLiteral("SELECT count(*) FROM policies")) || !count.next()) {
        *error = count.lastError().text();
        return false;
    }
    if (count.value(0).toLongLong() > 0)
        return true;
    const qint64 now = wallNowMs();
    QSqlQuery q(conn);
    q.prepare(
        QStringLiteral("INSERT INTO policies (name, metric_name, op, threshold, for_count, cooldown_s, action, params, "
                       "enabled, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)"));
    for (const Policy &p : defaultPolicies()) {
        q.addBindValue(p.name);
        q.addBindValue(p.metricName);
        q.addBindValue(compareOpText(p.op));
        q.addBindValue(p.threshold);
        q.addBindValue(p.forCount);
        q.addBindValue(p.cooldownSeconds);
        q.addBindValue(p.action);
        q.addBindValue(compactJson(p.params));
        q.addBindValue(p.enabled ? 1 : 0);
        q.addBindValue(now);
        q.addBindValue(now);
        if (!q.exec()) {
            *error = q.lastError().text();
            return false;
        }
    }
    return true;
}

bool Writer::loadState(QString *error)
{
    QSqlDatabase conn = db();
    QSqlQuery q(conn);
    // A single instance owns a SQLite file (lock file), so every lease left in it belongs to a
    // process that died: give the work back now instead of waiting for the leases to expire.
    // PostgreSQL is shared by live nodes: only this node id's own leases (left by its previous
    // run) and leases that already expired are taken back; other nodes' live leases stay.
    const qint64 now = wallNowMs();
    q.prepare(
        QStringLiteral("UPDATE tasks SET status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'ready' END, "
                       "lease_until = NULL, leased_by = NULL, run_at = CASE WHEN run_at > %1 THEN %1 ELSE run_at END "
                       "WHERE status = 'leased'%2")
            .arg(now)
            .arg(isPostgres() ? QStringLiteral(" AND (lease_until < %1 OR %2)").arg(now).arg(kOwnLeases) : QString()));
    if (isPostgres())
        bindOwnLeases(q, m_config.nodeId);
    if (!q.exec()) {
        *error = q.lastError().text();
        return false;
    }
    const int rescued = q.numRowsAffected();
    if (rescued > 0) {
        m_rescuedTotal->inc(static_cast<quint64>(rescued));
        logging::warning("leases_recovered", {{QStringLiteral("tasks"), rescued}});
    }
    QueueSnapshot s;
    if (!q.exec(QStringLiteral("SELECT status, count(*) FROM tasks GROUP BY status"))) {
        *error = q.lastError().text();
        return false;
    }
    takeStatusCounts(q, &s);
    auto scalar = [&](const QString &sql) -> qint64 {
        QSqlQuery one(conn);
        return one.exec(sql) && one.next() ? one.value(0).toLongLong() : 0;
    };
    s.enqueued = scalar(QStringLiteral("SELECT count(*) FROM tasks"));
    s.completed = s.done;
    s.deadLettered = s.dead;
    s.events = scalar(QStringLiteral("SELECT count(*) FROM events"));
    s.actions = scalar(QStringLiteral("SELECT count(*) FROM actions"));
    s.failedAttempts = scalar(QStringLiteral("SELECT count(*) FROM action_attempts WHERE outcome <> 'success'"));
    s.rescued = rescued;
    s.dequeued = scalar(QStringLiteral("SELECT coalesce(sum(attempts), 0) FROM tasks"));
    s.paused = scalar(QStringLiteral("SELECT count(*) FROM queue_settings WHERE name = 'paused' AND value = '1'")) > 0;
    m_work = s;

    QList<Policy> policies;
    if (!readPolicies(&policies, &m_policiesVersion, error))
        return false;
    if (!q.exec(QStringLiteral("SELECT policy_id, source, streak, last_fired_at FROM policy_state"))) {
        *error = q.lastError().text();
        return false;
    }
    while (q.next())
        m_policyState.insert({q.value(0).toLongLong(), q.value(1).toString()},
            PolicyState {q.value(2).toInt(), q.value(3).toLongLong()});
    if (!q.exec(QStringLiteral("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"))) {
        *error = q.lastError().text();
        return false;
    }
    if (q.next()) {
        m_auditSeq = q.value(0).toLongLong();
        m_auditHead = q.value(1).toString().toLatin1();
    }
    {
        QMutexLocker lock(&m_stateMutex);
        m_policies = std::make_shared<const QList<Policy>>(policies);
        m_workPolicies = m_policies;
    }
    publish();
    return true;
}

void Writer::close()
{
    if (!m_open)
        return;
    m_housekeeping.stop();
    flush();
    QSqlQuery q(db());
    q.prepare(
        QStringLiteral("UPDATE tasks SET status='ready', lease_until=NULL, leased_by=NULL WHERE status='leased' AND ")
        + kOwnLeases);
    bindOwnLeases(q, m_config.nodeId);
    q.exec();
    q.finish();
    if (isPostgres()) {
        notifyNewTasks(); // other nodes pick up what this one gave back
        QSqlQuery leave(db()); // a restart may take the node id at once
        leave.prepare(QStringLiteral("DELETE FROM nodes WHERE node_id = ? AND instance = ?"));
        leave.addBindValue(m_config.nodeId);
        leave.addBindValue(m_instance);
        leave.exec();
    } else {
        QSqlQuery checkpoint(db());
        checkpoint.exec(QStringLiteral("PRAGMA wal_checkpoint(TRUNCATE)"));
        checkpoint.finish();
    }
    m_open = false;
    m_stmts.reset();
    database::close(m_connection);
}

void Writer::submitIngest(IngestEvent event, std::function<void(const IngestResult &)> done)
{
    enqueue(IngestOp {std::move(event), std::move(done), {}});
}

void Writer::submitClaim(const QString &workerId, int max, std::function<void(QList<TaskItem>)> done)
{
    enqueue(ClaimOp {workerId, max, std::move(done), {}});
}

void Writer::submitOutcomes(QList<TaskOutcome> outcomes, std::function<void(bool)> done)
{
    enqueue(OutcomeOp {std::move(outcomes), std::move(done)});
}

void Writer::submitAudit(const QString &actor, const QString &kind, const QString &subject, const QJsonObject &details)
{
    enqueue(AuditOp {actor, kind, subject, details});
}

void Writer::submitReleaseLeases(const QString &nodeId, std::function<void(int)> done)
{
    enqueue(ReleaseOp {nodeId, std::move(done), 0});
}

void Writer::enqueue(Op op)
{
    bool schedule = false;
    {
        QMutexLocker lock(&m_pendingMutex);
        m_pending.push_back(std::move(op));
        if (!m_flushScheduled) {
            m_flushScheduled = true;
            schedule = true;
        }
    }
    // Group commit: one queued flush drains everything that arrived meanwhile, so batches grow
    // by themselves under load and stay at one row when idle (no artificial delay).
    if (schedule)
        QMetaObject::invokeMethod(this, &Writer::flush, Qt::QueuedConnection);
}

QueueSnapshot Writer::snapshot() const
{
    QMutexLocker lock(&m_stateMutex);
    return m_state;
}

std::shared_ptr<const QList<Policy>> Writer::policies() const
{
    QMutexLocker lock(&m_stateMutex);
    return m_policies;
}

bool Writer::isHealthy() const
{
    QMutexLocker lock(&m_stateMutex);
    return m_open && m_healthy;
}

void Writer::publish()
{
    QMutexLocker lock(&m_stateMutex);
    m_state = m_work;
}

void Writer::flush()
{
    std::vector<Op> ops;
    {
        QMutexLocker lock(&m_pendingMutex);
        ops.swap(m_pending);
        m_flushScheduled = false;
    }
    if (ops.empty())
        return;
    size_t start = 0;
    while (start < ops.size()) {
        const size_t end = std::min(ops.size(), start + static_cast<size_t>(kMaxBatch));
        std::vector<Op> batch(std::make_move_iterator(ops.begin() + static_cast<std::ptrdiff_t>(start)),
            std::make_move_iterator(ops.begin() + static_cast<std::ptrdiff_t>(end)));
        const bool ok = applyBatch(batch);
        // Answer only now: every callback below sees a committed (or a failed, rolled back) batch.
        for (Op &op : batch) {
            std::visit(
                [ok](auto &o) {
                    using T = std::decay_t<decltype(o)>;
                    if constexpr (std::is_same_v<T, IngestOp>) {
                        if (!ok)
                            o.result = IngestResult {IngestResult::Status::Failed, 0,
                                QStringLiteral("the database could not commit the event")};
                        if (o.done)
                            o.done(o.result);
                    } else if constexpr (std::is_same_v<T, ClaimOp>) {
                        if (o.done)
                            o.done(ok ? o.result : QList<TaskItem> {});
                    } else if constexpr (std::is_same_v<T, OutcomeOp>) {
                        if (o.done)
                            o.done(ok);
                    } else if constexpr (std::is_same_v<T, ReleaseOp>) {
                        if (o.done)
                            o.done(ok ? o.released : 0);
                    } else if constexpr (std::is_same_v<T, HeartbeatOp>) {
                        if (o.done)
                            o.done(ok ? o.extended : 0);
                    } else if constexpr (std::is_same_v<T, IngestBatchOp>) {
                        if (!ok)
                            o.results = QList<IngestResult>(o.events.size(),
                                IngestResult {IngestResult::Status::Failed, 0,
                                    QStringLiteral("the database could not commit the event")});
                        if (o.done)
                            o.done(o.results);
                    } else if constexpr (std::is_same_v<T, ExecutionOp>) {
                        // A failed commit recorded nothing: do not apply the effect now (the
                        // worker's attempt fails and is retried).
                        if (o.done)
                            o.done(ok, ok && o.apply);
                    } else if constexpr (std::is_same_v<T, AdminOp>) {
                        if (!ok)
                            o.result = QueueAdminResult {QueueAdminResult::Status::Failed, 0};
                        if (o.done)
                            o.done(o.result);
                    } else if constexpr (std::is_same_v<T, PolicyOp>) {
                        if (!ok)
                            o.result = PolicyResult {};
                        if (o.done)
                            o.done(o.result);
                    }
                },
                op);
        }
        start = end;
    }
    if (m_newReadyTasks) {
        m_newReadyTasks = false;
        emit tasksAvailable();
    }
}

bool Writer::sqlFail(const QString &what, const QString &error)
{
    m_checkConnection = isPostgres(); // was it the connection? reconnectIfLost() finds out before the next batch
    logging::warning("writer_sql_error", {{QStringLiteral("what"), what}, {QStringLiteral("error"), error}});
    return false;
}

bool Writer::applyBatch(std::vector<Op> &batch)
{
    if (!m_open || !reconnectIfLost()) {
        m_commitFailures->inc();
        return false;
    }
    QSqlDatabase conn = db();
    const QueueSnapshot before = m_work;
    const auto policyStateBefore = m_policyState;
    const QByteArray auditHeadBefore = m_auditHead;
    const qint64 auditSeqBefore = m_auditSeq;
    const bool newReadyBefore = m_newReadyTasks;
    const auto policiesBefore = m_workPolicies;
    const QString policiesVersionBefore = m_policiesVersion;

    QSqlQuery begin(conn);
    // SQLite: IMMEDIATE takes the write lock now; a deferred BEGIN that upgrades fails with
    // "database is locked" regardless of busy_timeout (qt-6.4-notes §2.2).
    m_sharedLocked = false;
    m_policyStateLoaded.clear();
    if (!begin.exec(sqldialect::beginWrite(m_dialect))) {
        m_commitFailures->inc();
        return sqlFail(QStringLiteral("begin"), begin.lastError().text());
    }
    bool ok = true;
    // PostgreSQL: a transaction that will touch the shared state takes its lock before any row
    // lock. A claim may keep a row lock on a task another node has just leased (SKIP LOCKED
    // locks the newest row version before re-checking it); waiting for the shared lock while
    // holding such a lock, against a node that holds the shared lock and finishes that task,
    // would be a deadlock.
    if (isPostgres() && needsSharedState(batch) && !lockSharedState()) {
        conn.rollback();
        m_commitFailures->inc();
        return false;
    }
    qint64 accepted = 0;
    qint64 actionsCreated = 0;
    const qint64 actionsBefore = m_work.actions;
    for (Op &op : batch) {
        ok = std::visit([this](auto &o) { return apply(o); }, op);
        if (!ok)
            break;
    }
    // Other nodes' idle workers wake when this commits (NOTIFY is delivered at commit, not before).
    if (ok && isPostgres() && m_work.enqueued != before.enqueued)
        ok = notifyNewTasks();
    if (ok && m_failNextCommit) {
        m_failNextCommit = false;
        ok = sqlFail(QStringLiteral("commit"), QStringLiteral("commit failure injected for testing"));
    }
    if (ok && !conn.commit())
        ok = sqlFail(QStringLiteral("commit"), conn.lastError().text());
    if (!ok) {
        conn.rollback();
        m_work = before;
        m_policyState = policyStateBefore;
        m_auditHead = auditHeadBefore;
        m_auditSeq = auditSeqBefore;
        m_newReadyTasks = newReadyBefore;
        m_workPolicies = policiesBefore;
        m_policiesVersion = policiesVersionBefore;
        m_delta = {};
        m_commitFailures->inc();
        {
            QMutexLocker lock(&m_stateMutex);
            m_healthy = false;
        }
        return false;
    }
    for (const Op &op : batch) {
        if (const auto *in = std::get_if<IngestOp>(&op); in && in->result.status == IngestResult::Status::Created)
            ++accepted;
        if (const auto *b = std::get_if<IngestBatchOp>(&op))
            for (const IngestResult &r : b->results)
                accepted += r.status == IngestResult::Status::Created ? 1 : 0;
    }
    actionsCreated = m_work.actions - actionsBefore;
    // Counters move only with what was committed.
    m_tasksSuccess->inc(m_delta.success);
    m_tasksFailure->inc(m_delta.failure);
    m_retriesTotal->inc(m_delta.failure);
    m_tasksDead->inc(m_delta.dead);
    m_deadLetterTotal->inc(m_delta.dead);
    m_executionsTotal->inc(m_delta.executed);
    m_duplicateDeliveries->inc(m_delta.duplicates);
    m_delta = {};
    m_enqueuedTotal->inc(static_cast<quint64>(std::max<qint64>(0, m_work.enqueued - before.enqueued)));
    m_dequeuedTotal->inc(static_cast<quint64>(std::max<qint64>(0, m_work.dequeued - before.dequeued)));
    m_heartbeatTotal->inc(static_cast<quint64>(std::max<qint64>(0, m_work.leaseExtensions - before.leaseExtensions)));
    m_ingestTotal->inc(static_cast<quint64>(accepted));
    m_actionsTotal->inc(static_cast<quint64>(actionsCreated));
    {
        QMutexLocker lock(&m_stateMutex);
        m_healthy = true;
        m_policies = m_workPolicies; // a committed policy edit: workers evaluate with it from now on
    }
    publish();
    return true;
}

bool Writer::apply(IngestOp &op)
{
    return insertEvent(op.event, wallNowMs(), &op.result);
}

bool Writer::insertEvent(const IngestEvent &e, qint64 now, IngestResult *result)
{
    QSqlQuery &ins = m_stmts->insertEvent;
    ins.addBindValue(e.idempotencyKey.isEmpty() ? QVariant(QMetaType(QMetaType::QString)) : QVariant(e.idempotencyKey));
    ins.addBindValue(e.metricName);
    ins.addBindValue(e.value);
    ins.addBindValue(e.source.isEmpty() ? QVariant(QMetaType(QMetaType::QString)) : QVariant(e.source));
    ins.addBindValue(e.labels.isEmpty() ? QVariant(QMetaType(QMetaType::QString)) : QVariant(compactJson(e.labels)));
    ins.addBindValue(e.timestampMs);
    ins.addBindValue(now);
    if (!ins.exec())
        return sqlFail(QStringLiteral("insert event"), ins.lastError().text());
    const bool inserted = ins.next();
    const qint64 eventId = inserted ? ins.value(0).toLongLong() : 0;
    ins.finish(); // RETURNING keeps the statement active until finished (qt-6.4-notes §2.2)
    if (!inserted) {
        // Same key as an earlier event (maybe earlier in this very batch): answer with its id.
        QSqlQuery &find = m_stmts->findKey;
        find.addBindValue(e.idempotencyKey);
        if (!find.exec() || !find.next())
            return sqlFail(QStringLiteral("find idempotency key"), find.lastError().text());
        *result = IngestResult {IngestResult::Status::Duplicate, find.value(0).toLongLong(), {}};
        find.finish();
        return true;
    }
    QSqlQuery &task = m_stmts->insertTask;
    task.addBindValue(QStringLiteral("event"));
    task.addBindValue(eventId);
    task.addBindValue(m_config.retry.maxAttempts);
    task.addBindValue(now);
    task.addBindValue(now);
    if (!task.exec())
        return sqlFail(QStringLiteral("insert task"), task.lastError().text());
    *result = IngestResult {IngestResult::Status::Created, eventId, {}};
    ++m_work.ready;
    ++m_work.enqueued;
    ++m_work.events;
    m_newReadyTasks = true;
    return true;
}

bool Writer::apply(ClaimOp &op)
{
    if (m_work.paused || op.max <= 0)
        return true;
    const qint64 now = wallNowMs();
    QSqlQuery &claim = m_stmts->claim;
    claim.addBindValue(now + m_config.leaseSeconds * 1000LL);
    claim.addBindValue(op.workerId);
    claim.addBindValue(now);
    claim.addBindValue(op.max);
    if (!claim.exec())
        return sqlFail(QStringLiteral("claim"), claim.lastError().text());
    while (claim.next()) {
        TaskItem t;
        t.taskId = claim.value(0).toLongLong();
        t.kind = claim.value(1).toString();
        t.refId = claim.value(2).toLongLong();
        t.attempts = claim.value(3).toInt();
        t.maxAttempts = claim.value(4).toInt();
        if (sqldialect::claimCarriesPayload(m_dialect)) {
            if (t.kind == QLatin1String("event")) {
                t.eventId = t.refId;
                t.metricName = claim.value(5).toString();
                t.value = claim.value(6).toDouble();
                t.source = claim.value(7).toString();
            } else {
                t.actionType = claim.value(8).toString();
                t.actionKey = claim.value(9).toString();
                t.eventId = claim.value(10).toLongLong();
                t.policyName = claim.value(11).toString();
                t.params = QJsonDocument::fromJson(claim.value(12).toString().toUtf8()).object();
            }
        }
        op.result.append(t);
    }
    claim.finish(); // RETURNING keeps the statement active until finished (qt-6.4-notes §2.2)
    if (op.result.isEmpty())
        return true;
    m_work.ready -= op.result.size();
    m_work.leased += op.result.size();
    m_work.dequeued += op.result.size();
    if (sqldialect::claimCarriesPayload(m_dialect))
        return true;

    QString eventIds, actionIds;
    QHash<qint64, qsizetype> byEvent, byAction; // ref id → index in op.result
    for (qsizetype i = 0; i < op.result.size(); ++i) {
        const TaskItem &t = op.result[i];
        const bool event = t.kind == QLatin1String("event");
        QString &list = event ? eventIds : actionIds;
        list += (list.isEmpty() ? QStringLiteral("[") : QStringLiteral(",")) + QString::number(t.refId);
        (event ? byEvent : byAction).insert(t.refId, i);
    }
    if (!eventIds.isEmpty()) {
        QSqlQuery &ev = m_stmts->loadEvent;
        ev.addBindValue(QString(eventIds + QLatin1Char(']')));
        if (!ev.exec())
            return sqlFail(QStringLiteral("load events"), ev.lastError().text());
        while (ev.next()) {
            TaskItem &t = op.result[byEvent.value(ev.value(0).toLongLong())];
            t.eventId = t.refId;
            t.metricName = ev.value(1).toString();
            t.value = ev.value(2).toDouble();
            t.source = ev.value(3).toString();
        }
        ev.finish();
    }
    if (!actionIds.isEmpty()) {
        QSqlQuery &act = m_stmts->loadAction;
        act.addBindValue(QString(actionIds + QLatin1Char(']')));
        if (!act.exec())
            return sqlFail(QStringLiteral("load actions"), act.lastError().text());
        while (act.next()) {
            TaskItem &t = op.result[byAction.value(act.value(0).toLongLong())];
            t.actionType = act.value(1).toString();
            t.actionKey = act.value(2).toString();
            t.eventId = act.value(3).toLongLong();
            t.policyName = act.value(4).toString();
            t.params = QJsonDocument::fromJson(act.value(5).toString().toUtf8()).object();
        }
        act.finish();
    }
    return true;
}

bool Writer::apply(OutcomeOp &op)
{
    const qint64 now = wallNowMs();
    // Event tasks: one acknowledging statement for the batch; policies then advance in batch order
    // for the tasks it actually finished.
    QJsonArray triples;
    for (const TaskOutcome &o : op.outcomes)
        if (o.kind == QLatin1String("event"))
            triples.append(QJsonArray {o.taskId, o.attempts, o.workerId});
    if (!triples.isEmpty()) {
        const QString json = QString::fromUtf8(QJsonDocument(triples).toJson(QJsonDocument::Compact));
        QSqlQuery &done = m_stmts->finishEvents;
        done.addBindValue(now);
        done.addBindValue(json);
        done.addBindValue(json);
        if (!done.exec())
            return sqlFail(QStringLiteral("finish event tasks"), done.lastError().text());
        QSet<qint64> finished;
        while (done.next())
            finished.insert(done.value(0).toLongLong());
        done.finish(); // RETURNING
        // PostgreSQL: the policy states these events advance, read in one statement.
        if (isPostgres() && !preloadPolicyStates(op.outcomes, finished))
            return false;
        const qint64 n = finished.size();
        m_work.leased -= n;
        m_work.done += n;
        m_work.completed += n;
        m_delta.success += quint64(n);
        for (const TaskOutcome &o : op.outcomes)
            if (o.kind == QLatin1String("event") && finished.contains(o.taskId) && !applyEventOutcome(o, now))
                return false;
    }
    for (const TaskOutcome &o : op.outcomes)
        if (o.kind != QLatin1String("event") && !applyActionOutcome(o, now))
            return false;
    return true;
}

bool Writer::preloadPolicyStates(const QList<TaskOutcome> &outcomes, const QSet<qint64> &finished)
{
    // The (policy, source) states the batch's events will advance, read in one statement under the
    // shared-state lock instead of one round trip per event (loadPolicyState then finds them loaded).
    QSqlDatabase conn = db();
    QStringList rows;
    QList<QPair<qint64, QString>> keys;
    const std::shared_ptr<const QList<Policy>> policies = m_policies;
    for (const TaskOutcome &o : outcomes) {
        if (o.kind != QLatin1String("event") || !finished.contains(o.taskId))
            continue;
        const QString source = o.source.isEmpty() ? QStringLiteral("") : o.source;
        for (const Policy &p : *policies) {
            const QPair<qint64, QString> key {p.id, source};
            if (!p.enabled || p.metricName != o.metricName || m_policyStateLoaded.contains(key) || keys.contains(key))
                continue;
            QSqlField field(QStringLiteral("source"), QMetaType(QMetaType::QString));
            field.setValue(source);
            rows << QStringLiteral("(%1,%2)").arg(p.id).arg(conn.driver()->formatValue(field));
            keys << key;
        }
    }
    if (keys.isEmpty())
        return true;
    if (!lockSharedState())
        return false;
    QSqlQuery q(conn);
    if (!q.exec(QStringLiteral("SELECT s.policy_id, s.source, s.streak, s.last_fired_at FROM policy_state s JOIN "
                               "(VALUES %1) AS k(policy_id, source) ON s.policy_id = k.policy_id AND s.source = "
                               "k.source")
                    .arg(rows.join(QLatin1Char(',')))))
        return sqlFail(QStringLiteral("read policy states"), q.lastError().text());
    for (const auto &key : std::as_const(keys)) {
        m_policyState.remove(key);
        m_policyStateLoaded.insert(key);
    }
    while (q.next())
        m_policyState.insert({q.value(0).toLongLong(), q.value(1).toString()},
            PolicyState {q.value(2).toInt(), q.value(3).toLongLong()});
    q.finish();
    return true;
}

bool Writer::applyEventOutcome(const TaskOutcome &o, qint64 now)
{
    // The task is finished (apply(OutcomeOp) acknowledged it): advance the policies.
    QSqlDatabase conn = db();

    // Events without a source share one "" state per policy (a NULL would break the key).
    const QString source = o.source.isEmpty() ? QStringLiteral("") : o.source;
    const std::shared_ptr<const QList<Policy>> policies = m_workPolicies;
    // Evaluated with another set (a policy edit committed since the worker read it): evaluate again, so no
    // event acknowledged after an edit is judged by the old policy.
    const bool stale = o.policies && o.policies != policies;
    for (const Policy &p : *policies) {
        if (!p.enabled || p.metricName != o.metricName)
            continue;
        const bool breached = stale ? breaches(p, o.metricName, o.value) : o.breached.contains(p.id);
        if (!loadPolicyState(p.id, source))
            return false;
        PolicyState &state = m_policyState[{p.id, source}];
        const PolicyState old = state;
        const bool fire = advance(p, state, breached, now);
        if (state.streak != old.streak || state.lastFiredMs != old.lastFiredMs) {
            QSqlQuery &st = m_stmts->cached(
                QStringLiteral("INSERT INTO policy_state (policy_id, source, streak, last_fired_at) VALUES (?,?,?,?) "
                               "ON CONFLICT (policy_id, source) DO UPDATE SET streak=excluded.streak, "
                               "last_fired_at=excluded.last_fired_at"));
            st.addBindValue(p.id);
            st.addBindValue(source);
            st.addBindValue(state.streak);
            st.addBindValue(state.lastFiredMs);
            if (!st.exec())
                return sqlFail(QStringLiteral("policy state"), st.lastError().text());
        }
        if (!fire)
            continue;
        const QString key = QStringLiteral("action-%1-%2").arg(o.eventId).arg(p.id);
        QSqlQuery &ins = m_stmts->cached(
            QStringLiteral("INSERT INTO actions (event_id, policy_id, type, idempotency_key, status, attempts, "
                           "created_at, updated_at) VALUES (?,?,?,?,'pending',0,?,?) ON CONFLICT DO NOTHING "
                           "RETURNING id"));
        ins.addBindValue(o.eventId);
        ins.addBindValue(p.id);
        ins.addBindValue(p.action);
        ins.addBindValue(key);
        ins.addBindValue(now);
        ins.addBindValue(now);
        if (!ins.exec())
            return sqlFail(QStringLiteral("insert action"), ins.lastError().text());
        if (!ins.next())
            continue; // unique per event × policy
        const qint64 actionId = ins.value(0).toLongLong();
        ins.finish();
        QSqlQuery &task = m_stmts->cached(
            QStringLiteral("INSERT INTO tasks (kind, ref_id, status, attempts, max_attempts, run_at, created_at) "
                           "VALUES ('action', ?, 'ready', 0, ?, ?, ?)"));
        task.addBindValue(actionId);
        task.addBindValue(m_config.retry.maxAttempts);
        task.addBindValue(now);
        task.addBindValue(now);
        if (!task.exec())
            return sqlFail(QStringLiteral("insert action task"), task.lastError().text());
        ++m_work.ready;
        ++m_work.enqueued;
        ++m_work.actions;
        m_newReadyTasks = true;
        if (!appendAudit(QStringLiteral("policy:") + p.name, QStringLiteral("action_triggered"),
                QStringLiteral("action/%1").arg(actionId),
                {{QStringLiteral("action"), p.action}, {QStringLiteral("event_id"), o.eventId},
                    {QStringLiteral("policy_id"), p.id}, {QStringLiteral("source"), o.source},
                    {QStringLiteral("idempotency_key"), key}}))
            return false;
    }
    return true;
}

bool Writer::applyActionOutcome(const TaskOutcome &o, qint64 now)
{
    RetryPolicy retry = m_config.retry;
    if (o.maxAttempts > 0)
        retry.maxAttempts = o.maxAttempts; // the task's own limit, as the reaper uses
    const bool dead = !o.success && exhausted(retry, o.attempts);
    QString newStatus = o.success ? QStringLiteral("done") : dead ? QStringLiteral("dead") : QStringLiteral("ready");
    qint64 runAt = now;
    if (!o.success && !dead) {
        const double u = Prng::hashUniform(m_jitterState, static_cast<quint64>(o.taskId * 31 + o.attempts));
        runAt = now + static_cast<qint64>(retryDelaySeconds(m_config.retry, o.attempts, u) * 1000.0);
    }
    QSqlQuery &task = m_stmts->cached(
        QStringLiteral("UPDATE tasks SET status=?, run_at=?, lease_until=NULL, leased_by=NULL, last_error=?, "
                       "finished_at=? WHERE id=? AND status='leased' AND leased_by=? AND attempts=?"));
    task.addBindValue(newStatus);
    task.addBindValue(runAt);
    task.addBindValue(o.success ? QVariant(QMetaType(QMetaType::QString)) : QVariant(o.error));
    task.addBindValue(newStatus == QLatin1String("ready") ? QVariant(QMetaType(QMetaType::LongLong)) : QVariant(now));
    task.addBindValue(o.taskId);
    task.addBindValue(o.workerId);
    task.addBindValue(o.attempts);
    if (!task.exec())
        return sqlFail(QStringLiteral("finish action task"), task.lastError().text());
    if (task.numRowsAffected() == 0)
        return true; // stale outcome: the lease was lost meanwhile
    --m_work.leased;
    const QString actionStatus = o.success ? QStringLiteral("succeeded")
        : dead                             ? QStringLiteral("dead")
                                           : QStringLiteral("retrying");
    QSqlQuery &act = m_stmts->cached(
        QStringLiteral("UPDATE actions SET status=?, attempts=?, result=?, updated_at=?, finished_at=? WHERE id=?"));
    act.addBindValue(actionStatus);
    act.addBindValue(o.attempts);
    act.addBindValue(o.success ? QStringLiteral("ok") : o.error);
    act.addBindValue(now);
    act.addBindValue(
        actionStatus == QLatin1String("retrying") ? QVariant(QMetaType(QMetaType::LongLong)) : QVariant(now));
    act.addBindValue(o.actionId);
    if (!act.exec())
        return sqlFail(QStringLiteral("update action"), act.lastError().text());
    QSqlQuery &attempt = m_stmts->cached(
        QStringLiteral("INSERT INTO action_attempts (action_id, attempt, outcome, error, duration_ms, finished_at, "
                       "node) VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING"));
    attempt.addBindValue(o.actionId);
    attempt.addBindValue(o.attempts);
    attempt.addBindValue(o.success ? QStringLiteral("success") : QStringLiteral("failure"));
    attempt.addBindValue(o.success ? QVariant(QMetaType(QMetaType::QString)) : QVariant(o.error));
    attempt.addBindValue(o.durationMs);
    attempt.addBindValue(now);
    attempt.addBindValue(o.workerId);
    if (!attempt.exec())
        return sqlFail(QStringLiteral("insert attempt"), attempt.lastError().text());

    QJsonObject details {{QStringLiteral("attempt"), o.attempts}, {QStringLiteral("duration_ms"), o.durationMs},
        {QStringLiteral("worker"), o.workerId}};
    QString kind;
    if (o.success) {
        ++m_work.done;
        ++m_work.completed;
        ++m_delta.success;
        kind = QStringLiteral("action_succeeded");
    } else if (dead) {
        ++m_work.dead;
        ++m_work.deadLettered;
        ++m_work.failedAttempts;
        ++m_delta.dead;
        kind = QStringLiteral("action_dead_lettered");
        details.insert(QStringLiteral("error"), o.error);
    } else {
        ++m_work.ready;
        ++m_work.retried;
        ++m_work.failedAttempts;
        ++m_delta.failure;
        kind = QStringLiteral("action_failed");
        details.insert(QStringLiteral("error"), o.error);
        details.insert(QStringLiteral("retry_at"), isoUtc(runAt, true));
    }
    return appendAudit(
        QStringLiteral("worker:") + o.workerId, kind, QStringLiteral("action/%1").arg(o.actionId), details);
}

bool Writer::apply(AuditOp &op)
{
    return appendAudit(op.actor, op.kind, op.subject, op.details);
}

bool Writer::apply(ReleaseOp &op)
{
    QSqlQuery q(db());
    q.prepare(
        QStringLiteral("UPDATE tasks SET status='ready', lease_until=NULL, leased_by=NULL WHERE status='leased' AND ")
        + kOwnLeases);
    bindOwnLeases(q, op.nodeId);
    if (!q.exec())
        return sqlFail(QStringLiteral("release leases"), q.lastError().text());
    op.released = q.numRowsAffected();
    m_work.leased -= op.released;
    m_work.ready += op.released;
    if (op.released > 0) {
        m_newReadyTasks = true;
        if (isPostgres())
            return notifyNewTasks();
    }
    return true;
}

bool Writer::needsSharedState(const std::vector<Op> &batch) const
{
    const std::shared_ptr<const QList<Policy>> policies = m_policies;
    for (const Op &op : batch) {
        if (std::holds_alternative<AuditOp>(op) || std::holds_alternative<AdminOp>(op))
            return true; // both append audit entries
        if (const auto *out = std::get_if<OutcomeOp>(&op)) {
            for (const TaskOutcome &o : out->outcomes) {
                if (o.kind != QLatin1String("event"))
                    return true; // action outcomes append audit entries
                for (const Policy &p : *policies)
                    if (p.enabled && p.metricName == o.metricName)
                        return true;
            }
        }
    }
    return false;
}

bool Writer::lockSharedState()
{
    if (!isPostgres() || m_sharedLocked)
        return true;
    QSqlQuery q(db());
    if (!q.exec(QStringLiteral("SELECT pg_advisory_xact_lock(%1)").arg(sqldialect::kAuditChainLock)))
        return sqlFail(QStringLiteral("lock shared state"), q.lastError().text());
    q.finish();
    // Another node may have appended since: the head is whatever is committed now.
    if (!q.exec(QStringLiteral("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")))
        return sqlFail(QStringLiteral("read audit head"), q.lastError().text());
    if (q.next()) {
        m_auditSeq = q.value(0).toLongLong();
        m_auditHead = q.value(1).toString().toLatin1();
    } else {
        m_auditSeq = 0;
        m_auditHead = audit::kGenesis;
    }
    q.finish();
    m_sharedLocked = true;
    // Policy edits of other nodes committed before this lock: this transaction evaluates and edits with them.
    bool changed = false;
    return syncPolicies(&changed);
}

bool Writer::loadPolicyState(qint64 policyId, const QString &source)
{
    if (!isPostgres())
        return true; // SQLite: this writer is the only one, its memory is the truth
    const QPair<qint64, QString> key {policyId, source};
    if (m_policyStateLoaded.contains(key))
        return true;
    // Under the shared-state lock, so the for_count streak and cooldown see every node's firings.
    if (!lockSharedState())
        return false;
    QSqlQuery &q = m_stmts->cached(
        QStringLiteral("SELECT streak, last_fired_at FROM policy_state WHERE policy_id = ? AND source = ?"));
    q.addBindValue(policyId);
    q.addBindValue(source);
    if (!q.exec())
        return sqlFail(QStringLiteral("read policy state"), q.lastError().text());
    if (q.next())
        m_policyState.insert(key, PolicyState {q.value(0).toInt(), q.value(1).toLongLong()});
    else
        m_policyState.remove(key);
    q.finish();
    m_policyStateLoaded.insert(key);
    return true;
}

bool Writer::readPolicies(QList<Policy> *out, QString *version, QString *error)
{
    QSqlQuery q(db());
    if (!q.exec(QStringLiteral("SELECT value FROM queue_settings WHERE name = 'policies_version'"))) {
        *error = q.lastError().text();
        return false;
    }
    *version = q.next() ? q.value(0).toString() : QString();
    q.finish();
    if (!q.exec(QStringLiteral("SELECT %1 FROM policies ORDER BY id").arg(QLatin1String(kPolicyColumns)))) {
        *error = q.lastError().text();
        return false;
    }
    out->clear();
    while (q.next())
        out->append(policyFromRow(q));
    q.finish();
    return true;
}

bool Writer::syncPolicies(bool *changed)
{
    *changed = false;
    if (!isPostgres())
        return true; // SQLite: this writer makes every edit, its working set is the table
    QSqlQuery q(db());
    if (!q.exec(QStringLiteral("SELECT value FROM queue_settings WHERE name = 'policies_version'")))
        return sqlFail(QStringLiteral("policies version"), q.lastError().text());
    const QString version = q.next() ? q.value(0).toString() : QString();
    q.finish();
    if (version == m_policiesVersion)
        return true;
    // Another node edited the policies: take the table's set (the streaks and cooldowns are read per
    // transaction anyway, see loadPolicyState).
    QList<Policy> policies;
    QString error;
    if (!readPolicies(&policies, &m_policiesVersion, &error))
        return sqlFail(QStringLiteral("reload policies"), error);
    setWorkPolicies(std::move(policies));
    *changed = true;
    return true;
}

bool Writer::notifyNewTasks()
{
    QSqlQuery q(db());
    if (!q.exec(QStringLiteral("NOTIFY ") + QLatin1String(sqldialect::kTaskChannel)))
        return sqlFail(QStringLiteral("notify"), q.lastError().text());
    return true;
}

void Writer::refreshCountsFromDatabase()
{
    // Several nodes change the queue: the depths and totals are the database's, re-read once a
    // second (local counters would only see this node's share). Rates stay per node.
    QSqlQuery q(db());
    if (!q.exec(QStringLiteral("SELECT status, count(*) FROM tasks GROUP BY status")))
        return;
    QueueSnapshot s = m_work;
    takeStatusCounts(q, &s);
    q.finish();
    s.enqueued = s.ready + s.leased + s.done + s.dead;
    s.completed = s.done;
    s.deadLettered = s.dead;
    // Pause/resume on any node holds for all of them (queue_settings is shared).
    if (q.exec(QStringLiteral("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM actions), "
                              "(SELECT count(*) FROM queue_settings WHERE name = 'paused' AND value = '1')"))
        && q.next()) {
        s.events = q.value(0).toLongLong();
        s.actions = q.value(1).toLongLong();
        s.paused = q.value(2).toLongLong() > 0;
    }
    q.finish();
    m_work = s;
}

bool Writer::appendAudit(const QString &actor, const QString &kind, const QString &subject, const QJsonObject &details)
{
    if (!lockSharedState())
        return false;
    const qint64 seq = m_auditSeq + 1;
    const qint64 ts = wallNowMs();
    const QString detailsJson = compactJson(details);
    const QByteArray hash = audit::entryHash(m_auditHead, seq, ts, actor, kind, subject, details);
    QSqlQuery &q = m_stmts->cached(QStringLiteral(
        "INSERT INTO audit_log (seq, ts, actor, kind, subject, details, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?)"));
    q.addBindValue(seq);
    q.addBindValue(ts);
    q.addBindValue(actor);
    q.addBindValue(kind);
    q.addBindValue(subject);
    q.addBindValue(detailsJson);
    q.addBindValue(QString::fromLatin1(m_auditHead));
    q.addBindValue(QString::fromLatin1(hash));
    if (!q.exec())
        return sqlFail(QStringLiteral("audit"), q.lastError().text());
    m_auditSeq = seq;
    m_auditHead = hash;
    return true;
}

void Writer::housekeeping()
{
    if (!m_open)
        return;
    // PostgreSQL: after a failed statement, find out whether the connection is gone, and if so open it again.
    if (!reconnectIfLost())
        return;
    nodeHeartbeat();
    flush();
    QSqlDatabase conn = db();
    const qint64 now = wallNowMs();
    // Reaper: leases that expired go back to ready (a rescue), or to the dead letters when the
    // task has used up its attempts (a task that keeps killing its worker must not loop forever).
    // Any node reaps any node's expired leases (a dead node's work is rescued by the others); on
    // PostgreSQL rows another node is changing right now are skipped, never waited for.
    // An action task dead-lettered here also ends its action (status, audit entry), in the same
    // transaction. On PostgreSQL that appends to the shared audit chain, whose lock must come
    // before any row lock (see applyBatch): look first, lock if it may be needed.
    bool actionsMayDie = false;
    {
        QSqlQuery look(conn);
        look.prepare(QStringLiteral("SELECT 1 FROM tasks WHERE status='leased' AND lease_until < ? AND "
                                    "attempts >= max_attempts AND kind='action' LIMIT 1"));
        look.addBindValue(now);
        actionsMayDie = look.exec() && look.next();
    }
    const QByteArray auditHeadBefore = m_auditHead;
    const qint64 auditSeqBefore = m_auditSeq;
    m_sharedLocked = false;
    QSqlQuery begin(conn);
    if (begin.exec(sqldialect::beginWrite(m_dialect))) {
        bool ok = !actionsMayDie || !isPostgres() || lockSharedState();
        QSqlQuery dead(conn);
        dead.prepare(
            QStringLiteral("UPDATE tasks SET status='dead', lease_until=NULL, leased_by=NULL, finished_at=?, "
                           "last_error='lease expired on the last attempt' WHERE id IN (SELECT id FROM tasks WHERE "
                           "status='leased' AND lease_until < ? AND attempts >= max_attempts%1) "
                           "RETURNING kind, ref_id, attempts")
                .arg(sqldialect::skipLocked(m_dialect)));
        dead.addBindValue(now);
        dead.addBindValue(now);
        QSqlQuery ready(conn);
        ready.prepare(QStringLiteral("UPDATE tasks SET status='ready', lease_until=NULL, leased_by=NULL, "
                                     "last_error='lease expired' WHERE id IN (SELECT id FROM tasks WHERE "
                                     "status='leased' AND lease_until < ?%1)")
                          .arg(sqldialect::skipLocked(m_dialect)));
        ready.addBindValue(now);
        int nDead = 0, nReady = 0;
        QList<QPair<qint64, int>> deadActions; // action id, attempts
        if (ok && (ok = dead.exec())) {
            while (dead.next()) {
                ++nDead;
                if (dead.value(0).toString() == QLatin1String("action"))
                    deadActions.append({dead.value(1).toLongLong(), dead.value(2).toInt()});
            }
            dead.finish();
        }
        const QString reason = QStringLiteral("lease expired on the last attempt");
        for (const auto &[actionId, attempts] : std::as_const(deadActions)) {
            if (!ok)
                break;
            QSqlQuery act(conn);
            act.prepare(QStringLiteral(
                "UPDATE actions SET status='dead', attempts=?, result=?, updated_at=?, finished_at=? WHERE id=?"));
            act.addBindValue(attempts);
            act.addBindValue(reason);
            act.addBindValue(now);
            act.addBindValue(now);
            act.addBindValue(actionId);
            ok = act.exec()
                && appendAudit(QStringLiteral("reaper:") + m_config.nodeId, QStringLiteral("action_dead_lettered"),
                    QStringLiteral("action/%1").arg(actionId),
                    {{QStringLiteral("attempt"), attempts}, {QStringLiteral("error"), reason}});
        }
        // numRowsAffected() is sqlite3_changes() of the connection: read it right after the exec.
        ok = ok && ready.exec()
            && ((nReady = ready.numRowsAffected()), (!isPostgres() || nReady == 0 || notifyNewTasks()))
            && conn.commit();
        if (ok) {
            if (nDead + nReady > 0) {
                m_work.leased -= nDead + nReady;
                m_work.dead += nDead;
                m_work.deadLettered += nDead;
                m_work.ready += nReady;
                m_work.rescued += nReady;
                m_rescuedTotal->inc(static_cast<quint64>(nReady));
                m_deadLetterTotal->inc(static_cast<quint64>(nDead));
                m_newReadyTasks = nReady > 0;
                logging::warning(
                    "leases_expired", {{QStringLiteral("rescued"), nReady}, {QStringLiteral("dead"), nDead}});
            }
        } else {
            conn.rollback();
            m_auditHead = auditHeadBefore;
            m_auditSeq = auditSeqBefore;
        }
    }
    QSqlQuery stats(conn);
    stats.prepare(QStringLiteral("SELECT min(run_at) FROM tasks WHERE status='ready' AND run_at <= ?"));
    stats.addBindValue(now);
    if (stats.exec() && stats.next())
        m_work.oldestReadyAgeSeconds
            = stats.value(0).isNull() ? 0.0 : double(now - stats.value(0).toLongLong()) / 1000.0;
    stats.finish();
    QSqlQuery scheduled(conn);
    scheduled.prepare(QStringLiteral("SELECT count(*) FROM tasks WHERE status='ready' AND run_at > ?"));
    scheduled.addBindValue(now);
    if (scheduled.exec() && scheduled.next()) {
        const qint64 n = scheduled.value(0).toLongLong();
        // Retries that came due since the last tick: wake idle workers.
        if (n < m_work.scheduled)
            m_newReadyTasks = true;
        m_work.scheduled = n;
    }
    scheduled.finish();
    if (isPostgres()) {
        refreshCountsFromDatabase();
        // Policy edits made through other nodes reach this node's workers within a second (sooner when a
        // transaction of this node takes the shared-state lock first).
        bool changed = false;
        if (syncPolicies(&changed) && changed) {
            QMutexLocker lock(&m_stateMutex);
            m_policies = m_workPolicies;
        }
    }
    publish();
    if (m_newReadyTasks) {
        m_newReadyTasks = false;
        emit tasksAvailable();
    }
}

} // namespace vigil
