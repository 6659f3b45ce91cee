// Ingest validation (DESIGN.md §3): every rule has a row that breaks it and a row that just passes.

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

#include <cmath>
#include <limits>

#include "validation.h"

using namespace Qt::StringLiterals;
using vigil::IngestEvent;
using vigil::IngestLimits;
using vigil::ValidationError;

namespace {

// 2026-01-19T12:00:00Z: a fixed "now" so the ±1 day window does not depend on the machine's clock.
constexpr qint64 kNowMs = 1768824000000;
constexpr qint64 kDayMs = 24 * 3600 * 1000;

QJsonObject baseObject()
{
    return QJsonObject {{u"metric_name"_s, u"cpu_usage"_s}, {u"value"_s, 42}};
}

QByteArray toBody(const QJsonObject &o)
{
    return QJsonDocument(o).toJson(QJsonDocument::Compact);
}

QByteArray with(const QString &key, const QJsonValue &value)
{
    QJsonObject o = baseObject();
    o.insert(key, value);
    return toBody(o);
}

QByteArray without(const QString &key)
{
    QJsonObject o = baseObject();
    o.remove(key);
    return toBody(o);
}

QJsonObject manyLabels(int count)
{
    QJsonObject labels;
    for (int i = 0; i < count; ++i)
        labels.insert(u"k%1"_s.arg(i), u"v"_s);
    return labels;
}

QString repeated(const QString &unit, int count)
{
    return unit.repeated(count);
}

} // namespace

class TestValidation final : public QObject
{
    Q_OBJECT

private slots:
    void rejects_data();
    void rejects();
    void accepts_data();
    void accepts();
    void rfc3339_data();
    void rfc3339();
    void roundTripsCanonicalJson();
    void validateObjectRejectsNonFinite();
    void honoursCustomLimits();
    void helpers();
};

