#include "validation.h"

#include <algorithm>
#include <cctype>
#include <array>
#include <cmath>
#include <limits>

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonParseError>
#include <QJsonValue>
#include <QList>

#include "util.h"

namespace vigil {

using namespace Qt::StringLiterals;

namespace {

constexpr auto kMetricName = "metric_name"_L1;
constexpr auto kValue = "value"_L1;
constexpr auto kSource = "source"_L1;
constexpr auto kTimestamp = "timestamp"_L1;
constexpr auto kLabels = "labels"_L1;
constexpr auto kIdempotencyKey = "idempotency_key"_L1;
constexpr std::array<QLatin1StringView, 6> kAllowedFields {
    kMetricName, kValue, kSource, kTimestamp, kLabels, kIdempotencyKey};

constexpr auto kInvalidJson = "invalid_json"_L1;
constexpr auto kDuplicateField = "duplicate_field"_L1;
constexpr auto kUnknownField = "unknown_field"_L1;
constexpr auto kMissingField = "missing_field"_L1;
constexpr auto kInvalidType = "invalid_type"_L1;
constexpr auto kInvalidValue = "invalid_value"_L1;

// Qt 6.4 rejects numbers outside the double range as "illegal number"; we patch at most this many per body
// before giving up with invalid_json (each patch costs one more parse).
constexpr int kMaxNumberPatches = 4;
// User input echoed in messages is cut here so a 1 MiB key does not come back in a 1 MiB error.
constexpr qsizetype kMaxEcho = 64;

ValidationError makeError(QLatin1StringView code, const QString &field, const QString &message)
{
    return ValidationError {QString(code), message, field};
}

QString echo(QStringView text)
{
    if (text.size() <= kMaxEcho)
        return text.toString();
    return text.first(kMaxEcho).toString() + u"…"_s;
}

QString describeChar(char32_t cp)
{
    if (cp >= 0x21 && cp < 0x7f)
        return u"'%1'"_s.arg(QChar(static_cast<char16_t>(cp)));
    return u"U+"_s + QString::number(static_cast<uint>(cp), 16).toUpper().rightJustified(4, u'0');
}

// Characters as a user counts them: a surrogate pair (emoji, CJK extension) is one.
qsizetype codePointCount(QStringView s)
{
    qsizetype n = 0;
    for (qsizetype i = 0; i < s.size(); ++i) {
        if (s[i].isHighSurrogate() && i + 1 < s.size() && s[i + 1].isLowSurrogate())
            ++i;
        ++n;
    }
    return n;
}

struct BadChar
{
    qsizetype position = 0; // 1-based, in code points
    char32_t codePoint = 0;
};

// Control characters would corrupt logs and terminals; unpaired surrogates (reachable via "\ud800" escapes)
// cannot be stored as UTF-8 at all.
std::optional<BadChar> findUnprintable(QStringView s)
{
    qsizetype position = 0;
    for (qsizetype i = 0; i < s.size(); ++i) {
        ++position;
        const QChar c = s[i];
        if (c.isHighSurrogate() && i + 1 < s.size() && s[i + 1].isLowSurrogate()) {
            ++i;
            continue;
        }
        const char32_t u = c.unicode();
        if (c.isSurrogate() || u < 0x20 || (u >= 0x7f && u <= 0x9f) || u == 0x2028 || u == 0x2029)
            return BadChar {position, u};
    }
    return std::nullopt;
}

bool isNameStart(char16_t c)
{
    return (c >= u'A' && c <= u'Z') || (c >= u'a' && c <= u'z') || c == u'_' || c == u':';
}

bool isNameChar(char16_t c)
{
    return isNameStart(c) || (c >= u'0' && c <= u'9') || c == u'.' || c == u'-';
}

// Explains why `name` is not a valid metric-style name; empty when it is valid. `what` names the thing in the
// message ("metric_name", "label key 'x'").
QString metricNameProblem(QStringView name, int maxLength, const QString &what)
{
    if (name.isEmpty())
        return u"%1 must not be empty."_s.arg(what);
    if (name.size() > maxLength)
        return u"%1 is %2 characters long; the limit is %3."_s.arg(what).arg(codePointCount(name)).arg(maxLength);
    if (!isNameStart(name[0].unicode()))
        return u"%1 must start with a letter, '_' or ':' (it starts with %2)."_s.arg(
            what, describeChar(name[0].unicode()));
    for (qsizetype i = 1; i < name.size(); ++i) {
        if (!isNameChar(name[i].unicode()))
            return u"%1 contains %2 at position %3; only ASCII letters, digits, '_', ':', '.' and '-' are allowed."_s
                .arg(what, describeChar(name[i].unicode()), QString::number(i + 1));
    }
    return {};
}

// Explains why `text` is not 1..maxLength printable characters; empty when it is fine.
QString printableProblem(QStringView text, int maxLength, const QString &what, bool allowEmpty = false)
{
    if (text.isEmpty() && !allowEmpty)
        return u"%1 must not be empty; leave the field out instead."_s.arg(what);
    const qsizetype length = codePointCount(text);
    if (length > maxLength)
        return u"%1 is %2 characters long; the limit is %3."_s.arg(what).arg(length).arg(maxLength);
    if (const auto bad = findUnprintable(text))
        return u"%1 contains the control character %2 at position %3; only printable characters are allowed."_s.arg(
            what, describeChar(bad->codePoint), QString::number(bad->position));
    return {};
}

QString formatDuration(qint64 ms)
{
    const auto trimmed = [](double x) {
        QString s = QString::number(x, 'f', 1);
        if (s.endsWith(u".0"_s))
            s.chop(2);
        return s;
    };
    const double minutes = static_cast<double>(ms) / 60000.0;
    if (minutes < 120)
        return u"%1 minutes"_s.arg(trimmed(minutes));
    const double hours = minutes / 60.0;
    if (hours < 48)
        return u"%1 hours"_s.arg(trimmed(hours));
    return u"%1 days"_s.arg(trimmed(hours / 24.0));
}

// Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's days_from_civil); valid for any year,
// including RFC 3339's year 0000, which QDate cannot represent.
qint64 daysFromCivil(qint64 y, unsigned m, unsigned d)
{
    y -= m <= 2 ? 1 : 0;
    const qint64 era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<qint64>(doe) - 719468;
}

unsigned daysInMonth(int year, unsigned month)
{
    static constexpr std::array<unsigned, 12> kDays {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : kDays[month - 1];
}

// --- Raw-body helpers -----------------------------------------------------------------------------------------

bool isJsonSpace(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool isNumberChar(char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

// The JSON number grammar (RFC 8259 §6): -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool isJsonNumber(QByteArrayView t)
{
    qsizetype i = 0;
    const auto digits = [&] {
        const qsizetype start = i;
        while (i < t.size() && t[i] >= '0' && t[i] <= '9')
            ++i;
        return i > start;
    };
    if (i < t.size() && t[i] == '-')
        ++i;
    if (i < t.size() && t[i] == '0')
        ++i;
    else if (!digits())
        return false;
    if (i < t.size() && t[i] == '.') {
        ++i;
        if (!digits())
            return false;
    }
    if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
        ++i;
        if (i < t.size() && (t[i] == '+' || t[i] == '-'))
            ++i;
        if (!digits())
            return false;
    }
    return i == t.size();
}

// A number token that is valid JSON syntax (RFC 8259 §6) but that Qt refused: it is outside the double range.
struct NumberPatch
{
    qsizetype start = 0;
    bool negative = false;
    bool overflow = false; // true: beyond ±DBL_MAX; false: below the smallest subnormal (rounds to ±0)
};

std::optional<NumberPatch> outOfRangeNumberAt(const QByteArray &json, qsizetype offset)
{
    qsizetype begin = std::clamp<qsizetype>(offset, 0, json.size());
    while (begin > 0 && isNumberChar(json[begin - 1]))
        --begin;
    qsizetype end = begin;
    while (end < json.size() && isNumberChar(json[end]))
        ++end;
    if (end <= begin || end < offset)
        return std::nullopt;

    // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, tracking the decimal exponent of the first significant digit.
    qsizetype i = begin;
    NumberPatch patch;
    patch.start = begin;
    if (json[i] == '-') {
        patch.negative = true;
        ++i;
    }
    const auto isDigit = [&](qsizetype k) { return k < end && json[k] >= '0' && json[k] <= '9'; };
    if (!isDigit(i))
        return std::nullopt;
    qint64 magnitude = std::numeric_limits<qint64>::min(); // exponent of the leading significant digit
    qint64 position = 0; // exponent of the digit being read
    if (json[i] == '0') {
        ++i;
        if (isDigit(i))
            return std::nullopt; // leading zero
    } else {
        qsizetype digits = 0;
        while (isDigit(i)) {
            ++digits;
            ++i;
        }
        magnitude = digits - 1;
    }
    if (i < end && json[i] == '.') {
        ++i;
        if (!isDigit(i))
            return std::nullopt;
        position = -1;
        while (isDigit(i)) {
            if (magnitude == std::numeric_limits<qint64>::min() && json[i] != '0')
                magnitude = position;
            --position;
            ++i;
        }
    }
    qint64 exponent = 0;
    if (i < end && (json[i] == 'e' || json[i] == 'E')) {
        ++i;
        bool negativeExponent = false;
        if (i < end && (json[i] == '+' || json[i] == '-')) {
            negativeExponent = json[i] == '-';
            ++i;
        }
        if (!isDigit(i))
            return std::nullopt;
        while (isDigit(i)) {
            exponent = std::min<qint64>(exponent * 10 + (json[i] - '0'), 1'000'000'000); // saturate
            ++i;
        }
        if (negativeExponent)
            exponent = -exponent;
    }
    if (i != end || magnitude == std::numeric_limits<qint64>::min())
        return std::nullopt; // trailing junk, or a zero mantissa (which is never out of range)
    patch.overflow = magnitude + exponent > 0;
    return patch;
}

struct TopLevelKey
{
    QByteArray raw; // between the quotes, escapes untouched
    qsizetype valueStart = -1; // byte offset of the first byte of its value
};

// Lists the keys of the top-level object in a body Qt has already parsed successfully, in order, duplicates
// included (QJsonDocument silently keeps the last of two equal keys).
QList<TopLevelKey> scanTopLevelKeys(const QByteArray &json)
{
    QList<TopLevelKey> keys;
    int depth = 0;
    bool expectKey = false;
    bool expectValue = false;
    const qsizetype n = json.size();
    for (qsizetype i = 0; i < n; ++i) {
        const char c = json[i];
        if (isJsonSpace(c))
            continue;
        if (expectValue && depth == 1 && c != ':') {
            keys.last().valueStart = i;
            expectValue = false;
        }
        switch (c) {
        case '"': {
            const qsizetype start = i + 1;
            for (++i; i < n && json[i] != '"'; ++i) {
                if (json[i] == '\\')
                    ++i;
            }
            if (depth == 1 && expectKey) {
                keys.append(TopLevelKey {json.mid(start, i - start), -1});
                expectKey = false;
                expectValue = true;
            }
            break;
        }
        case '{':
        case '[':
            ++depth;
            expectKey = depth == 1 && c == '{';
            break;
        case '}':
        case ']':
            --depth;
            break;
        case ',':
            expectKey = depth == 1;
            break;
        default:
            break;
        }
    }
    return keys;
}

QString decodeKey(const QByteArray &raw)
{
    if (!raw.contains('\\'))
        return QString::fromUtf8(raw);
    const QJsonDocument doc = QJsonDocument::fromJson("[\"" + raw + "\"]");
    return doc.array().at(0).toString();
}

// Case-insensitive Levenshtein distance, for "did you mean" hints on short field names.
qsizetype editDistance(QStringView a, QStringView b)
{
    QList<qsizetype> row(b.size() + 1);
    for (qsizetype j = 0; j <= b.size(); ++j)
        row[j] = j;
    for (qsizetype i = 1; i <= a.size(); ++i) {
        qsizetype diagonal = row[0];
        row[0] = i;
        for (qsizetype j = 1; j <= b.size(); ++j) {
            const qsizetype above = row[j];
            const qsizetype cost = a[i - 1].toLower() == b[j - 1].toLower() ? 0 : 1;
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + cost});
            diagonal = above;
        }
    }
    return row[b.size()];
}

QString suggestField(const QString &key)
{
    if (key.size() > 32)
        return {};
    struct Alias
    {
        QLatin1StringView alias;
        QLatin1StringView field;
    };
    static constexpr std::array<Alias, 8> kAliases {
        {{"metric"_L1, kMetricName}, {"name"_L1, kMetricName}, {"ts"_L1, kTimestamp}, {"time"_L1, kTimestamp},
            {"@timestamp"_L1, kTimestamp}, {"tags"_L1, kLabels}, {"key"_L1, kIdempotencyKey}, {"host"_L1, kSource}}};
    QString folded = key.toLower();
    folded.remove(u'_').remove(u'-');
    for (const auto &a : kAliases) {
        if (folded == a.alias)
            return a.field;
    }
    for (const auto field : kAllowedFields) {
        QString f(field);
        if (editDistance(key, f) <= 2 || folded == f.remove(u'_'))
            return field;
    }
    return {};
}

std::optional<ValidationError> checkMetricName(const QJsonObject &object, const IngestLimits &limits, QString *out)
{
    const QJsonValue v = object.value(kMetricName);
    if (v.isUndefined())
        return makeError(
            kMissingField, kMetricName, u"metric_name is required, e.g. \"metric_name\": \"cpu_usage\"."_s);
    if (!v.isString())
        return makeError(kInvalidType, kMetricName,
            u"metric_name must be a string (got %1), e.g. \"metric_name\": \"cpu_usage\"."_s.arg(jsonTypeName(v)));
    const QString name = v.toString();
    const QString problem = metricNameProblem(name, limits.maxNameLength, u"metric_name"_s);
    if (!problem.isEmpty())
        return makeError(kInvalidValue, kMetricName, problem);
    *out = name;
    return std::nullopt;
}

std::optional<ValidationError> checkValue(const QJsonObject &object, double *out)
{
    const QJsonValue v = object.value(kValue);
    if (v.isUndefined())
        return makeError(kMissingField, kValue,
            u"value is required: send the measurement as a JSON number, e.g. "
            u"\"value\": 42.5."_s);
    if (!v.isDouble()) {
        QString hint;
        if (v.isString())
            hint = u" Send it without quotes, e.g. \"value\": 12 rather than \"value\": \"12\"."_s;
        return makeError(kInvalidType, kValue, u"value must be a JSON number (got %1).%2"_s.arg(jsonTypeName(v), hint));
    }
    const double value = v.toDouble();
    if (!std::isfinite(value))
        return makeError(kInvalidValue, kValue,
            u"value must be a finite number; it is outside the range of a double (about ±1.8e308)."_s);
    *out = value;
    return std::nullopt;
}

// Optional printable string fields (source, idempotency_key). null counts as absent: clients that serialise an
// unset optional as null (Python's None, Go's nil pointer) lose nothing by it.
std::optional<ValidationError> checkOptionalText(
    const QJsonObject &object, QLatin1StringView field, int maxLength, QString *out)
{
    const QJsonValue v = object.value(field);
    if (v.isUndefined() || v.isNull()) {
        out->clear();
        return std::nullopt;
    }
    if (!v.isString())
        return makeError(kInvalidType, field, u"%1 must be a string (got %2)."_s.arg(field, jsonTypeName(v)));
    const QString text = v.toString();
    const QString problem = printableProblem(text, maxLength, field);
    if (!problem.isEmpty())
        return makeError(kInvalidValue, field, problem);
    *out = text;
    return std::nullopt;
}

std::optional<ValidationError> checkTimestamp(
    const QJsonObject &object, qint64 nowMs, const IngestLimits &limits, qint64 *out)
{
    const QJsonValue v = object.value(kTimestamp);
    if (v.isUndefined() || v.isNull()) {
        *out = nowMs;
        return std::nullopt;
    }
    if (!v.isString())
        return makeError(kInvalidType, kTimestamp,
            u"timestamp must be an RFC 3339 string such as \"2026-01-19T12:30:00Z\" (got %1)."_s.arg(jsonTypeName(v)));
    const QString text = v.toString();
    qint64 ms = 0;
    QString why;
    if (!parseRfc3339(text, &ms, &why))
        return makeError(kInvalidValue, kTimestamp, u"timestamp \"%1\" %2."_s.arg(echo(text), why));
    const qint64 skew = ms - nowMs;
    if (skew > limits.timestampSkewMs || -skew > limits.timestampSkewMs) {
        const bool future = skew > 0;
        return makeError(kInvalidValue, kTimestamp,
            u"timestamp %1 is %2 in the %3; it must be within %4 of the server clock (%5)."_s.arg(echo(text),
                formatDuration(future ? skew : -skew), future ? u"future"_s : u"past"_s,
                formatDuration(limits.timestampSkewMs), isoUtc(nowMs)));
    }
    *out = ms;
    return std::nullopt;
}

std::optional<ValidationError> checkLabels(const QJsonObject &object, const IngestLimits &limits, QJsonObject *out)
{
    const QJsonValue v = object.value(kLabels);
    if (v.isUndefined() || v.isNull()) {
        *out = {};
        return std::nullopt;
    }
    if (!v.isObject())
        return makeError(kInvalidType, kLabels,
            u"labels must be a JSON object of strings, e.g. {\"host\": \"web-1\"} (got %1)."_s.arg(jsonTypeName(v)));
    const QJsonObject labels = v.toObject();
    if (labels.size() > limits.maxLabels)
        return makeError(kInvalidValue, kLabels,
            u"labels has %1 pairs; the limit is %2."_s.arg(labels.size()).arg(limits.maxLabels));
    for (auto it = labels.constBegin(); it != labels.constEnd(); ++it) {
        const QString key = it.key();
        const QString field = kLabels + u'.' + key;
        const QString keyProblem = metricNameProblem(key, limits.maxNameLength, u"label key '%1'"_s.arg(echo(key)));
        if (!keyProblem.isEmpty())
            return makeError(kInvalidValue, field, keyProblem);
        const QJsonValue value = it.value();
        if (!value.isString())
            return makeError(kInvalidType, field,
                u"label '%1' must be a string (got %2); quote numbers, e.g. \"%1\": \"42\"."_s.arg(
                    key, jsonTypeName(value)));
        // Empty values are allowed (Prometheus treats them as "label not set").
        const QString problem
            = printableProblem(value.toString(), limits.maxLabelValueLength, u"label '%1'"_s.arg(key), true);
        if (!problem.isEmpty())
            return makeError(kInvalidValue, field, problem);
    }
    *out = labels;
    return std::nullopt;
}

} // namespace

QString jsonTypeName(const QJsonValue &v)
{
    switch (v.type()) {
    case QJsonValue::Null:
        return u"null"_s;
    case QJsonValue::Bool:
        return u"a boolean"_s;
    case QJsonValue::Double:
        return u"a number"_s;
    case QJsonValue::String:
        return u"a string"_s;
    case QJsonValue::Array:
        return u"an array"_s;
    case QJsonValue::Object:
        return u"an object"_s;
    case QJsonValue::Undefined:
        break;
    }
    return u"nothing"_s;
}

bool isValidMetricName(QStringView name, int maxLength)
{
    return metricNameProblem(name, maxLength, QString()).isEmpty();
}

bool isPrintableText(QStringView text)
{
    return !findUnprintable(text).has_value();
}

bool parseRfc3339(QStringView text, qint64 *epochMs, QString *why)
{
    const auto fail = [why](const QString &reason) {
        if (why)
            *why = reason;
        return false;
    };
    const QString shape = u"is not an RFC 3339 date-time such as 2026-01-19T12:30:00Z"_s;
    qsizetype i = 0;
    const auto digits = [&](int count, int *value) {
        int v = 0;
        for (int k = 0; k < count; ++k, ++i) {
            if (i >= text.size() || text[i].unicode() < u'0' || text[i].unicode() > u'9')
                return false;
            v = v * 10 + (text[i].unicode() - u'0');
        }
        *value = v;
        return true;
    };
    const auto literal = [&](char16_t c) {
        if (i < text.size() && text[i] == c) {
            ++i;
            return true;
        }
        return false;
    };

    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, millis = 0;
    if (!digits(4, &year) || !literal(u'-') || !digits(2, &month) || !literal(u'-') || !digits(2, &day))
        return fail(shape);
    if (i == text.size())
        return fail(u"has no time of day and no time zone; use e.g. 2026-01-19T12:30:00Z"_s);
    // RFC 3339 §5.6 allows a lower-case 't' and, "for readability", a space.
    if (!(literal(u'T') || literal(u't') || literal(u' ')))
        return fail(shape);
    if (!digits(2, &hour) || !literal(u':') || !digits(2, &minute) || !literal(u':') || !digits(2, &second))
        return fail(shape);
    if (literal(u'.')) {
        int fractionDigits = 0;
        while (i < text.size() && text[i].unicode() >= u'0' && text[i].unicode() <= u'9') {
            if (fractionDigits < 3)
                millis = millis * 10 + (text[i].unicode() - u'0');
            ++fractionDigits;
            ++i;
        }
        if (fractionDigits == 0)
            return fail(shape);
        for (int k = fractionDigits; k < 3; ++k)
            millis *= 10;
    }
    int offsetMinutes = 0;
    if (i == text.size())
        return fail(u"has no time zone; add 'Z' for UTC or an offset such as +02:00"_s);
    if (literal(u'Z') || literal(u'z')) {
        // UTC
    } else if (text[i] == u'+' || text[i] == u'-') {
        const int sign = text[i] == u'-' ? -1 : 1;
        ++i;
        int offsetHours = 0, offsetMins = 0;
        if (!digits(2, &offsetHours) || !literal(u':') || !digits(2, &offsetMins))
            return fail(u"has a malformed UTC offset; write it as +HH:MM or -HH:MM"_s);
        if (offsetHours > 23 || offsetMins > 59)
            return fail(u"has a UTC offset out of range (at most ±23:59)"_s);
        offsetMinutes = sign * (offsetHours * 60 + offsetMins);
    } else {
        return fail(shape);
    }
    if (i != text.size())
        return fail(shape);

    if (month < 1 || month > 12 || day < 1 || static_cast<unsigned>(day) > daysInMonth(year, month))
        return fail(u"is not a calendar date"_s);
    // Second 60 is a leap second (RFC 3339 allows it); like POSIX time we count it as the next minute's :00.
    if (hour > 23 || minute > 59 || second > 60)
        return fail(u"has a time of day out of range"_s);

    const qint64 days = daysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
    const qint64 seconds = days * 86400 + hour * 3600 + minute * 60 + second - qint64(offsetMinutes) * 60;
    *epochMs = seconds * 1000 + millis;
    return true;
}

std::optional<ValidationError> validateIngestObject(
    const QJsonObject &object, qint64 nowMs, IngestEvent *out, const IngestLimits &limits)
{
    // Unknown fields first: a typo ("sorce") must not silently drop data (DESIGN.md §3).
    for (auto it = object.constBegin(); it != object.constEnd(); ++it) {
        const QString key = it.key();
        if (std::find(kAllowedFields.begin(), kAllowedFields.end(), key) != kAllowedFields.end())
            continue;
        const QString suggestion = suggestField(key);
        QString message = u"Unknown field '%1'"_s.arg(echo(key));
        if (!suggestion.isEmpty())
            message += u" (did you mean '%1'?)"_s.arg(suggestion);
        message += u"; allowed fields are metric_name, value, source, timestamp, labels and idempotency_key."_s;
        return makeError(kUnknownField, key, message);
    }

    IngestEvent event;
    if (auto e = checkMetricName(object, limits, &event.metricName))
        return e;
    if (auto e = checkValue(object, &event.value))
        return e;
    if (auto e = checkOptionalText(object, kSource, limits.maxSourceLength, &event.source))
        return e;
    if (auto e = checkTimestamp(object, nowMs, limits, &event.timestampMs))
        return e;
    if (auto e = checkLabels(object, limits, &event.labels))
        return e;
    if (auto e = checkOptionalText(object, kIdempotencyKey, limits.maxKeyLength, &event.idempotencyKey))
        return e;
    if (out)
        *out = std::move(event);
    return std::nullopt;
}

std::optional<ValidationError> parseJsonObjectBody(
    const QByteArray &body, const QString &what, const QString &example, QJsonObject *out)
{
    if (std::all_of(body.cbegin(), body.cend(), isJsonSpace))
        return makeError(
            kInvalidJson, QString(), u"Request body is empty; send a JSON object such as %1."_s.arg(example));
    // A bare string, number, true, false or null: Qt 6.4 only says "illegal value at byte 1".
    const auto first = std::find_if_not(body.cbegin(), body.cend(), isJsonSpace);
    if (*first != '{' && *first != '[') {
        const char c = *first;
        const QString got = c == '"'               ? u"a string"_s
            : (c == '-' || (c >= '0' && c <= '9')) ? u"a number"_s
            : (c == 't' || c == 'f')               ? u"true or false"_s
            : c == 'n'                             ? u"null"_s
                                                   : QString();
        if (!got.isEmpty())
            return makeError(kInvalidJson, QString(),
                u"Request body must be a JSON object holding %1, e.g. %2 (got %3)."_s.arg(what, example, got));
    }

    // Qt 6.4's parser accepts what JSON does not have: escapes ("\x41" becomes "x41"), raw control characters
    // inside strings, and numbers such as .5, 1. or 1.e5. Refuse them rather than store what a strict client
    // would never have sent.
    // Qt 6.4 also drops a raw U+FEFF (the UTF-8 bytes EF BB BF) that opens a string: "\uFEFFst" would be stored as
    // "st". Those get rewritten to the escape \ufeff, which Qt keeps.
    QList<qsizetype> bomAt;
    {
        bool inString = false;
        for (qsizetype i = 0; i < body.size(); ++i) {
            const char c = body.at(i);
            if (!inString) {
                inString = c == '"';
                if (inString && QByteArrayView(body).sliced(i + 1).startsWith("\xEF\xBB\xBF"))
                    bomAt.append(i + 1);
                if (c == '-' || (c >= '0' && c <= '9') || c == '.' || c == '+') {
                    qsizetype end = i;
                    while (end < body.size() && isNumberChar(body.at(end)))
                        ++end;
                    if (!isJsonNumber(QByteArrayView(body).sliced(i, end - i)))
                        return makeError(kInvalidJson, QString(),
                            u"Request body is not valid JSON: malformed number \"%1\" at byte %2 (JSON numbers look "
                            u"like 42, -0.5 or 1e-3)."_s
                                .arg(QString::fromLatin1(body.mid(i, std::min<qsizetype>(end - i, kMaxEcho))))
                                .arg(i));
                    i = end - 1;
                }
                continue;
            }
            if (static_cast<unsigned char>(c) < 0x20)
                return makeError(kInvalidJson, QString(),
                    u"Request body is not valid JSON: raw control character 0x%1 inside a string at byte %2 (escape "
                    u"it, e.g. \\n or \\u0009)."_s.arg(uint(static_cast<unsigned char>(c)), 2, 16, QLatin1Char('0'))
                        .arg(i));
            if (c == '"') {
                inString = false;
            } else if (c == '\\') {
                const char e = i + 1 < body.size() ? body.at(i + 1) : '\0';
                bool ok = QByteArrayView("\"\\/bfnrt").contains(e);
                if (e == 'u') {
                    ok = i + 5 < body.size();
                    for (qsizetype k = i + 2; ok && k < i + 6; ++k)
                        ok = std::isxdigit(static_cast<unsigned char>(body.at(k))) != 0;
                }
                if (!ok)
                    return makeError(kInvalidJson, QString(),
                        u"Request body is not valid JSON: invalid escape sequence at byte %1 (JSON allows "
                        u"\\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX)."_s.arg(i));
                ++i; // skip the escaped character
            }
        }
    }

    QByteArray json = body;
    for (auto it = bomAt.crbegin(); it != bomAt.crend(); ++it)
        json.replace(*it, 3, "\\ufeff");
    QList<NumberPatch> patches;
    QJsonDocument doc;
    for (;;) {
        QJsonParseError parseError;
        doc = QJsonDocument::fromJson(json, &parseError);
        if (parseError.error == QJsonParseError::NoError)
            break;
        if (parseError.error == QJsonParseError::IllegalNumber && patches.size() < kMaxNumberPatches) {
            // Qt 6.4 refuses 1e400 and 1e-400 outright. Overwrite the token in place (same length, so byte offsets
            // stay true): an underflow becomes ±0 as in every other JSON parser; an overflow becomes 0 and is
            // remembered, so an overflowing "value" is answered invalid_value rather than invalid_json.
            if (const auto patch = outOfRangeNumberAt(json, parseError.offset)) {
                qsizetype end = patch->start;
                while (end < json.size() && isNumberChar(json[end]))
                    ++end;
                const QByteArray zero = patch->negative && !patch->overflow ? QByteArrayLiteral("-0") : "0";
                json.replace(patch->start, end - patch->start, zero.leftJustified(end - patch->start, ' '));
                patches.append(*patch);
                continue;
            }
        }
        if (parseError.error == QJsonParseError::IllegalUTF8String)
            return makeError(kInvalidJson, QString(),
                u"Request body is not valid UTF-8 (bad byte sequence in a string near byte %1); "
                u"encode the body as UTF-8."_s.arg(parseError.offset));
        return makeError(kInvalidJson, QString(),
            u"Request body is not valid JSON: %1 at byte %2."_s.arg(parseError.errorString()).arg(parseError.offset));
    }
    if (!doc.isObject())
        return makeError(
            kInvalidJson, QString(), u"Request body must be a JSON object holding %1, e.g. %2."_s.arg(what, example));

    QJsonObject object = doc.object();
    const QList<TopLevelKey> keys = scanTopLevelKeys(json);
    if (keys.size() > object.size()) {
        QList<QString> seen;
        for (const TopLevelKey &k : keys) {
            const QString key = decodeKey(k.raw);
            if (seen.contains(key))
                return makeError(
                    kDuplicateField, key, u"Field '%1' appears more than once; send each field once."_s.arg(echo(key)));
            seen.append(key);
        }
    }
    for (const NumberPatch &patch : patches) {
        if (!patch.overflow)
            continue;
        for (const TopLevelKey &k : keys) {
            // A number beyond the double range is still a number: the field's own check answers invalid_value
            // (not invalid_type, not invalid_json).
            if (k.valueStart == patch.start) {
                const double inf = std::numeric_limits<double>::infinity();
                object.insert(decodeKey(k.raw), patch.negative ? -inf : inf);
            }
        }
    }
    *out = std::move(object);
    return std::nullopt;
}

std::optional<ValidationError> parseIngest(
    const QByteArray &body, qint64 nowMs, IngestEvent *out, const IngestLimits &limits)
{
    QJsonObject object;
    if (auto e
        = parseJsonObjectBody(body, u"one event"_s, u"{\"metric_name\": \"cpu_usage\", \"value\": 93.5}"_s, &object))
        return e;
    return validateIngestObject(object, nowMs, out, limits);
}

QJsonObject ingestEventToJson(const IngestEvent &e)
{
    QJsonObject o;
    o.insert(kMetricName, e.metricName);
    o.insert(kValue, e.value);
    o.insert(kTimestamp, isoUtc(e.timestampMs, true));
    o.insert(kLabels, e.labels);
    if (!e.source.isEmpty())
        o.insert(kSource, e.source);
    if (!e.idempotencyKey.isEmpty())
        o.insert(kIdempotencyKey, e.idempotencyKey);
    return o;
}

} // namespace vigil
