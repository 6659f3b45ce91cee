#pragma once

#include "config.h"
#include "policy.h"
#include "sqldialect.h"
#include "validation.h"

#include <QHash>
#include <QJsonObject>
#include <QMutex>
#include <QSet>
#include <QObject>
#include <QStringList>
#include <QSqlDatabase>
#include <QTimer>

#include <algorithm>
#include <functional>
#include <memory>
#include <variant>
#include <vector>

namespace vigil {

class MetricsRegistry;
class Counter;

// A claimed task with what its worker needs to process it.
struct TaskItem
{
    qint64 taskId = 0;
    QString kind; // "event" or "action"
    qint64 refId = 0; // event id or action id
    int attempts = 0; // including this one
    int maxAttempts = 0;
    // kind == "event"
    QString metricName;
    double value = 0;
    QString source;
    // kind == "action"
    QString actionType;
    QString actionKey; // idempotency key handed to the remediator
    QString policyName;
    QJsonObject params;
    qint64 eventId = 0;
};

// What a worker reports back for one task.
struct TaskOutcome
{
    qint64 taskId = 0;
    QString kind;
    int attempts = 0; // the attempt number this outcome belongs to (stale outcomes are ignored)
    int maxAttempts = 0; // the task's own limit (0: the configured default)
    QString workerId;
    // event: ids of the policies the event breached (evaluated by the worker)
    QString metricName;
    QString source;
    qint64 eventId = 0;
    QList<qint64> breached;
    double value = 0;
    // The policy set `breached` was computed with (Writer::policies()). When the set changed before the outcome
    // is committed, the writer evaluates `value` again against the current set, so a policy edit applies to every
    // event acknowledged after it commits. Null: `breached` is taken as is.
    std::shared_ptr<const QList<Policy>> policies;
    // action
    qint64 actionId = 0;
    bool success = true;
    QString error;
    double durationMs = 0;
};

struct IngestResult
{
    enum class Status { Created, Duplicate, Failed };
    Status status = Status::Failed;
    qint64 id = 0;
    QString error;
};

struct QueueSnapshot
{
    qint64 ready = 0; // includes scheduled retries
    qint64 scheduled = 0; // ready but run_at in the future (retry backoff)
    qint64 leased = 0;
    qint64 done = 0;
    qint64 dead = 0;
    double oldestReadyAgeSeconds = 0;
    bool paused = false;
    qint64 enqueued = 0; // totals since the database was created
    qint64 completed = 0;
    qint64 failedAttempts = 0;
    qint64 retried = 0;
    qint64 deadLettered = 0;
    qint64 rescued = 0;
    qint64 dequeued = 0; // tasks handed to workers by claims (rescued tasks count again)
    qint64 leaseExtensions = 0; // leases extended by worker heartbeats
    qint64 actions = 0;
    qint64 events = 0;
    qint64 depth() const { return ready + leased; }
    // `scheduled` is refreshed once a second while `ready` moves with every claim, so the split
    // is clamped: a retry that came due and was claimed meanwhile must not make "due" negative.
    qint64 scheduledNow() const { return std::clamp<qint64>(scheduled, 0, std::max<qint64>(0, ready)); }
    qint64 due() const { return std::max<qint64>(0, ready - scheduledNow()); }
};

// The answer to a dead-letter or pause operation (DELETE/POST /api/v1/queue/...).
struct QueueAdminResult
{
    enum class Status { Ok, NotFound, NotDead, Failed };
    Status status = Status::Failed;
    qint64 count = 0; // tasks changed
};

// The answer to a policy edit (POST/PUT/PATCH/DELETE /api/v1/policies...).
struct PolicyResult
{
    enum class Status { Ok, NotFound, DuplicateName, InUse, Invalid, Failed };
    Status status = Status::Failed;
    Policy policy; // as stored (after the edit; before a delete)
    qint64 createdAtMs = 0;
    qint64 updatedAtMs = 0;
    QStringList changed; // fields an update changed
    bool streakReset = false; // the for_count streaks of the policy were reset (docs/API.md)
    qint64 actions = 0; // InUse: actions that reference the policy
    ValidationError error; // Invalid: a PATCH whose merged policy is not valid
};

// Who asked for an operator action, for its audit entry.
struct AuditActor
{
    QString actor; // e.g. anonymous@127.0.0.1
    QString remoteAddress;
};

// Owns the only write connection to the SQLite database and serialises every write through
// group commits: ingest inserts, claims, outcomes and audit appends are queued by any thread
// and applied in order, up to kMaxBatch per transaction (BEGIN IMMEDIATE). Callbacks run on
// the writer thread only after the commit, so "acked" means durable; a failed commit fails
// every operation of the batch (ingest answers 503, nothing half-acknowledged).
class Writer final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(Writer)
public:
    static constexpr int kMaxBatch = 512;