void TestValidation::rejects_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<QString>("code");
    QTest::addColumn<QString>("field");
    QTest::addColumn<QString>("messageHas"); // a phrase the user needs to act on

    const QString json = u"invalid_json"_s;
    const QString missing = u"missing_field"_s;
    const QString type = u"invalid_type"_s;
    const QString value = u"invalid_value"_s;

    // The body itself.
    QTest::newRow("empty body") << QByteArray() << json << QString() << u"empty"_s;
    QTest::newRow("whitespace body") << QByteArray(" \r\n\t ") << json << QString() << u"empty"_s;
    QTest::newRow("truncated") << QByteArray(R"({"metric_name": "cpu")") << json << QString() << u"byte"_s;
    QTest::newRow("trailing comma") << QByteArray(R"({"metric_name":"cpu","value":1,})") << json << QString()
                                    << u"not valid JSON"_s;
    QTest::newRow("single quotes") << QByteArray(R"({'metric_name':'cpu','value':1})") << json << QString()
                                   << u"not valid JSON"_s;
    QTest::newRow("trailing garbage") << QByteArray(R"({"metric_name":"cpu","value":1} x)") << json << QString()
                                      << u"byte"_s;
    QTest::newRow("two objects") << QByteArray(R"({"metric_name":"cpu","value":1}{})") << json << QString()
                                 << u"byte"_s;
    QTest::newRow("invalid escape \\x") << QByteArray(R"({"metric_name":"cpu","value":1,"source":"\x41"})") << json
                                        << QString() << u"invalid escape"_s;
    // Qt 6.4 accepts these; JSON does not (found by tst_hostile).
    QTest::newRow("number .5") << QByteArray(R"({"metric_name":"cpu","value":.5})") << json << QString()
                               << u"malformed number"_s;
    QTest::newRow("number 1.") << QByteArray(R"({"metric_name":"cpu","value":1.})") << json << QString()
                               << u"malformed number"_s;
    QTest::newRow("number -.5") << QByteArray(R"({"metric_name":"cpu","value":-.5})") << json << QString()
                                << u"malformed number"_s;
    QTest::newRow("number 1.e5") << QByteArray(R"({"metric_name":"cpu","value":1.e5})") << json << QString()
                                 << u"malformed number"_s;
    QTest::newRow("number in labels 1.") << QByteArray(R"({"metric_name":"cpu","value":1,"labels":{"a":[1.]}})") << json
                                         << QString() << u"malformed number"_s;
    QTest::newRow("raw tab in string") << QByteArray("{\"metric_name\":\"cpu\",\"value\":1,\"source\":\"a\tb\"}")
                                       << json << QString() << u"raw control character 0x09"_s;
    QTest::newRow("raw newline in key") << QByteArray("{\"metric_name\":\"cpu\",\"value\":1,\"a\nb\":1}") << json
                                        << QString() << u"raw control character 0x0a"_s;
    QTest::newRow("raw U+FEFF opening a label key")
        << QByteArray("{\"metric_name\":\"cpu\",\"value\":1,\"labels\":{\"\xef\xbb\xbfst\":\"x\"}}") << value
        << u"labels.\uFEFFst"_s << u"label key"_s;
    QTest::newRow("short \\u escape") << QByteArray(R"({"metric_name":"cpu","value":1,"source":"\u12"})") << json
                                      << QString() << u"invalid escape"_s;
    QTest::newRow("array body") << QByteArray(R"([{"metric_name":"cpu","value":1}])") << json << QString()
                                << u"must be a JSON object holding one event"_s;
    QTest::newRow("number body") << QByteArray("42") << json << QString() << u"must be a JSON object"_s;
    QTest::newRow("string body") << QByteArray(R"("cpu")") << json << QString() << u"must be a JSON object"_s;
    QTest::newRow("null body") << QByteArray("null") << json << QString() << u"must be a JSON object"_s;
    QTest::newRow("invalid utf-8 byte") << QByteArray("{\"metric_name\":\"cpu\xff\",\"value\":1}") << json << QString()
                                        << u"UTF-8"_s;
    QTest::newRow("overlong utf-8") << QByteArray("{\"metric_name\":\"a\",\"source\":\"\xc0\xaf\",\"value\":1}") << json
                                    << QString() << u"UTF-8"_s;
    QTest::newRow("utf-8 encoded surrogate")
        << QByteArray("{\"source\":\"\xed\xa0\x80\"}") << json << QString() << u"UTF-8"_s;
    QTest::newRow("NaN literal") << QByteArray(R"({"metric_name":"cpu","value":NaN})") << json << QString()
                                 << u"not valid JSON"_s;
    QTest::newRow("Infinity literal") << QByteArray(R"({"metric_name":"cpu","value":Infinity})") << json << QString()
                                      << u"not valid JSON"_s;
    QTest::newRow("leading plus") << QByteArray(R"({"metric_name":"cpu","value":+1})") << json << QString()
                                  << u"not valid JSON"_s;
    QTest::newRow("bare exponent") << QByteArray(R"({"metric_name":"cpu","value":1e})") << json << QString()
                                   << u"not valid JSON"_s;

    // Top-level keys.
    QTest::newRow("unknown field") << with(u"sorce"_s, u"web-1"_s) << u"unknown_field"_s << u"sorce"_s
                                   << u"did you mean 'source'"_s;
    QTest::newRow("unknown camelCase field")
        << with(u"metricName"_s, u"x"_s) << u"unknown_field"_s << u"metricName"_s << u"metric_name"_s;
    QTest::newRow("duplicate field") << QByteArray(R"({"metric_name":"cpu","value":1,"value":2})")
                                     << u"duplicate_field"_s << u"value"_s << u"more than once"_s;
    QTest::newRow("duplicate via escape") << QByteArray(R"({"metric_name":"a","metric\u005fname":"b","value":1})")
                                          << u"duplicate_field"_s << u"metric_name"_s << u"more than once"_s;

    // metric_name.
    QTest::newRow("metric missing") << without(u"metric_name"_s) << missing << u"metric_name"_s << u"required"_s;
    QTest::newRow("metric number") << with(u"metric_name"_s, 7) << type << u"metric_name"_s << u"a number"_s;
    QTest::newRow("metric null") << with(u"metric_name"_s, QJsonValue::Null) << type << u"metric_name"_s << u"null"_s;
    QTest::newRow("metric empty") << with(u"metric_name"_s, QString()) << value << u"metric_name"_s << u"empty"_s;
    QTest::newRow("metric leading digit")
        << with(u"metric_name"_s, u"9cpu"_s) << value << u"metric_name"_s << u"must start with"_s;
    QTest::newRow("metric leading dot") << with(u"metric_name"_s, u".cpu"_s) << value << u"metric_name"_s
                                        << u"must start with"_s;
    QTest::newRow("metric space") << with(u"metric_name"_s, u"cpu usage"_s) << value << u"metric_name"_s
                                  << u"position 4"_s;
    QTest::newRow("metric slash") << with(u"metric_name"_s, u"cpu/usage"_s) << value << u"metric_name"_s << u"'/'"_s;
    QTest::newRow("metric non-ascii") << with(u"metric_name"_s, u"cpü"_s) << value << u"metric_name"_s << u"U+00FC"_s;
    QTest::newRow("metric 129 chars") << with(u"metric_name"_s, repeated(u"m"_s, 129)) << value << u"metric_name"_s
                                      << u"limit is 128"_s;

    // value.
    QTest::newRow("value missing") << without(u"value"_s) << missing << u"value"_s << u"required"_s;
    QTest::newRow("value string") << with(u"value"_s, u"12"_s) << type << u"value"_s << u"without quotes"_s;
    QTest::newRow("value true") << with(u"value"_s, true) << type << u"value"_s << u"a boolean"_s;
    QTest::newRow("value null") << with(u"value"_s, QJsonValue::Null) << type << u"value"_s << u"null"_s;
    QTest::newRow("value array") << with(u"value"_s, QJsonArray {1}) << type << u"value"_s << u"an array"_s;
    QTest::newRow("value object") << with(u"value"_s, QJsonObject()) << type << u"value"_s << u"an object"_s;
    QTest::newRow("value 1e400") << QByteArray(R"({"metric_name":"cpu","value":1e400})") << value << u"value"_s
                                 << u"finite"_s;
    QTest::newRow("value -1e400") << QByteArray(R"({"metric_name":"cpu","value":-1e400})") << value << u"value"_s
                                  << u"finite"_s;
    QTest::newRow("value 2e308 before name")
        << QByteArray(R"({"value": 2E+308 ,"metric_name":"cpu"})") << value << u"value"_s << u"finite"_s;

    // source.
    QTest::newRow("source number") << with(u"source"_s, 1) << type << u"source"_s << u"a number"_s;
    QTest::newRow("source empty") << with(u"source"_s, QString()) << value << u"source"_s << u"leave the field out"_s;
    QTest::newRow("source 129 chars") << with(u"source"_s, repeated(u"s"_s, 129)) << value << u"source"_s
                                      << u"limit is 128"_s;
    QTest::newRow("source newline") << with(u"source"_s, u"web\n1"_s) << value << u"source"_s << u"U+000A"_s;
    QTest::newRow("source NUL escape") << QByteArray(R"({"metric_name":"cpu","value":1,"source":"a\u0000"})") << value
                                       << u"source"_s << u"U+0000"_s;
    QTest::newRow("source DEL") << with(u"source"_s, u"web\x7f"_s) << value << u"source"_s << u"U+007F"_s;
    QTest::newRow("source C1 control") << with(u"source"_s, u"web\u0085"_s) << value << u"source"_s << u"U+0085"_s;
    QTest::newRow("source lone surrogate")
        << QByteArray(R"({"metric_name":"cpu","value":1,"source":"a\ud800b"})") << value << u"source"_s << u"U+D800"_s;

    // timestamp.
    QTest::newRow("timestamp epoch number")
        << with(u"timestamp"_s, 1768824000) << type << u"timestamp"_s << u"RFC 3339"_s;
    QTest::newRow("timestamp without zone")
        << with(u"timestamp"_s, u"2026-01-19T12:30:00"_s) << value << u"timestamp"_s << u"no time zone"_s;
    QTest::newRow("timestamp date only") << with(u"timestamp"_s, u"2026-01-19"_s) << value << u"timestamp"_s
                                         << u"no time of day"_s;
    QTest::newRow("timestamp Feb 30") << with(u"timestamp"_s, u"2026-02-30T12:00:00Z"_s) << value << u"timestamp"_s
                                      << u"calendar date"_s;
    QTest::newRow("timestamp Feb 29 non-leap")
        << with(u"timestamp"_s, u"2026-02-29T12:00:00Z"_s) << value << u"timestamp"_s << u"calendar date"_s;
    QTest::newRow("timestamp month 13") << with(u"timestamp"_s, u"2026-13-01T12:00:00Z"_s) << value << u"timestamp"_s
                                        << u"calendar date"_s;
    QTest::newRow("timestamp hour 24") << with(u"timestamp"_s, u"2026-01-19T24:00:00Z"_s) << value << u"timestamp"_s
                                       << u"out of range"_s;
    QTest::newRow("timestamp words") << with(u"timestamp"_s, u"yesterday"_s) << value << u"timestamp"_s
                                     << u"2026-01-19T12:30:00Z"_s;
    QTest::newRow("timestamp short offset")
        << with(u"timestamp"_s, u"2026-01-19T12:00:00+2:00"_s) << value << u"timestamp"_s << u"+HH:MM"_s;
    QTest::newRow("timestamp offset 24h")
        << with(u"timestamp"_s, u"2026-01-19T12:00:00+24:00"_s) << value << u"timestamp"_s << u"offset out of range"_s;
    QTest::newRow("timestamp empty fraction")
        << with(u"timestamp"_s, u"2026-01-19T12:00:00.Z"_s) << value << u"timestamp"_s << u"RFC 3339"_s;
    QTest::newRow("timestamp too far past")
        << with(u"timestamp"_s, u"2026-01-17T12:00:00Z"_s) << value << u"timestamp"_s << u"2 days in the past"_s;
    QTest::newRow("timestamp too far future")
        << with(u"timestamp"_s, u"2026-01-21T12:00:00Z"_s) << value << u"timestamp"_s << u"in the future"_s;
    QTest::newRow("timestamp 1 ms past window")
        << with(u"timestamp"_s, u"2026-01-20T12:00:00.001Z"_s) << value << u"timestamp"_s << u"within 24 hours"_s;

    // labels.
    QTest::newRow("labels array") << with(u"labels"_s, QJsonArray {u"a"_s}) << type << u"labels"_s << u"JSON object"_s;
    QTest::newRow("labels string") << with(u"labels"_s, u"host=web-1"_s) << type << u"labels"_s << u"JSON object"_s;
    QTest::newRow("33 labels") << with(u"labels"_s, manyLabels(33)) << value << u"labels"_s << u"limit is 32"_s;
    QTest::newRow("label value number") << with(u"labels"_s, QJsonObject {{u"port"_s, 8080}}) << type
                                        << u"labels.port"_s << u"quote numbers"_s;
    QTest::newRow("label value null") << with(u"labels"_s, QJsonObject {{u"zone"_s, QJsonValue::Null}}) << type
                                      << u"labels.zone"_s << u"null"_s;
    QTest::newRow("label value 1e400") << QByteArray(R"({"metric_name":"cpu","value":1,"labels":{"x":1e400}})") << type
                                       << u"labels.x"_s << u"a number"_s;
    QTest::newRow("label key leading digit")
        << with(u"labels"_s, QJsonObject {{u"1zone"_s, u"a"_s}}) << value << u"labels.1zone"_s << u"must start with"_s;
    QTest::newRow("label key space") << with(u"labels"_s, QJsonObject {{u"my zone"_s, u"a"_s}}) << value
                                     << u"labels.my zone"_s << u"position 3"_s;
    QTest::newRow("label key empty") << with(u"labels"_s, QJsonObject {{QString(), u"a"_s}}) << value << u"labels."_s
                                     << u"empty"_s;
    QTest::newRow("label key 129") << with(u"labels"_s, QJsonObject {{repeated(u"k"_s, 129), u"a"_s}}) << value
                                   << u"labels."_s + repeated(u"k"_s, 129) << u"limit is 128"_s;
    QTest::newRow("label value 257") << with(u"labels"_s, QJsonObject {{u"k"_s, repeated(u"v"_s, 257)}}) << value
                                     << u"labels.k"_s << u"limit is 256"_s;
    QTest::newRow("label value control") << with(u"labels"_s, QJsonObject {{u"k"_s, u"a\tb"_s}}) << value
                                         << u"labels.k"_s << u"U+0009"_s;

    // idempotency_key.
    QTest::newRow("key number") << with(u"idempotency_key"_s, 12345) << type << u"idempotency_key"_s << u"a number"_s;
    QTest::newRow("key empty") << with(u"idempotency_key"_s, QString()) << value << u"idempotency_key"_s << u"empty"_s;
    QTest::newRow("key 129 chars") << with(u"idempotency_key"_s, repeated(u"k"_s, 129)) << value << u"idempotency_key"_s
                                   << u"limit is 128"_s;
    QTest::newRow("key with tab") << with(u"idempotency_key"_s, u"abc\tdef"_s) << value << u"idempotency_key"_s
                                  << u"U+0009"_s;

    // Order: the first broken field in a fixed order wins, so one body always gets the same answer.
    QTest::newRow("unknown beats missing")
        << QByteArray(R"({"x":1})") << u"unknown_field"_s << u"x"_s << u"allowed fields"_s;
    QTest::newRow("name checked before value")
        << QByteArray(R"({"metric_name":1,"value":"1"})") << type << u"metric_name"_s << u"a number"_s;
}

