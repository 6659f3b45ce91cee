// Writer operations for queue control: lease heartbeats, batch ingest, the effect ledger of
// actions, dead letters and pause/resume. Kept apart from writer.cpp (group commit, claims,
// outcomes, reaper) so each file stays about one thing. Everything here runs on the writer
// thread inside the open group-commit transaction; callbacks run after the commit.
#include "writer.h"

#include "sqldialect.h"

#include "logger.h"
#include "util.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QSqlError>
#include <QSqlQuery>

namespace vigil {

namespace {
// A list of ids as one bound JSON array, expanded by json_each (SQLite) or json_array_elements_text
// (PostgreSQL, sqldialect::idsFromJson): one statement per batch
// whatever its size (no statement text that grows with the batch, no per-row round trips).
QString idArray(const QList<qint64> &ids)
{
    QString out = QStringLiteral("[");
    for (qsizetype i = 0; i < ids.size(); ++i) {
        if (i > 0)
            out += QLatin1Char(',');
        out += QString::number(ids[i]);
    }
    out += QLatin1Char(']');
    return out;
}

QJsonObject whoJson(const AuditActor &who)
{
    return {{QStringLiteral("remote_address"), who.remoteAddress}};
}
} // namespace

void Writer::submitHeartbeat(const QString &workerId, QList<qint64> taskIds, std::function<void(int)> done)
{
    enqueue(HeartbeatOp {workerId, std::move(taskIds), std::move(done), 0});
}

void Writer::submitIngestBatch(QList<IngestEvent> events, std::function<void(const QList<IngestResult> &)> done)
{
    enqueue(IngestBatchOp {std::move(events), std::move(done), {}});
}

void Writer::submitExecution(
    const QString &idempotencyKey, const QString &workerId, std::function<void(bool, bool)> done)
{
    enqueue(ExecutionOp {idempotencyKey, workerId, std::move(done), false});
}

void Writer::submitDeadLetter(
    DeadAction action, qint64 taskId, const AuditActor &who, std::function<void(QueueAdminResult)> done)
{
    enqueue(AdminOp {action == DeadAction::Retry ? AdminOp::Kind::Retry : AdminOp::Kind::Discard, taskId, who,
        std::move(done), {}});
}

void Writer::submitPause(bool paused, const AuditActor &who, std::function<void(QueueAdminResult)> done)
{
    enqueue(AdminOp {paused ? AdminOp::Kind::Pause : AdminOp::Kind::Resume, 0, who, std::move(done), {}});
}

bool Writer::apply(HeartbeatOp &op)
{
    if (op.taskIds.isEmpty())
        return true;
    QSqlQuery q(db());
    // Only leases this worker still holds: one the reaper already gave away stays given away.
    q.prepare(QStringLiteral("UPDATE tasks SET lease_until = ? WHERE status = 'leased' AND leased_by = ? AND id IN "
                             "(%1)").arg(sqldialect::idsFromJson(m_dialect)));
    q.addBindValue(wallNowMs() + m_config.leaseSeconds * 1000LL);
    q.addBindValue(op.workerId);
    q.addBindValue(idArray(op.taskIds));
    if (!q.exec())
        return sqlFail(QStringLiteral("heartbeat"), q.lastError().text());
    op.extended = q.numRowsAffected();
    m_work.leaseExtensions += op.extended;
    return true;
}

bool Writer::apply(IngestBatchOp &op)
{
    const qint64 now = wallNowMs();
    op.results.reserve(op.events.size());
    for (const IngestEvent &e : op.events) {
        IngestResult r;
        if (!insertEvent(e, now, &r))
            return false; // the whole transaction fails: nothing of the batch is acknowledged
        op.results.append(r);
    }
    return true;
}

bool Writer::apply(ExecutionOp &op)
{
    // The writer is the only writer, so this read-then-write cannot race another delivery of the
    // same key: the first delivery records the execution, every later one is told not to act.
    const qint64 now = wallNowMs();
    QSqlQuery q(db());
    q.prepare(QStringLiteral("UPDATE actions SET deliveries = deliveries + 1, executions = executions + 1, "
                             "executed_at = ?, executed_by = ? WHERE idempotency_key = ? AND executions = 0"));
    q.addBindValue(now);
    q.addBindValue(op.workerId);
    q.addBindValue(op.key);
    if (!q.exec())
        return sqlFail(QStringLiteral("record execution"), q.lastError().text());
    op.apply = q.numRowsAffected() > 0;
    if (op.apply) {
        ++m_delta.executed;
        return true;
    }
    QSqlQuery dup(db());
    dup.prepare(QStringLiteral("UPDATE actions SET deliveries = deliveries + 1 WHERE idempotency_key = ?"));
    dup.addBindValue(op.key);
    if (!dup.exec())
        return sqlFail(QStringLiteral("record delivery"), dup.lastError().text());
    if (dup.numRowsAffected() > 0)
        ++m_delta.duplicates;
    return true;
}

bool Writer::apply(AdminOp &op)
{
    const qint64 now = wallNowMs();
    if (op.kind == AdminOp::Kind::Pause || op.kind == AdminOp::Kind::Resume)
        return applyPause(op, now);
    return applyDeadLetter(op, now);
}

bool Writer::applyPause(AdminOp &op, qint64 now)
{
    Q_UNUSED(now)
    const bool pause = op.kind == AdminOp::Kind::Pause;
    QSqlQuery q(db());
    q.prepare(QStringLiteral("INSERT INTO queue_settings (name, value) VALUES ('paused', ?) "
                             "ON CONFLICT (name) DO UPDATE SET value = excluded.value"));
    q.addBindValue(pause ? QStringLiteral("1") : QStringLiteral("0"));
    if (!q.exec())
        return sqlFail(QStringLiteral("pause"), q.lastError().text());
    const bool changed = m_work.paused != pause;
    m_work.paused = pause;
    op.result = QueueAdminResult {QueueAdminResult::Status::Ok, changed ? 1 : 0};
    if (!pause && changed)
        m_newReadyTasks = true; // wake idle workers
    QJsonObject details = whoJson(op.who);
    details.insert(QStringLiteral("changed"), changed);
    details.insert(QStringLiteral("ready"), m_work.ready);
    details.insert(QStringLiteral("leased"), m_work.leased);
    return appendAudit(
        op.who.actor, pause ? QStringLiteral("queue_paused") : QStringLiteral("queue_resumed"), QStringLiteral("queue"),
        details);
}

bool Writer::applyDeadLetter(AdminOp &op, qint64 now)
{
    const bool retry = op.kind == AdminOp::Kind::Retry;
    const bool one = op.taskId > 0;
    QSqlDatabase conn = db();
    // Which dead tasks (and their actions) this touches, for the action rows and the audit entry.
    QList<qint64> ids;
    QList<qint64> actionIds;
    {
        QSqlQuery sel(conn);
        sel.prepare(one ? QStringLiteral("SELECT id, kind, ref_id, status FROM tasks WHERE id = ?")
                        : QStringLiteral("SELECT id, kind, ref_id, status FROM tasks WHERE status = 'dead' ORDER BY id"));
        if (one)
            sel.addBindValue(op.taskId);
        if (!sel.exec())
            return sqlFail(QStringLiteral("select dead letters"), sel.lastError().text());
        bool found = false;
        while (sel.next()) {
            found = true;
            if (sel.value(3).toString() != QLatin1String("dead"))
                continue;
            ids.append(sel.value(0).toLongLong());
            if (sel.value(1).toString() == QLatin1String("action"))
                actionIds.append(sel.value(2).toLongLong());
        }
        sel.finish();
        if (one && !found) {
            op.result = QueueAdminResult {QueueAdminResult::Status::NotFound, 0};
            return true;
        }
        if (one && ids.isEmpty()) {
            op.result = QueueAdminResult {QueueAdminResult::Status::NotDead, 0};
            return true;
        }
    }
    if (!ids.isEmpty()) {
        QSqlQuery q(conn);
        if (retry) {
            // A fresh set of attempts on top of the ones made: attempt numbers stay unique in
            // action_attempts, and the task is claimable at once.
            q.prepare(QStringLiteral(
                "UPDATE tasks SET status = 'ready', max_attempts = attempts + ?, run_at = ?, lease_until = NULL, "
                "leased_by = NULL, finished_at = NULL WHERE status = 'dead' AND id IN (%1)").arg(sqldialect::idsFromJson(m_dialect)));
            q.addBindValue(m_config.retry.maxAttempts);
            q.addBindValue(now);
        } else {
            q.prepare(
                QStringLiteral("DELETE FROM tasks WHERE status = 'dead' AND id IN (%1)").arg(sqldialect::idsFromJson(m_dialect)));
        }
        q.addBindValue(idArray(ids));
        if (!q.exec())
            return sqlFail(QStringLiteral("dead letters"), q.lastError().text());
        const int n = q.numRowsAffected();
        if (!actionIds.isEmpty()) {
            QSqlQuery act(conn);
            act.prepare(QStringLiteral("UPDATE actions SET status = ?, updated_at = ?, finished_at = ? "
                                       "WHERE id IN (%1)").arg(sqldialect::idsFromJson(m_dialect)));
            act.addBindValue(retry ? QStringLiteral("retrying") : QStringLiteral("discarded"));
            act.addBindValue(now);
            act.addBindValue(retry ? QVariant(QMetaType(QMetaType::LongLong)) : QVariant(now));
            act.addBindValue(idArray(actionIds));
            if (!act.exec())
                return sqlFail(QStringLiteral("dead letter actions"), act.lastError().text());
        }
        m_work.dead -= n;
        if (retry) {
            m_work.ready += n;
            m_newReadyTasks = n > 0;
        }
        op.result = QueueAdminResult {QueueAdminResult::Status::Ok, n};
    } else {
        op.result = QueueAdminResult {QueueAdminResult::Status::Ok, 0};
    }
    QJsonObject details = whoJson(op.who);
    details.insert(QStringLiteral("tasks"), op.result.count);
    if (one)
        details.insert(QStringLiteral("task_id"), op.taskId);
    else
        details.insert(QStringLiteral("task_ids"), QJsonArray::fromVariantList([&] {
            QVariantList l;
            for (qint64 id : ids.mid(0, 100)) // the first 100: an audit entry is not a dump
                l.append(id);
            return l;
        }()));
    const QString kind = retry ? (one ? QStringLiteral("dead_letter_retried") : QStringLiteral("dead_letters_retried"))
                               : (one ? QStringLiteral("dead_letter_discarded") : QStringLiteral("dead_letters_purged"));
    return appendAudit(op.who.actor, kind, one ? QStringLiteral("task/%1").arg(op.taskId) : QStringLiteral("queue"),
        details);
}

} // namespace vigil