    Writer(const ServerConfig &config, MetricsRegistry &metrics, QObject *parent = nullptr);
    ~Writer() override;

    // Writer thread only (Backend invokes them there). `location`: a SQLite file path or a
    // postgresql:// URL (several nodes may share one PostgreSQL database; see docs/architecture.md).
    bool open(const QString &location, QString *error);
    void close(); // applies what is pending, releases this node's leases, closes the connection

    // Thread-safe: callable from any thread. Callbacks run on the writer thread.
    void submitIngest(IngestEvent event, std::function<void(const IngestResult &)> done);
    void submitClaim(const QString &workerId, int max, std::function<void(QList<TaskItem>)> done);
    void submitOutcomes(QList<TaskOutcome> outcomes, std::function<void(bool ok)> done = {});
    void submitAudit(const QString &actor, const QString &kind, const QString &subject, const QJsonObject &details);
    // Returns every task leased by `nodeId` to ready (shutdown with work left in flight).
    void submitReleaseLeases(const QString &nodeId, std::function<void(int released)> done = {});
    // Heartbeat: extends the leases of `taskIds` still held by `workerId` to now + lease, in one
    // statement. `done` gets the number of leases extended (fewer: some were lost to the reaper).
    void submitHeartbeat(const QString &workerId, QList<qint64> taskIds, std::function<void(int extended)> done = {});
    // Several events in one operation (one transaction): results in the order of `events`.
    void submitIngestBatch(QList<IngestEvent> events, std::function<void(const QList<IngestResult> &)> done);
    // The effect ledger of an action's idempotency key: counts the delivery and answers whether the
    // effect is to be applied now (true: first time, recorded as executed) or was applied before.
    // ok is false when the commit failed (nothing recorded, nothing to apply).
    void submitExecution(
        const QString &idempotencyKey, const QString &workerId, std::function<void(bool ok, bool apply)> done);
    // Dead letters. taskId 0 = all dead tasks. Retry gives a task a fresh set of attempts.
    enum class DeadAction { Retry, Discard };
    void submitDeadLetter(
        DeadAction action, qint64 taskId, const AuditActor &who, std::function<void(QueueAdminResult)> done);
    // Workers stop (paused) or resume claiming; persisted, so a paused queue stays paused after a restart.
    void submitPause(bool paused, const AuditActor &who, std::function<void(QueueAdminResult)> done);

    // Policy edits, each committed with its audit entry (policy_created / _updated / _deleted). The workers see
    // the new set as soon as the edit commits (policies()). Replace takes a validated policy; patch the fields to
    // change (validated after merging them into the stored policy). Delete refuses a policy that actions refer to.
    void submitPolicyCreate(Policy policy, const AuditActor &who, std::function<void(PolicyResult)> done);
    void submitPolicyReplace(qint64 id, Policy policy, const AuditActor &who, std::function<void(PolicyResult)> done);
    void submitPolicyPatch(
        qint64 id, QJsonObject fields, const AuditActor &who, std::function<void(PolicyResult)> done);
    void submitPolicyDelete(qint64 id, const AuditActor &who, std::function<void(PolicyResult)> done);

    // PostgreSQL: a node whose heartbeat (once a second) is older than this is taken for dead; its
    // --node-id may then be used again (see claimNodeId).
    static constexpr qint64 kNodeStaleMs = 5000;

    QueueSnapshot snapshot() const;
    std::shared_ptr<const QList<Policy>> policies() const;
    bool isHealthy() const;