void TestValidation::rejects()
{
    QFETCH(QByteArray, body);
    QFETCH(QString, code);
    QFETCH(QString, field);
    QFETCH(QString, messageHas);

    IngestEvent event;
    event.metricName = u"untouched"_s;
    const std::optional<ValidationError> error = vigil::parseIngest(body, kNowMs, &event);
    QVERIFY2(error.has_value(), body.constData());
    QCOMPARE(error->code, code);
    QCOMPARE(error->field, field);
    QVERIFY2(error->message.contains(messageHas, Qt::CaseInsensitive), qPrintable(error->message));
    // A message is a sentence: starts with a letter or quote, ends with a full stop.
    QVERIFY2(error->message.endsWith(u'.'), qPrintable(error->message));
    QCOMPARE(event.metricName, u"untouched"_s); // *out is written only on success
}

void TestValidation::accepts_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<QString>("metric");
    QTest::addColumn<double>("value");
    QTest::addColumn<QString>("source");
    QTest::addColumn<qint64>("timestampMs");
    QTest::addColumn<int>("labelCount");
    QTest::addColumn<QString>("key");

    QTest::newRow("minimal") << QByteArray(R"({"metric_name":"cpu_usage","value":42})") << u"cpu_usage"_s << 42.0
                             << QString() << kNowMs << 0 << QString();
    QTest::newRow("all fields") << QByteArray(R"({"metric_name":"memory_usage","value":87.5,"source":"web-1",)"
                                              R"("timestamp":"2026-01-19T11:00:00Z","labels":{"zone":"eu-1",)"
                                              R"("tier":"db"},"idempotency_key":"evt-0001"})")
                                << u"memory_usage"_s << 87.5 << u"web-1"_s << kNowMs - 3600 * 1000 << 2
                                << u"evt-0001"_s;
    QTest::newRow("number -0.5e+3") << QByteArray(R"({"metric_name":"cpu_usage","value":-0.5e+3})") << u"cpu_usage"_s
                                    << -500.0 << QString() << kNowMs << 0 << QString();
    QTest::newRow("number 0E-2 after a BOM") << QByteArray("\xef\xbb\xbf{\"metric_name\":\"cpu_usage\",\"value\":0E-2,"
                                                           "\"labels\":{\"a\":\"x\"}}")
                                             << u"cpu_usage"_s << 0.0 << QString() << kNowMs << 1 << QString();
    // Found by fuzz_ingest: Qt 6.4 drops a raw U+FEFF that opens a string; it must be kept as sent.
    QTest::newRow("raw U+FEFF opening source") << QByteArray("{\"metric_name\":\"cpu_usage\",\"value\":1,"
                                                             "\"source\":\"\xef\xbb\xbfweb\"}")
                                               << u"cpu_usage"_s << 1.0 << u"\uFEFFweb"_s << kNowMs << 0 << QString();
    QTest::newRow("unicode source") << with(u"source"_s, u"Zürich 机房 🚀"_s) << u"cpu_usage"_s << 42.0
                                    << u"Zürich 机房 🚀"_s << kNowMs << 0 << QString();
    const QString name128 = u"a"_s + repeated(u"_:.-9"_s, 25) + u"xx"_s;
    QTest::newRow("metric exactly 128") << with(u"metric_name"_s, name128) << name128 << 42.0 << QString() << kNowMs
                                        << 0 << QString();
    const QString emoji128 = repeated(u"🚀"_s, 128); // 256 UTF-16 units, 128 characters
    QTest::newRow("source 128 emoji") << with(u"source"_s, emoji128) << u"cpu_usage"_s << 42.0 << emoji128 << kNowMs
                                      << 0 << QString();
    const QString key128 = repeated(u"k"_s, 128);
    QTest::newRow("key exactly 128") << with(u"idempotency_key"_s, key128) << u"cpu_usage"_s << 42.0 << QString()
                                     << kNowMs << 0 << key128;
    QJsonObject fullLabels = manyLabels(31);
    fullLabels.insert(repeated(u"L"_s, 128), repeated(u"v"_s, 256));
    QTest::newRow("32 labels, longest key and value")
        << with(u"labels"_s, fullLabels) << u"cpu_usage"_s << 42.0 << QString() << kNowMs << 32 << QString();
    QTest::newRow("empty label value") << with(u"labels"_s, QJsonObject {{u"k"_s, QString()}}) << u"cpu_usage"_s << 42.0
                                       << QString() << kNowMs << 1 << QString();
    QTest::newRow("offset and fraction") << with(u"timestamp"_s, u"2026-01-19T14:30:00.123+02:00"_s) << u"cpu_usage"_s
                                         << 42.0 << QString() << kNowMs + 30 * 60000 + 123 << 0 << QString();
    QTest::newRow("negative offset") << with(u"timestamp"_s, u"2026-01-19T06:00:00-05:30"_s) << u"cpu_usage"_s << 42.0
                                     << QString() << kNowMs - 30 * 60000 << 0 << QString();
    QTest::newRow("nanosecond fraction truncated")
        << with(u"timestamp"_s, u"2026-01-19T12:00:00.987654321Z"_s) << u"cpu_usage"_s << 42.0 << QString()
        << kNowMs + 987 << 0 << QString();
    QTest::newRow("lower-case t and z") << with(u"timestamp"_s, u"2026-01-19t12:00:01z"_s) << u"cpu_usage"_s << 42.0
                                        << QString() << kNowMs + 1000 << 0 << QString();
    QTest::newRow("space separator") << with(u"timestamp"_s, u"2026-01-19 12:00:01+00:00"_s) << u"cpu_usage"_s << 42.0
                                     << QString() << kNowMs + 1000 << 0 << QString();
    QTest::newRow("leap second") << with(u"timestamp"_s, u"2026-01-19T11:59:60Z"_s) << u"cpu_usage"_s << 42.0
                                 << QString() << kNowMs << 0 << QString();
    QTest::newRow("window edge past") << with(u"timestamp"_s, u"2026-01-18T12:00:00Z"_s) << u"cpu_usage"_s << 42.0
                                      << QString() << kNowMs - kDayMs << 0 << QString();
    QTest::newRow("window edge future") << with(u"timestamp"_s, u"2026-01-20T13:00:00+01:00"_s) << u"cpu_usage"_s
                                        << 42.0 << QString() << kNowMs + kDayMs << 0 << QString();
    QTest::newRow("prometheus-style name")
        << with(u"metric_name"_s, u":http:requests.total-5xx"_s) << u":http:requests.total-5xx"_s << 42.0 << QString()
        << kNowMs << 0 << QString();
    QTest::newRow("negative value") << with(u"value"_s, -3.25) << u"cpu_usage"_s << -3.25 << QString() << kNowMs << 0
                                    << QString();
    QTest::newRow("zero") << with(u"value"_s, 0) << u"cpu_usage"_s << 0.0 << QString() << kNowMs << 0 << QString();
    QTest::newRow("largest double") << QByteArray(R"({"metric_name":"m","value":1.7976931348623157e308})") << u"m"_s
                                    << std::numeric_limits<double>::max() << QString() << kNowMs << 0 << QString();
    QTest::newRow("integer beyond 2^63") << QByteArray(R"({"metric_name":"m","value":12345678901234567890})") << u"m"_s
                                         << 12345678901234567890.0 << QString() << kNowMs << 0 << QString();
    QTest::newRow("underflow rounds to 0") << QByteArray(R"({"metric_name":"m","value":1e-400})") << u"m"_s << 0.0
                                           << QString() << kNowMs << 0 << QString();
    QTest::newRow("null optionals") << QByteArray(R"({"metric_name":"m","value":1,"source":null,"timestamp":null,)"
                                                  R"("labels":null,"idempotency_key":null})")
                                    << u"m"_s << 1.0 << QString() << kNowMs << 0 << QString();
    QTest::newRow("utf-8 BOM and whitespace") << QByteArray("\xEF\xBB\xBF \n{ \"value\" : 5 ,\n \"metric_name\" : "
                                                            "\"m\" }\n")
                                              << u"m"_s << 5.0 << QString() << kNowMs << 0 << QString();
    QTest::newRow("escaped key") << QByteArray(R"({"metric\u005fname":"m","value":1})") << u"m"_s << 1.0 << QString()
                                 << kNowMs << 0 << QString();
}

