// Writer operations for policy edits (POST/PUT/PATCH/DELETE /api/v1/policies). Kept apart from writer.cpp like
// writer_queue.cpp. Everything here runs on the writer thread inside the open group-commit transaction, with its
// audit entry in the same transaction; the new policy set becomes the workers' set when the batch commits
// (Writer::applyBatch publishes m_workPolicies), and callbacks run after the commit.
#include "writer.h"

#include "util.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QSqlError>
#include <QSqlQuery>
#include <QUuid>

#include <algorithm>

namespace vigil {

namespace {
QString compactJson(const QJsonObject &o)
{
    return QString::fromUtf8(QJsonDocument(o).toJson(QJsonDocument::Compact));
}

// The fields of the trigger condition: a streak counted under another condition says nothing about this one.
bool conditionChanged(const Policy &a, const Policy &b)
{
    return a.metricName != b.metricName || a.op != b.op || a.threshold != b.threshold || a.forCount != b.forCount
        || a.enabled != b.enabled;
}

QStringList changedFields(const Policy &before, const Policy &after)
{
    const QJsonObject a = policyToJson(before);
    const QJsonObject b = policyToJson(after);
    QStringList out;
    for (auto it = b.constBegin(); it != b.constEnd(); ++it)
        if (a.value(it.key()) != it.value())
            out.append(it.key());
    return out;
}

void bindPolicy(QSqlQuery &q, const Policy &p)
{
    q.addBindValue(p.name);
    q.addBindValue(p.metricName);
    q.addBindValue(compareOpText(p.op));
    q.addBindValue(p.threshold);
    q.addBindValue(p.forCount);
    q.addBindValue(p.cooldownSeconds);
    q.addBindValue(p.action);
    q.addBindValue(compactJson(p.params));
    q.addBindValue(p.enabled ? 1 : 0);
}
} // namespace

void Writer::submitPolicyCreate(Policy policy, const AuditActor &who, std::function<void(PolicyResult)> done)
{
    enqueue(PolicyOp {PolicyOp::Kind::Create, 0, std::move(policy), {}, who, std::move(done), {}});
}

void Writer::submitPolicyReplace(
    qint64 id, Policy policy, const AuditActor &who, std::function<void(PolicyResult)> done)
{
    enqueue(PolicyOp {PolicyOp::Kind::Replace, id, std::move(policy), {}, who, std::move(done), {}});
}

void Writer::submitPolicyPatch(
    qint64 id, QJsonObject fields, const AuditActor &who, std::function<void(PolicyResult)> done)
{
    enqueue(PolicyOp {PolicyOp::Kind::Patch, id, {}, std::move(fields), who, std::move(done), {}});
}

void Writer::submitPolicyDelete(qint64 id, const AuditActor &who, std::function<void(PolicyResult)> done)
{
    enqueue(PolicyOp {PolicyOp::Kind::Delete, id, {}, {}, who, std::move(done), {}});
}

void Writer::setWorkPolicies(QList<Policy> policies)
{
    std::sort(policies.begin(), policies.end(), [](const Policy &a, const Policy &b) { return a.id < b.id; });
    m_workPolicies = std::make_shared<const QList<Policy>>(std::move(policies));
}

bool Writer::nameTaken(const QString &name, qint64 exceptId, bool *taken)
{
    QSqlQuery q(db());
    q.prepare(QStringLiteral("SELECT 1 FROM policies WHERE name = ? AND id <> ?"));
    q.addBindValue(name);
    q.addBindValue(exceptId);
    if (!q.exec())
        return sqlFail(QStringLiteral("policy name"), q.lastError().text());
    *taken = q.next();
    q.finish();
    return true;
}

bool Writer::markPoliciesChanged()
{
    // A new token, not a counter: nodes only compare it with the one they read.
    m_policiesVersion = QUuid::createUuid().toString(QUuid::WithoutBraces);
    QSqlQuery q(db());
    q.prepare(QStringLiteral("INSERT INTO queue_settings (name, value) VALUES ('policies_version', ?) "
                             "ON CONFLICT (name) DO UPDATE SET value = excluded.value"));
    q.addBindValue(m_policiesVersion);
    if (!q.exec())
        return sqlFail(QStringLiteral("policies version"), q.lastError().text());
    return true;
}

bool Writer::apply(PolicyOp &op)
{
    const qint64 now = wallNowMs();
    // PostgreSQL: edits on several nodes take turns (name check, id choice and write in one critical section),
    // starting from the table's current set.
    if (!lockSharedState())
        return false;
    switch (op.kind) {
    case PolicyOp::Kind::Create:
        return applyPolicyCreate(op, now);
    case PolicyOp::Kind::Replace:
    case PolicyOp::Kind::Patch:
        return applyPolicyUpdate(op, now);
    case PolicyOp::Kind::Delete:
        return applyPolicyDelete(op);
    }
    return false;
}

bool Writer::applyPolicyCreate(PolicyOp &op, qint64 now)
{
    Policy p = op.policy;
    bool taken = false;
    if (!nameTaken(p.name, 0, &taken))
        return false;
    if (taken) {
        op.result.status = PolicyResult::Status::DuplicateName;
        op.result.policy = p;
        return true;
    }
    // Ids are never reused: SQLite hands out max(id) + 1 again after a delete, and "policy/5" in the audit trail
    // would then name two policies. The highest id ever assigned is kept with the queue's settings.
    QSqlDatabase conn = db();
    // Two scalars compared here: SQLite's two-argument max() is GREATEST() on PostgreSQL.
    QSqlQuery next(conn);
    if (!next.exec(QStringLiteral(
            "SELECT (SELECT coalesce(max(id), 0) FROM policies), (SELECT coalesce(max(CAST(value AS INTEGER)), 0) "
            "FROM queue_settings WHERE name = 'policy_id_high_water')"))
        || !next.next())
        return sqlFail(QStringLiteral("next policy id"), next.lastError().text());
    p.id = std::max(next.value(0).toLongLong(), next.value(1).toLongLong()) + 1;
    next.finish();
    QSqlQuery q(conn);
    q.prepare(QStringLiteral(
        "INSERT INTO policies (id, name, metric_name, op, threshold, for_count, cooldown_s, action, params, "
        "enabled, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"));
    q.addBindValue(p.id);
    bindPolicy(q, p);
    q.addBindValue(now);
    q.addBindValue(now);
    if (!q.exec())
        return sqlFail(QStringLiteral("insert policy"), q.lastError().text());
    QSqlQuery mark(conn);
    mark.prepare(QStringLiteral("INSERT INTO queue_settings (name, value) VALUES ('policy_id_high_water', ?) "
                                "ON CONFLICT (name) DO UPDATE SET value = excluded.value"));
    mark.addBindValue(QString::number(p.id));
    if (!mark.exec())
        return sqlFail(QStringLiteral("policy id high water"), mark.lastError().text());
    QList<Policy> policies = *m_workPolicies;
    policies.append(p);
    setWorkPolicies(std::move(policies));
    if (!markPoliciesChanged())
        return false;
    op.result.status = PolicyResult::Status::Ok;
    op.result.policy = p;
    op.result.createdAtMs = now;
    op.result.updatedAtMs = now;
    return appendAudit(op.who.actor, QStringLiteral("policy_created"), QStringLiteral("policy/%1").arg(p.id),
        {{QStringLiteral("remote_address"), op.who.remoteAddress}, {QStringLiteral("after"), policyToJson(p)}});
}

bool Writer::applyPolicyUpdate(PolicyOp &op, qint64 now)
{
    // The working set mirrors the table (loaded at open, changed only here), so it answers "which policy".
    QList<Policy> policies = *m_workPolicies;
    const auto it = std::find_if(policies.begin(), policies.end(), [&](const Policy &p) { return p.id == op.id; });
    if (it == policies.end()) {
        op.result.status = PolicyResult::Status::NotFound;
        return true;
    }
    const Policy before = *it;
    Policy after = op.policy;
    if (op.kind == PolicyOp::Kind::Patch) {
        QJsonObject merged = policyToJson(before);
        for (auto f = op.fields.constBegin(); f != op.fields.constEnd(); ++f)
            merged.insert(f.key(), f.value());
        if (auto e = validatePolicyObject(merged, &after)) {
            op.result.status = PolicyResult::Status::Invalid;
            op.result.error = *e;
            return true;
        }
    }
    after.id = before.id;
    bool taken = false;
    if (!nameTaken(after.name, after.id, &taken))
        return false;
    if (taken) {
        op.result.status = PolicyResult::Status::DuplicateName;
        op.result.policy = after;
        return true;
    }
    QSqlDatabase conn = db();
    QSqlQuery q(conn);
    q.prepare(QStringLiteral("UPDATE policies SET name=?, metric_name=?, op=?, threshold=?, for_count=?, cooldown_s=?, "
                             "action=?, params=?, enabled=?, updated_at=? WHERE id=? RETURNING created_at"));
    bindPolicy(q, after);
    q.addBindValue(now);
    q.addBindValue(after.id);
    if (!q.exec())
        return sqlFail(QStringLiteral("update policy"), q.lastError().text());
    const qint64 createdAt = q.next() ? q.value(0).toLongLong() : now;
    q.finish(); // RETURNING

    // for_count streaks restart when the condition they counted changed (or the policy was switched off or on);
    // the cooldown (last firing per source) is kept: the target was remediated then, whatever the new threshold.
    const bool reset = conditionChanged(before, after);
    if (reset) {
        QSqlQuery st(conn);
        st.prepare(QStringLiteral("UPDATE policy_state SET streak = 0 WHERE policy_id = ?"));
        st.addBindValue(after.id);
        if (!st.exec())
            return sqlFail(QStringLiteral("reset policy state"), st.lastError().text());
        for (auto s = m_policyState.begin(); s != m_policyState.end(); ++s)
            if (s.key().first == after.id)
                s.value().streak = 0;
    }
    *it = after;
    setWorkPolicies(std::move(policies));
    if (!markPoliciesChanged())
        return false;
    op.result.status = PolicyResult::Status::Ok;
    op.result.policy = after;
    op.result.createdAtMs = createdAt;
    op.result.updatedAtMs = now;
    op.result.changed = changedFields(before, after);
    op.result.streakReset = reset;
    return appendAudit(op.who.actor, QStringLiteral("policy_updated"), QStringLiteral("policy/%1").arg(after.id),
        {{QStringLiteral("remote_address"), op.who.remoteAddress}, {QStringLiteral("before"), policyToJson(before)},
            {QStringLiteral("after"), policyToJson(after)},
            {QStringLiteral("changed"), QJsonArray::fromStringList(op.result.changed)},
            {QStringLiteral("streak_reset"), reset}});
}

bool Writer::applyPolicyDelete(PolicyOp &op)
{
    QList<Policy> policies = *m_workPolicies;
    const auto it = std::find_if(policies.begin(), policies.end(), [&](const Policy &p) { return p.id == op.id; });
    if (it == policies.end()) {
        op.result.status = PolicyResult::Status::NotFound;
        return true;
    }
    const Policy before = *it;
    op.result.policy = before;
    QSqlDatabase conn = db();
    // Actions keep their policy id (GET /api/v1/actions shows the policy's name, dead letters its params): a policy
    // with history stays, and the client is told to disable it instead.
    QSqlQuery used(conn);
    used.prepare(QStringLiteral("SELECT count(*) FROM actions WHERE policy_id = ?"));
    used.addBindValue(op.id);
    if (!used.exec() || !used.next())
        return sqlFail(QStringLiteral("policy actions"), used.lastError().text());
    op.result.actions = used.value(0).toLongLong();
    used.finish();
    if (op.result.actions > 0) {
        op.result.status = PolicyResult::Status::InUse;
        return true;
    }
    QSqlQuery del(conn);
    del.prepare(QStringLiteral("DELETE FROM policies WHERE id = ?"));
    del.addBindValue(op.id);
    if (!del.exec())
        return sqlFail(QStringLiteral("delete policy"), del.lastError().text());
    QSqlQuery st(conn);
    st.prepare(QStringLiteral("DELETE FROM policy_state WHERE policy_id = ?"));
    st.addBindValue(op.id);
    if (!st.exec())
        return sqlFail(QStringLiteral("delete policy state"), st.lastError().text());
    for (auto s = m_policyState.begin(); s != m_policyState.end();)
        s = s.key().first == op.id ? m_policyState.erase(s) : std::next(s);
    policies.erase(it);
    setWorkPolicies(std::move(policies));
    if (!markPoliciesChanged())
        return false;
    op.result.status = PolicyResult::Status::Ok;
    return appendAudit(op.who.actor, QStringLiteral("policy_deleted"), QStringLiteral("policy/%1").arg(op.id),
        {{QStringLiteral("remote_address"), op.who.remoteAddress}, {QStringLiteral("before"), policyToJson(before)}});
}

} // namespace vigil