    // For tests: make the next commit fail as if the disk were full.
    void failNextCommitForTesting() { m_failNextCommit = true; }

signals:
    void tasksAvailable(); // new ready tasks were committed (ingest, retry due, rescue)

private:
    struct IngestOp
    {
        IngestEvent event;
        std::function<void(const IngestResult &)> done;
        IngestResult result;
    };
    struct ClaimOp
    {
        QString workerId;
        int max;
        std::function<void(QList<TaskItem>)> done;
        QList<TaskItem> result;
    };
    struct OutcomeOp
    {
        QList<TaskOutcome> outcomes;
        std::function<void(bool)> done;
    };
    struct AuditOp
    {
        QString actor, kind, subject;
        QJsonObject details;
    };
    struct ReleaseOp
    {
        QString nodeId;
        std::function<void(int)> done;
        int released = 0;
    };
    struct HeartbeatOp
    {
        QString workerId;
        QList<qint64> taskIds;
        std::function<void(int)> done;
        int extended = 0;
    };
    struct IngestBatchOp
    {
        QList<IngestEvent> events;
        std::function<void(const QList<IngestResult> &)> done;
        QList<IngestResult> results;
    };
    struct ExecutionOp
    {
        QString key, workerId;
        std::function<void(bool, bool)> done;
        bool apply = false;
    };
    struct AdminOp
    {
        enum class Kind { Retry, Discard, Pause, Resume } kind;
        qint64 taskId = 0;
        AuditActor who;
        std::function<void(QueueAdminResult)> done;
        QueueAdminResult result;
    };
    struct PolicyOp
    {
        enum class Kind { Create, Replace, Patch, Delete } kind;
        qint64 id = 0;
        Policy policy;
        QJsonObject fields; // Patch
        AuditActor who;
        std::function<void(PolicyResult)> done;
        PolicyResult result;
    };
    using Op = std::variant<IngestOp, ClaimOp, OutcomeOp, AuditOp, ReleaseOp, HeartbeatOp, IngestBatchOp, ExecutionOp,
        AdminOp, PolicyOp>;

    void enqueue(Op op);
    void flush();
    bool applyBatch(std::vector<Op> &batch);
    bool apply(IngestOp &op);
    bool apply(ClaimOp &op);
    bool apply(OutcomeOp &op);
    bool apply(AuditOp &op);
    bool apply(ReleaseOp &op);
    bool apply(HeartbeatOp &op);
    bool apply(IngestBatchOp &op);
    bool apply(ExecutionOp &op);
    bool apply(AdminOp &op);
    bool apply(PolicyOp &op); // writer_policies.cpp
    bool applyPolicyCreate(PolicyOp &op, qint64 now);
    bool applyPolicyUpdate(PolicyOp &op, qint64 now);
    bool applyPolicyDelete(PolicyOp &op);
    bool nameTaken(const QString &name, qint64 exceptId, bool *taken);
    void setWorkPolicies(QList<Policy> policies);
    bool insertEvent(const IngestEvent &e, qint64 now, IngestResult *result);
    bool applyDeadLetter(AdminOp &op, qint64 now);
    bool applyPause(AdminOp &op, qint64 now);
    bool applyEventOutcome(const TaskOutcome &o, qint64 now);
    bool preloadPolicyStates(const QList<TaskOutcome> &outcomes, const QSet<qint64> &finished);
    bool applyActionOutcome(const TaskOutcome &o, qint64 now);
    bool appendAudit(const QString &actor, const QString &kind, const QString &subject, const QJsonObject &details);
    // PostgreSQL: what other nodes also write (audit chain head, policy state) is serialised across
    // nodes by a transaction-scoped advisory lock, taken at the first need in a transaction; the
    // chain head is then re-read from the database. A no-op on SQLite (the lock file makes this
    // writer the only one).
    bool lockSharedState();
    bool needsSharedState(const std::vector<Op> &batch) const;
    bool loadPolicyState(qint64 policyId, const QString &source);
    // The policies table and its version token (queue_settings 'policies_version', replaced by every edit).
    bool readPolicies(QList<Policy> *out, QString *version, QString *error);
    // PostgreSQL: re-reads the policies when another node's edit changed the version; a no-op on SQLite.
    bool syncPolicies(bool *changed);
    bool markPoliciesChanged();
    bool notifyNewTasks();
    void subscribeWakeups(); // PostgreSQL: LISTEN on the task channel
    bool reconnectIfLost(); // PostgreSQL: false while the server cannot be reached
    // PostgreSQL: registers this process as the one running --node-id (table nodes), waiting up to
    // kNodeStaleMs for a crashed predecessor's heartbeat to go stale; refuses a live one's id.
    bool claimNodeId(QString *error);
    void nodeHeartbeat(); // 1 Hz
    void refreshCountsFromDatabase();
    bool isPostgres() const { return m_dialect == SqlDialect::Postgres; }
    bool loadState(QString *error);
    bool seedPolicies(QString *error);
    void housekeeping(); // 1 Hz: reap expired leases, refresh scheduled/oldest, wake workers for due retries
    void publish();
    bool sqlFail(const QString &what, const QString &error);