void TestValidation::accepts()
{
    QFETCH(QByteArray, body);
    QFETCH(QString, metric);
    QFETCH(double, value);
    QFETCH(QString, source);
    QFETCH(qint64, timestampMs);
    QFETCH(int, labelCount);
    QFETCH(QString, key);

    IngestEvent event;
    const std::optional<ValidationError> error = vigil::parseIngest(body, kNowMs, &event);
    QVERIFY2(!error, error ? qPrintable(error->code + u": "_s + error->message) : "");
    QCOMPARE(event.metricName, metric);
    QCOMPARE(event.value, value);
    QCOMPARE(event.source, source);
    QCOMPARE(event.timestampMs, timestampMs);
    QCOMPARE(event.labels.size(), labelCount);
    QCOMPARE(event.idempotencyKey, key);
}

void TestValidation::rfc3339_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<qint64>("epochMs");

    QTest::newRow("epoch") << u"1970-01-01T00:00:00Z"_s << true << qint64(0);
    QTest::newRow("before epoch") << u"1969-12-31T23:59:59.5Z"_s << true << qint64(-500);
    QTest::newRow("leap day") << u"2024-02-29T00:00:00Z"_s << true << qint64(1709164800000);
    QTest::newRow("year 2000 leap") << u"2000-02-29T12:00:00+12:00"_s << true << qint64(951782400000);
    QTest::newRow("1900 not leap") << u"1900-02-29T00:00:00Z"_s << false << qint64(0);
    QTest::newRow("-00:00 is UTC") << u"2026-01-19T12:00:00-00:00"_s << true << kNowMs;
    QTest::newRow("year 0000") << u"0000-01-01T00:00:00Z"_s << true << qint64(-62167219200000);
    QTest::newRow("minute 60") << u"2026-01-19T12:60:00Z"_s << false << qint64(0);
    QTest::newRow("second 61") << u"2026-01-19T12:00:61Z"_s << false << qint64(0);
    QTest::newRow("compact ISO form") << u"20260119T120000Z"_s << false << qint64(0);
    QTest::newRow("arabic-indic digits") << u"٢٠٢٦-01-19T12:00:00Z"_s << false << qint64(0);
    QTest::newRow("trailing text") << u"2026-01-19T12:00:00Z now"_s << false << qint64(0);
    QTest::newRow("offset without colon") << u"2026-01-19T12:00:00+0200"_s << false << qint64(0);
    QTest::newRow("empty") << QString() << false << qint64(0);
}

