#include "policy.h"

#include <algorithm>
#include <array>
#include <cmath>

#include <QJsonDocument>
#include <QJsonValue>

#include "validation.h"

namespace vigil {

using namespace Qt::StringLiterals;

namespace {

constexpr auto kId = "id"_L1;
constexpr auto kName = "name"_L1;
constexpr auto kMetricName = "metric_name"_L1;
constexpr auto kOp = "op"_L1;
constexpr auto kThreshold = "threshold"_L1;
constexpr auto kForCount = "for_count"_L1;
constexpr auto kCooldown = "cooldown_s"_L1;
constexpr auto kAction = "action"_L1;
constexpr auto kParams = "params"_L1;
constexpr auto kEnabled = "enabled"_L1;
constexpr auto kUnknownField = "unknown_field"_L1;
constexpr auto kMissingField = "missing_field"_L1;
constexpr auto kInvalidType = "invalid_type"_L1;
constexpr auto kInvalidValue = "invalid_value"_L1;
constexpr std::array<QLatin1StringView, 10> kFields {
    kId, kName, kMetricName, kOp, kThreshold, kForCount, kCooldown, kAction, kParams, kEnabled};

// Ids travel through JSON as doubles; above 2^53 they would silently change (DESIGN.md §3).
constexpr double kMaxId = 9007199254740992.0; // 2^53

// Metric values are decimals that clients computed and printed (0.1 + 0.2 arrives as 0.30000000000000004), so an
// exact == would miss the value a user obviously meant. A relative tolerance of 1e-9 is ~10^7 times the rounding
// error of a double yet far below the resolution of any real metric; the absolute floor of 1e-12 lets a threshold
// of 0 match values that are zero up to rounding.
constexpr double kRelativeTolerance = 1e-9;
constexpr double kAbsoluteTolerance = 1e-12;

bool approximatelyEqual(double a, double b)
{
    const double scale = std::max(std::abs(a), std::abs(b));
    return std::abs(a - b) <= std::max(kAbsoluteTolerance, kRelativeTolerance * scale);
}

bool isAbsent(const QJsonValue &v)
{
    return v.isUndefined() || v.isNull();
}

ValidationError fieldError(QLatin1StringView code, QLatin1StringView field, const QString &message)
{
    return ValidationError {QString(code), message, QString(field)};
}

// Reads an optional integral number in [min, max].
std::optional<ValidationError> readInteger(
    const QJsonObject &o, QLatin1StringView field, double min, double max, double fallback, double *out)
{
    const QJsonValue v = o.value(field);
    if (isAbsent(v)) {
        *out = fallback;
        return std::nullopt;
    }
    const double d = v.toDouble();
    if (!v.isDouble() || !std::isfinite(d) || d != std::floor(d) || d < min || d > max)
        return fieldError(v.isDouble() ? kInvalidValue : kInvalidType, field,
            u"Field '%1' must be an integer from %2 to %3 (got %4)."_s.arg(field, QString::number(min, 'f', 0),
                QString::number(max, 'f', 0), v.isDouble() ? QString::number(d, 'g', 17) : jsonTypeName(v)));
    *out = d;
    return std::nullopt;
}

std::optional<ValidationError> readName(const QJsonObject &o, QLatin1StringView field, bool metricStyle, QString *out)
{
    const QJsonValue v = o.value(field);
    if (isAbsent(v))
        return fieldError(kMissingField, field, u"Field '%1' is required."_s.arg(field));
    if (!v.isString())
        return fieldError(kInvalidType, field, u"Field '%1' must be a string (got %2)."_s.arg(field, jsonTypeName(v)));
    const QString text = v.toString();
    if (metricStyle) {
        if (!isValidMetricName(text, kMaxPolicyNameLength))
            return fieldError(kInvalidValue, field,
                u"Field '%1' must be 1–%2 characters of letters, digits, '_', ':', '.' and '-', starting with a "
                u"letter, '_' or ':' (got \"%3\")."_s.arg(
                    field, QString::number(kMaxPolicyNameLength), text.left(kMaxPolicyNameLength)));
    } else if (text.isEmpty() || text.toUcs4().size() > kMaxPolicyNameLength || !isPrintableText(text)) {
        return fieldError(kInvalidValue, field,
            u"Field '%1' must be 1–%2 printable characters."_s.arg(field, QString::number(kMaxPolicyNameLength)));
    }
    *out = text;
    return std::nullopt;
}

Policy makeDefault(const QString &name, const QString &metric, double threshold, const QString &action)
{
    Policy p;
    p.name = name;
    p.metricName = metric;
    p.op = CompareOp::Gt;
    p.threshold = threshold;
    p.forCount = 1;
    p.cooldownSeconds = 30;
    p.action = action;
    return p;
}

} // namespace

bool parseCompareOp(const QString &text, CompareOp *op)
{
    struct Entry
    {
        QLatin1StringView text;
        CompareOp op;
    };
    static constexpr std::array<Entry, 5> kOps {{{">"_L1, CompareOp::Gt}, {">="_L1, CompareOp::Ge},
        {"<"_L1, CompareOp::Lt}, {"<="_L1, CompareOp::Le}, {"=="_L1, CompareOp::Eq}}};
    for (const Entry &e : kOps) {
        if (text == e.text) {
            if (op)
                *op = e.op;
            return true;
        }
    }
    return false;
}

QString compareOpText(CompareOp op)
{
    switch (op) {
    case CompareOp::Gt:
        return u">"_s;
    case CompareOp::Ge:
        return u">="_s;
    case CompareOp::Lt:
        return u"<"_s;
    case CompareOp::Le:
        return u"<="_s;
    case CompareOp::Eq:
        return u"=="_s;
    }
    return {};
}

bool breaches(const Policy &p, const QString &metricName, double value)
{
    if (!p.enabled || metricName != p.metricName || std::isnan(value))
        return false;
    // > and < stay exact so that "> 90" never fires on exactly 90; >= and <= include the == tolerance so that
    // "== t" implies ">= t" and "<= t".
    switch (p.op) {
    case CompareOp::Gt:
        return value > p.threshold;
    case CompareOp::Ge:
        return value > p.threshold || approximatelyEqual(value, p.threshold);
    case CompareOp::Lt:
        return value < p.threshold;
    case CompareOp::Le:
        return value < p.threshold || approximatelyEqual(value, p.threshold);
    case CompareOp::Eq:
        return approximatelyEqual(value, p.threshold);
    }
    return false;
}

bool advance(const Policy &p, PolicyState &state, bool breached, qint64 nowMs)
{
    if (!breached) {
        state.streak = 0;
        return false;
    }
    const int needed = std::max(1, p.forCount);
    // Saturate: the streak only has to know "reached forCount", and must not overflow on a long incident.
    state.streak = std::min(state.streak + 1, needed);
    if (state.streak < needed)
        return false;
    const qint64 cooldownMs = qint64(std::max(0, p.cooldownSeconds)) * 1000;
    if (state.lastFiredMs >= 0 && cooldownMs > 0) {
        if (nowMs < state.lastFiredMs || nowMs - state.lastFiredMs < cooldownMs)
            return false;
    }
    state.streak = 0;
    state.lastFiredMs = nowMs;
    return true;
}

QList<Policy> defaultPolicies()
{
    return {
        makeDefault(u"high-cpu"_s, u"cpu_usage"_s, 90, u"restart_service"_s),
        makeDefault(u"high-memory"_s, u"memory_usage"_s, 85, u"clear_cache"_s),
        makeDefault(u"high-error-rate"_s, u"error_rate"_s, 5, u"rollback"_s),
        makeDefault(u"disk-full"_s, u"disk_usage"_s, 95, u"expand_volume"_s),
    };
}

QJsonObject policyToJson(const Policy &p)
{
    QJsonObject o;
    o.insert(kId, p.id);
    o.insert(kName, p.name);
    o.insert(kMetricName, p.metricName);
    o.insert(kOp, compareOpText(p.op));
    o.insert(kThreshold, p.threshold);
    o.insert(kForCount, p.forCount);
    o.insert(kCooldown, p.cooldownSeconds);
    o.insert(kAction, p.action);
    o.insert(kParams, p.params);
    o.insert(kEnabled, p.enabled);
    return o;
}

namespace {

std::optional<ValidationError> checkPolicyJson(const QJsonObject &o, Policy *out)
{
    for (auto it = o.constBegin(); it != o.constEnd(); ++it) {
        if (std::find(kFields.begin(), kFields.end(), it.key()) == kFields.end())
            return ValidationError {QString(kUnknownField),
                u"Unknown field '%1'; allowed fields are id, name, metric_name, op, threshold, for_count, "
                u"cooldown_s, action, params and enabled."_s.arg(it.key().left(64)),
                it.key().left(64)};
    }

    Policy p;
    double number = 0;
    if (auto e = readInteger(o, kId, 0, kMaxId - 1, 0, &number))
        return e;
    p.id = static_cast<qint64>(number);
    if (auto e = readName(o, kName, false, &p.name))
        return e;
    if (auto e = readName(o, kMetricName, true, &p.metricName))
        return e;

    const QJsonValue op = o.value(kOp);
    if (isAbsent(op))
        return fieldError(kMissingField, kOp, u"Field 'op' is required: one of >, >=, <, <=, ==."_s);
    if (!op.isString() || !parseCompareOp(op.toString(), &p.op))
        return fieldError(op.isString() ? kInvalidValue : kInvalidType, kOp,
            u"Field 'op' must be one of \">\", \">=\", \"<\", \"<=\", \"==\" (got %1)."_s.arg(
                op.isString() ? u"\""_s + op.toString().left(16) + u"\""_s : jsonTypeName(op)));

    const QJsonValue threshold = o.value(kThreshold);
    if (isAbsent(threshold))
        return fieldError(kMissingField, kThreshold, u"Field 'threshold' is required."_s);
    if (!threshold.isDouble())
        return fieldError(kInvalidType, kThreshold,
            u"Field 'threshold' must be a finite number (got %1)."_s.arg(jsonTypeName(threshold)));
    if (!std::isfinite(threshold.toDouble()))
        return fieldError(kInvalidValue, kThreshold,
            u"Field 'threshold' must be a finite number (got a number "
            u"outside the double range)."_s);
    p.threshold = threshold.toDouble();

    if (auto e = readInteger(o, kForCount, 1, kMaxPolicyForCount, 1, &number))
        return e;
    p.forCount = static_cast<int>(number);
    if (auto e = readInteger(o, kCooldown, 0, kMaxPolicyCooldownSeconds, 0, &number))
        return e;
    p.cooldownSeconds = static_cast<int>(number);
    if (auto e = readName(o, kAction, true, &p.action))
        return e;

    const QJsonValue params = o.value(kParams);
    if (!isAbsent(params)) {
        if (!params.isObject())
            return fieldError(
                kInvalidType, kParams, u"Field 'params' must be an object (got %1)."_s.arg(jsonTypeName(params)));
        p.params = params.toObject();
    }
    const QJsonValue enabled = o.value(kEnabled);
    if (!isAbsent(enabled)) {
        if (!enabled.isBool())
            return fieldError(kInvalidType, kEnabled,
                u"Field 'enabled' must be true or false (got %1)."_s.arg(jsonTypeName(enabled)));
        p.enabled = enabled.toBool();
    }
    if (out)
        *out = std::move(p);
    return std::nullopt;
}

} // namespace

std::optional<QString> policyFromJson(const QJsonObject &o, Policy *out)
{
    if (auto e = checkPolicyJson(o, out))
        return e->message;
    return std::nullopt;
}

QStringList supportedActions()
{
    return {u"clear_cache"_s, u"expand_volume"_s, u"restart_service"_s, u"rollback"_s};
}

std::optional<ValidationError> validatePolicyObject(const QJsonObject &o, Policy *out)
{
    Policy p;
    if (auto e = checkPolicyJson(o, &p))
        return e;
    const QStringList actions = supportedActions();
    if (!actions.contains(p.action))
        return fieldError(kInvalidValue, kAction,
            u"Field 'action' must be one of %1 (got \"%2\")."_s.arg(actions.join(u", "_s), p.action.left(64)));
    if (out)
        *out = std::move(p);
    return std::nullopt;
}

Policy policyFromRow(const QSqlQuery &q)
{
    Policy p;
    p.id = q.value(0).toLongLong();
    p.name = q.value(1).toString();
    p.metricName = q.value(2).toString();
    parseCompareOp(q.value(3).toString(), &p.op);
    p.threshold = q.value(4).toDouble();
    p.forCount = q.value(5).toInt();
    p.cooldownSeconds = q.value(6).toInt();
    p.action = q.value(7).toString();
    p.params = QJsonDocument::fromJson(q.value(8).toString().toUtf8()).object();
    p.enabled = q.value(9).toInt() != 0;
    return p;
}

} // namespace vigil