    struct Statements;
    std::unique_ptr<Statements> m_stmts;
    QString m_connection;
    SqlDialect m_dialect = SqlDialect::Sqlite;
    QSqlDatabase db() const;
    ServerConfig m_config;
    MetricsRegistry &m_metrics;
    Counter *m_ingestTotal = nullptr;
    Counter *m_actionsTotal = nullptr;
    Counter *m_retriesTotal = nullptr;
    Counter *m_deadLetterTotal = nullptr;
    Counter *m_rescuedTotal = nullptr;
    Counter *m_tasksSuccess = nullptr;
    Counter *m_tasksFailure = nullptr;
    Counter *m_tasksDead = nullptr;
    Counter *m_commitFailures = nullptr;
    Counter *m_enqueuedTotal = nullptr;
    Counter *m_dequeuedTotal = nullptr;
    Counter *m_heartbeatTotal = nullptr;
    Counter *m_executionsTotal = nullptr;
    Counter *m_duplicateDeliveries = nullptr;

    mutable QMutex m_pendingMutex;
    std::vector<Op> m_pending;
    bool m_flushScheduled = false;

    // Writer-thread state; `m_work` is edited inside a transaction and becomes `m_state` on commit.
    QueueSnapshot m_work;
    mutable QMutex m_stateMutex;
    QueueSnapshot m_state;
    std::shared_ptr<const QList<Policy>> m_policies; // published: what workers evaluate with (m_stateMutex)
    std::shared_ptr<const QList<Policy>> m_workPolicies; // writer thread: the set of the open transaction
    QString m_location; // as given to open() (a PostgreSQL URL carries its password: log it redacted)
    bool m_needPrepare = false; // reconnected, but preparing the statements failed: try again
    QString m_instance; // PostgreSQL: this process's row in nodes
    bool m_nodeTakenOver = false;
    bool m_checkConnection = false; // PostgreSQL: a statement failed; was it the connection?
    bool m_databaseDown = false;
    qint64 m_lastDownLogMs = 0;
    qint64 m_lastReconnectTryMs = 0;
    QString m_policiesVersion; // writer thread: the version token m_workPolicies was read at
    QHash<QPair<qint64, QString>, PolicyState> m_policyState;
    QByteArray m_auditHead = QByteArray(64, '0'); // hash of the last audit entry (audit::kGenesis)
    qint64 m_auditSeq = 0;
    bool m_newReadyTasks = false;
    // PostgreSQL, per transaction: the shared-state lock is held, policy states read in it.
    bool m_sharedLocked = false;
    QSet<QPair<qint64, QString>> m_policyStateLoaded;
    struct CounterDelta
    {
        quint64 success = 0, failure = 0, dead = 0, enqueued = 0, dequeued = 0, extended = 0, executed = 0,
                duplicates = 0;
    } m_delta; // task results of the open transaction, added to the metrics on commit
    bool m_open = false;
    bool m_failNextCommit = false;
    bool m_healthy = true;
    QTimer m_housekeeping;
    quint64 m_jitterState = 0x5eed;
};

} // namespace vigil