void TestValidation::rfc3339()
{
    QFETCH(QString, text);
    QFETCH(bool, valid);
    QFETCH(qint64, epochMs);

    qint64 parsed = 0;
    QString why;
    QCOMPARE(vigil::parseRfc3339(text, &parsed, &why), valid);
    if (valid)
        QCOMPARE(parsed, epochMs);
    else
        QVERIFY(!why.isEmpty());
}

void TestValidation::roundTripsCanonicalJson()
{
    IngestEvent event;
    event.metricName = u"disk_usage"_s;
    event.value = 96.125;
    event.source = u"db-7 (eu)"_s;
    event.timestampMs = kNowMs - 1234;
    event.labels = QJsonObject {{u"mount"_s, u"/var"_s}};
    event.idempotencyKey = u"k-1"_s;

    const QJsonObject json = vigil::ingestEventToJson(event);
    QCOMPARE(json.value(u"timestamp"_s).toString(), u"2026-01-19T11:59:58.766Z"_s);
    IngestEvent back;
    QVERIFY(!vigil::validateIngestObject(json, kNowMs, &back));
    QCOMPARE(back.metricName, event.metricName);
    QCOMPARE(back.value, event.value);
    QCOMPARE(back.source, event.source);
    QCOMPARE(back.timestampMs, event.timestampMs);
    QCOMPARE(back.labels, event.labels);
    QCOMPARE(back.idempotencyKey, event.idempotencyKey);

    // Unset optionals are left out, so the canonical form of a minimal event is valid input as well.
    IngestEvent minimal;
    minimal.metricName = u"m"_s;
    minimal.timestampMs = kNowMs;
    const QJsonObject minimalJson = vigil::ingestEventToJson(minimal);
    QVERIFY(!minimalJson.contains(u"source"_s));
    QVERIFY(!minimalJson.contains(u"idempotency_key"_s));
    QVERIFY(!vigil::validateIngestObject(minimalJson, kNowMs, &back));
    QCOMPARE(back.timestampMs, kNowMs);
}

