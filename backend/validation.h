#pragma once

#include <QByteArray>
#include <QJsonObject>
#include <QString>
#include <QStringView>

#include <optional>

namespace vigil {

// One ingested event after validation (DESIGN.md §3). Optional fields that were absent are empty.
struct IngestEvent
{
    QString metricName;
    double value = 0;
    QString source;
    qint64 timestampMs = 0; // epoch ms, UTC; "now" when the client sent none
    QJsonObject labels; // string → string, already checked
    QString idempotencyKey;
};

// Answered as HTTP 400 with {"ok":false,"error":{code,message,field}}. Codes: invalid_json, duplicate_field,
// unknown_field, missing_field, invalid_type, invalid_value. field is empty for body-level errors.
struct ValidationError
{
    QString code;
    QString message;
    QString field;
};

struct IngestLimits
{
    int maxLabels = 32;
    int maxNameLength = 128;
    int maxLabelValueLength = 256;
    int maxSourceLength = 128;
    int maxKeyLength = 128;
    qint64 timestampSkewMs = 24 * 3600 * 1000;
};

// Parses a request body (UTF-8 JSON object) and validates it. nowMs: wall clock (a missing timestamp becomes nowMs).
// *out is written only on success. Checks run in a fixed order (body, duplicate and unknown keys, then the fields in
// the order of the struct), so one bad body always reports the same error.
std::optional<ValidationError> parseIngest(
    const QByteArray &body, qint64 nowMs, IngestEvent *out, const IngestLimits &limits = {});
// Same rules on an already parsed object (used by the batch endpoint). Qt 6.4's parser rejects numbers outside the
// double range as a syntax error, so only parseIngest can turn `"value": 1e400` into invalid_value.
std::optional<ValidationError> validateIngestObject(
    const QJsonObject &object, qint64 nowMs, IngestEvent *out, const IngestLimits &limits = {});
// The body-level half of parseIngest, for every endpoint that takes a JSON object: empty body, invalid escapes,
// invalid JSON or UTF-8, not an object, duplicate top-level keys (all invalid_json / duplicate_field). A top-level
// number beyond the double range arrives as ±infinity so the field's own check can answer invalid_value. `what` and
// `example` complete the messages ("holding <what>, e.g. <example>").
std::optional<ValidationError> parseJsonObjectBody(
    const QByteArray &body, const QString &what, const QString &example, QJsonObject *out);
// Canonical JSON (for storage/debug): metric_name, value, timestamp (RFC 3339 UTC with ms), labels, and source /
// idempotency_key when set. validateIngestObject accepts it back unchanged (within the timestamp window).
QJsonObject ingestEventToJson(const IngestEvent &e);

// Shared building blocks (policies use the metric-name rule; GET filters use the timestamp parser).
// 1..maxLength characters of [A-Za-z_:][A-Za-z0-9_:.-]*.
bool isValidMetricName(QStringView name, int maxLength = 128);
// "a string", "a number", "null", ... for error messages about JSON types.
QString jsonTypeName(const QJsonValue &v);
// No control characters (C0, DEL, C1), no line/paragraph separators, no unpaired surrogates.
bool isPrintableText(QStringView text);
// Strict RFC 3339 date-time with a zone ("Z" or ±HH:MM), optional fraction (kept to the millisecond).
// On failure *why (if given) says what is wrong, as a sentence fragment.
bool parseRfc3339(QStringView text, qint64 *epochMs, QString *why = nullptr);

} // namespace vigil
