#pragma once

#include "validation.h"

#include <QJsonObject>
#include <QSqlQuery>
#include <QList>
#include <QString>
#include <QStringList>

#include <optional>

namespace vigil {

// Threshold policies (DESIGN.md §5): "when metric <op> threshold for for_count evaluations in a row, run action,
// at most once per cooldown per (policy, source)".

enum class CompareOp { Gt, Ge, Lt, Le, Eq };

// Accepts exactly ">", ">=", "<", "<=", "=="; *op is written only on success.
bool parseCompareOp(const QString &text, CompareOp *op);
QString compareOpText(CompareOp op);

struct Policy
{
    qint64 id = 0; // 0: not stored yet
    QString name;
    QString metricName;
    CompareOp op = CompareOp::Gt;
    double threshold = 0;
    int forCount = 1; // consecutive breaching evaluations needed to fire
    int cooldownSeconds = 0; // minimum time between two firings for the same (policy, source)
    QString action; // remediation kind, e.g. "restart_service"
    QJsonObject params; // handed to the remediator as is
    bool enabled = true;
};

// enabled && same metric && `value <op> threshold`. == (and the equality half of >= and <=) allows a relative
// tolerance of 1e-9, see policy.cpp.
bool breaches(const Policy &p, const QString &metricName, double value);

// for_count / cooldown state per (policy, source), kept by the single writer (DESIGN.md §9), never in a worker.
struct PolicyState
{
    int streak = 0; // consecutive breaches since the last non-breach or firing (saturates at forCount)
    qint64 lastFiredMs = -1; // -1: never fired
};

// Feed one evaluation in order. Returns true when an action must fire now: the streak of consecutive breaches
// reached forCount and the cooldown since lastFiredMs has passed. A non-breach resets the streak. Firing resets the
// streak and sets lastFiredMs. A breach during cooldown keeps the streak at forCount, so a condition that still
// holds fires on the first evaluation after the cooldown ends. With a cooldown, a clock that went backwards
// (nowMs < lastFiredMs) counts as still cooling down: a late remediation is safer than an action storm.
bool advance(const Policy &p, PolicyState &state, bool breached, qint64 nowMs);

// cpu_usage > 90 → restart_service, memory_usage > 85 → clear_cache, error_rate > 5 → rollback,
// disk_usage > 95 → expand_volume; for_count 1, cooldown 30 s, ids 0 (not stored yet).
QList<Policy> defaultPolicies();
// The policy in the current row of a query whose first ten columns are, in this order: id, name,
// metric_name, op, threshold, for_count, cooldown_s, action, params, enabled (kPolicyColumns).
inline constexpr char kPolicyColumns[]
    = "id, name, metric_name, op, threshold, for_count, cooldown_s, action, params, enabled";
Policy policyFromRow(const QSqlQuery &q);

// Keys: id, name, metric_name, op, threshold, for_count, cooldown_s, action, params, enabled.
QJsonObject policyToJson(const Policy &p);
// Reads what policyToJson writes. Required: name, metric_name, op, threshold, action. Optional (null = absent):
// id (default 0), for_count (1), cooldown_s (0), params ({}), enabled (true). Unknown keys are refused, like ingest.
// Returns a message naming the field, or nullopt; *out is written only on success.
std::optional<QString> policyFromJson(const QJsonObject &o, Policy *out);

// The remediation kinds a policy may name (the `action` field): the kinds of the default set, which every
// remediator handles. Sorted.
QStringList supportedActions();
// policyFromJson's rules plus `action` ∈ supportedActions(), with an error code for the API (unknown_field,
// missing_field, invalid_type, invalid_value) and the field it names. *out is written only on success.
std::optional<ValidationError> validatePolicyObject(const QJsonObject &o, Policy *out);

// Limits enforced by policyFromJson.
inline constexpr int kMaxPolicyForCount = 1'000'000;
inline constexpr int kMaxPolicyCooldownSeconds = 365 * 24 * 3600;
inline constexpr int kMaxPolicyNameLength = 128;

} // namespace vigil