void TestValidation::validateObjectRejectsNonFinite()
{
    for (const double bad : {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()}) {
        QJsonObject o = baseObject();
        o.insert(u"value"_s, bad);
        const auto error = vigil::validateIngestObject(o, kNowMs, nullptr);
        QVERIFY(error);
        QCOMPARE(error->code, u"invalid_value"_s);
        QCOMPARE(error->field, u"value"_s);
    }
    QVERIFY(!vigil::validateIngestObject(baseObject(), kNowMs, nullptr)); // a null out is allowed
}

void TestValidation::honoursCustomLimits()
{
    IngestLimits limits;
    limits.maxLabels = 2;
    limits.maxSourceLength = 4;
    limits.timestampSkewMs = 60 * 1000;

    IngestEvent event;
    QVERIFY(!vigil::parseIngest(with(u"source"_s, u"abcd"_s), kNowMs, &event, limits));
    auto error = vigil::parseIngest(with(u"source"_s, u"abcde"_s), kNowMs, &event, limits);
    QVERIFY(error);
    QCOMPARE(error->field, u"source"_s);
    error = vigil::parseIngest(with(u"labels"_s, manyLabels(3)), kNowMs, &event, limits);
    QVERIFY(error);
    QVERIFY2(error->message.contains(u"limit is 2"_s), qPrintable(error->message));
    error = vigil::parseIngest(with(u"timestamp"_s, u"2026-01-19T12:02:00Z"_s), kNowMs, &event, limits);
    QVERIFY(error);
    QVERIFY2(error->message.contains(u"2 minutes in the future"_s), qPrintable(error->message));
}

void TestValidation::helpers()
{
    QVERIFY(vigil::isValidMetricName(u"cpu_usage"));
    QVERIFY(vigil::isValidMetricName(u"a:b.c-d_9"));
    QVERIFY(!vigil::isValidMetricName(u""));
    QVERIFY(!vigil::isValidMetricName(u"-a"));
    QVERIFY(!vigil::isValidMetricName(u"abcd", 3));
    QVERIFY(vigil::isPrintableText(u"ok 🚀 text"));
    QVERIFY(!vigil::isPrintableText(u"line\u2028break"));
    QVERIFY(!vigil::isPrintableText(QStringView(u"\U0001F680").first(1))); // half a surrogate pair
}

QTEST_APPLESS_MAIN(TestValidation)
#include "tst_validation.moc"
