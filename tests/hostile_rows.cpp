// The rows of tst_hostile: one raw HTTP request each, with the status and error code the server must answer.
// In a file of their own because moc (Qt 6.4) loses its way in some of these raw string literals.
#include "hostile_rows.h"

#include "support/rawhttp.h"

#include <QtTest>

using namespace vigil::testsupport;

namespace {

constexpr qsizetype kMiB = 1024 * 1024;

QByteArray ingest(const QByteArray &body, const QByteArray &extraHeaders = {})
{
    return rawPost("/api/v1/ingest", body, extraHeaders);
}

QByteArray eventBody(const QByteArray &extraFields = {})
{
    return R"({"metric_name":"cpu_usage","value":42.5)" + extraFields + "}";
}

// A raw request with a hand-written head (no body unless given).
QByteArray raw(const QByteArray &head, const QByteArray &body = {})
{
    return head + "\r\n" + body;
}

QByteArray repeated(const QByteArray &piece, qsizetype count)
{
    return piece.repeated(count);
}

} // namespace

void addHostileRows()
{
    QTest::addColumn<QByteArray>("request");
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("code"); // expected error.code; empty for successful answers

    const auto row = [](const char *name, const QByteArray &request, int status, const char *code = "") {
        QTest::newRow(name) << request << status << QString::fromLatin1(code);
    };

    // --- the control rows: a valid event is still accepted --------------------------------------------------
    row("valid event", ingest(eventBody()), 202);
    row("valid, every field",
        ingest(eventBody(R"(,"source":"web-1","timestamp":null,"labels":{"env":"x"},)"
                         R"("idempotency_key":"hostile-1")")),
        202);
    row("valid, no Content-Type", rawPost("/api/v1/ingest", eventBody(), {}, {}), 202);
    row("valid, emoji in source", ingest(eventBody(",\"source\":\"\xf0\x9f\x98\x80 \\ud83d\\ude00\"")), 202);
    row("valid, body exactly 1 MiB", ingest(eventBody().leftJustified(kMiB, ' ')), 202);

    // --- malformed JSON -------------------------------------------------------------------------------------
    row("empty body", ingest({}), 400, "invalid_json");
    row("whitespace body", ingest(" \r\n\t "), 400, "invalid_json");
    row("lone brace", ingest("{"), 400, "invalid_json");
    row("unterminated object", ingest(R"({"metric_name":"cpu","value":1)"), 400, "invalid_json");
    row("unterminated string", ingest(R"({"metric_name":"cpu)"), 400, "invalid_json");
    row("trailing comma", ingest(R"({"metric_name":"cpu","value":1,})"), 400, "invalid_json");
    row("single quotes", ingest(R"({'metric_name':'cpu','value':1})"), 400, "invalid_json");
    row("unquoted keys", ingest(R"({metric_name:"cpu",value:1})"), 400, "invalid_json");
    row("two objects", ingest(eventBody() + eventBody()), 400, "invalid_json");
    row("trailing garbage", ingest(eventBody() + "xyz"), 400, "invalid_json");
    row("comment", ingest(eventBody() + " // cpu"), 400, "invalid_json");
    row("array of events", ingest("[" + eventBody() + "]"), 400, "invalid_json");
    row("bare string", ingest(R"("cpu_usage")"), 400, "invalid_json");
    row("bare number", ingest("42"), 400, "invalid_json");
    row("null body", ingest("null"), 400, "invalid_json");
    row("hex number", ingest(R"({"metric_name":"cpu","value":0x10})"), 400, "invalid_json");
    row("leading dot", ingest(R"({"metric_name":"cpu","value":.5})"), 400, "invalid_json");
    row("trailing dot", ingest(R"({"metric_name":"cpu","value":1.})"), 400, "invalid_json");
    row("dot before exponent", ingest(R"({"metric_name":"cpu","value":1.e5})"), 400, "invalid_json");
    row("plus sign", ingest(R"({"metric_name":"cpu","value":+1})"), 400, "invalid_json");
    row("invalid escape \\x41", ingest(R"({"metric_name":"cpu","value":1,"source":"\x41"})"), 400, "invalid_json");
    row("truncated \\u escape", ingest(R"({"metric_name":"cpu","value":1,"source":"\u12"})"), 400, "invalid_json");
    row("raw newline in string", ingest("{\"metric_name\":\"cpu\",\"value\":1,\"source\":\"a\nb\"}"), 400,
        "invalid_json");

    // --- NaN, Infinity and numbers out of range --------------------------------------------------------------
    row("NaN", ingest(R"({"metric_name":"cpu","value":NaN})"), 400, "invalid_json");
    row("Infinity", ingest(R"({"metric_name":"cpu","value":Infinity})"), 400, "invalid_json");
    row("-Infinity", ingest(R"({"metric_name":"cpu","value":-Infinity})"), 400, "invalid_json");
    row("1e400 overflows", ingest(R"({"metric_name":"cpu","value":1e400})"), 400, "invalid_value");
    row("-1e400 overflows", ingest(R"({"metric_name":"cpu","value":-1e400})"), 400, "invalid_value");
    row("\"NaN\" as a string", ingest(R"({"metric_name":"cpu","value":"NaN"})"), 400, "invalid_type");

    // --- wrong types and invalid fields -----------------------------------------------------------------------
    row("value true", ingest(R"({"metric_name":"cpu","value":true})"), 400, "invalid_type");
    row("value null", ingest(R"({"metric_name":"cpu","value":null})"), 400, "invalid_type");
    row("value array", ingest(R"({"metric_name":"cpu","value":[1]})"), 400, "invalid_type");
    row("value object", ingest(R"({"metric_name":"cpu","value":{"v":1}})"), 400, "invalid_type");
    row("metric_name number", ingest(R"({"metric_name":42,"value":1})"), 400, "invalid_type");
    row("metric_name empty", ingest(R"({"metric_name":"","value":1})"), 400, "invalid_value");
    row("metric_name 129 chars", ingest(R"({"metric_name":")" + QByteArray(129, 'a') + R"(","value":1})"), 400,
        "invalid_value");
    row("metric_name starts with digit", ingest(R"({"metric_name":"9cpu","value":1})"), 400, "invalid_value");
    row("metric_name with space", ingest(R"({"metric_name":"cpu usage","value":1})"), 400, "invalid_value");
    row("missing metric_name", ingest(R"({"value":1})"), 400, "missing_field");
    row("missing value", ingest(R"({"metric_name":"cpu"})"), 400, "missing_field");
    row("empty object", ingest("{}"), 400, "missing_field");
    row("duplicate field", ingest(R"({"metric_name":"cpu","value":1,"value":2})"), 400, "duplicate_field");
    row("duplicate via escape", ingest(R"({"metric_name":"cpu","value":1,"\u0076alue":2})"), 400, "duplicate_field");
    row("unknown field", ingest(eventBody(R"(,"sorce":"web-1")")), 400, "unknown_field");
    row("10000 repeated unknown fields", ingest("{" + repeated(R"("x":1,)", 10000) + R"("metric_name":"c","value":1})"),
        400, "duplicate_field");
    row("labels array", ingest(eventBody(R"(,"labels":["a"])")), 400, "invalid_type");
    row("label value number", ingest(eventBody(R"(,"labels":{"a":1})")), 400, "invalid_type");
    row("33 labels",
        ingest(eventBody(",\"labels\":{" +
            [] {
                QByteArray pairs;
                for (int i = 0; i < 33; ++i)
                    pairs += (i ? "," : "") + QByteArray("\"k") + QByteArray::number(i) + "\":\"v\"";
                return pairs;
            }()
            + "}")),
        400, "invalid_value");
    row("label value 257 chars", ingest(eventBody(R"(,"labels":{"a":")" + QByteArray(257, 'v') + "\"}")), 400,
        "invalid_value");
    row("timestamp words", ingest(eventBody(R"(,"timestamp":"yesterday")")), 400, "invalid_value");
    row("timestamp without zone", ingest(eventBody(R"(,"timestamp":"2026-01-19T12:30:00")")), 400, "invalid_value");
    row("timestamp in 2099", ingest(eventBody(R"(,"timestamp":"2099-01-01T00:00:00Z")")), 400, "invalid_value");
    row("timestamp number", ingest(eventBody(R"(,"timestamp":1768825800)")), 400, "invalid_type");
    row("source empty", ingest(eventBody(R"(,"source":"")")), 400, "invalid_value");
    row("source 100 KB", ingest(eventBody(R"(,"source":")" + QByteArray(100'000, 's') + "\"")), 400, "invalid_value");
    row("idempotency_key number", ingest(eventBody(R"(,"idempotency_key":7)")), 400, "invalid_type");

    // --- unicode edge cases -----------------------------------------------------------------------------------
    row("NUL escape in source", ingest(eventBody(R"(,"source":"a\u0000b")")), 400, "invalid_value");
    row("raw NUL byte in body", ingest(QByteArray(R"({"metric_name":"cpu","value":1,"source":"a)") + '\0' + "b\"}"),
        400, "invalid_json");
    row("lone high surrogate", ingest(eventBody(R"(,"source":"\ud800")")), 400, "invalid_value");
    row("lone low surrogate in label", ingest(eventBody(R"(,"labels":{"a":"\udc00"})")), 400, "invalid_value");
    row("reversed surrogate pair", ingest(eventBody(R"(,"source":"\ude00\ud83d")")), 400, "invalid_value");
    row("overlong UTF-8 '/'", ingest(eventBody(",\"source\":\"\xc0\xaf\"")), 400, "invalid_json");
    row("UTF-8 encoded surrogate", ingest(eventBody(",\"source\":\"\xed\xa0\x80\"")), 400, "invalid_json");
    row("invalid byte 0xFF", ingest(eventBody(",\"source\":\"\xff\"")), 400, "invalid_json");
    row("truncated UTF-8 sequence", ingest(eventBody(",\"source\":\"\xe2\x82\"")), 400, "invalid_json");
    row("Latin-1 body", ingest(eventBody(",\"source\":\"caf\xe9\"")), 400, "invalid_json");
    // RFC 8259 §8.1: a parser MAY ignore a byte order mark; Qt does, and nothing of it is stored.
    row("UTF-8 BOM ignored", ingest("\xef\xbb\xbf" + eventBody()), 202);
    row("UTF-16 body", ingest(QByteArray::fromRawData(reinterpret_cast<const char *>(u"{\"value\":1}"), 22)), 400,
        "invalid_json");
    row("C1 control in source", ingest(eventBody(R"(,"source":"a\u0085b")")), 400, "invalid_value");
    row("emoji in metric_name", ingest(R"({"metric_name":"cpu_\ud83d\ude00","value":1})"), 400, "invalid_value");

    // --- nesting and size --------------------------------------------------------------------------------------
    row("labels nested 100 deep",
        ingest(eventBody(",\"labels\":{\"a\":" + repeated("{\"a\":", 100) + "1" + repeated("}", 101))), 400,
        "invalid_type");
    row("arrays nested 100000 deep", ingest(repeated("[", 100'000) + repeated("]", 100'000)), 400, "invalid_json");
    row("objects nested 50000 deep, unclosed", ingest(repeated("{\"a\":", 50'000)), 400, "invalid_json");
    row("body 1 MiB + 1", ingest(eventBody().leftJustified(kMiB + 1, ' ')), 413, "payload_too_large");
    row("declared 2 GiB",
        raw("POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 2147483648\r\n"),
        413, "payload_too_large");
    row("chunked 2 MiB",
        raw("POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n",
            "200000\r\n" + QByteArray(2 * kMiB, ' ') + "\r\n0\r\n\r\n"),
        413, "payload_too_large");

    // --- header abuse -----------------------------------------------------------------------------------------
    row("conflicting Content-Length",
        raw("POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n", "{}"), 400,
        "bad_request");
    row("negative Content-Length", raw("POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n"), 400,
        "bad_request");
    row("non-numeric Content-Length", raw("POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Length: ab\r\n"), 400,
        "bad_request");
    row("signed Content-Length", raw("POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n", "{}"), 400,
        "bad_request");
    row("Content-Length 20 digits",
        raw("POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n"), 400, "bad_request");
    row("header 40 KiB", rawGet("/healthz", "X-Big: " + QByteArray(40 * 1024, 'b') + "\r\n"), 431, "headers_too_large");
    row("2000 headers", rawGet("/healthz", repeated("X-Many: 0123456789abcdef\r\n", 2000)), 431, "headers_too_large");
    row("header without colon", rawGet("/healthz", "NoColonHere\r\n"), 400, "bad_request");
    row("space before colon", rawGet("/healthz", "X-A : b\r\n"), 400, "bad_request");
    row("NUL in header", rawGet("/healthz", QByteArray("X-A: a\0b\r\n", 10)), 400, "bad_request");
    row("garbage request line", raw("GARBAGE\r\n"), 400, "bad_request");
    row("HTTP/0.9 request line", raw("GET /healthz\r\n"), 400, "bad_request");
    row("unknown HTTP version", raw("GET /healthz HTTP/7.1\r\nHost: x\r\n"), 400, "bad_request");
    row("space in path", raw("GET /heal thz HTTP/1.1\r\nHost: x\r\n"), 400, "bad_request");
    // Found by fuzz_request_head: control bytes inside the request target went on to routing.
    row("NUL in path", raw(QByteArray("GET /heal\0thz HTTP/1.1\r\nHost: x\r\n", 33)), 400, "bad_request");
    row("tab in path", raw("GET /heal\tthz HTTP/1.1\r\nHost: x\r\n"), 400, "bad_request");
    row("CR in path", raw("GET /heal\rthz HTTP/1.1\r\nHost: x\r\n"), 400, "bad_request");
    row("DEL in path", raw("GET /heal\x7fthz HTTP/1.1\r\nHost: x\r\n"), 400, "bad_request");
    row("binary request line", raw(QByteArray("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + "\r\n"), 400,
        "bad_request");

    // --- path tricks -------------------------------------------------------------------------------------------
    row("unknown path", rawGet("/nope"), 404, "not_found");
    row("dot-dot segment", rawGet("/api/v1/../metrics"), 404, "not_found");
    row("encoded dot-dot", rawGet("/api/v1/%2e%2e/metrics"), 404, "not_found");
    // The path is percent-decoded before routing (Qt's QUrl::path()): %2F reaches the same route, with the same
    // handler and checks, so it is no way around anything.
    row("encoded slashes", rawGet("/api%2Fv1%2Fqueue"), 200);
    row("double slash", rawGet("//healthz"), 404, "not_found");
    row("trailing slash", rawGet("/healthz/"), 404, "not_found");
    row("encoded NUL in path", rawGet("/healthz%00"), 404, "not_found");
    row("path 30 KiB", rawGet("/" + QByteArray(30 * 1024, 'p')), 404, "not_found");
    row("path 40 KiB", rawGet("/" + QByteArray(40 * 1024, 'p')), 431, "headers_too_large");
    row("query junk on healthz", rawGet("/healthz?%zz&&=&a=%ff%00#frag"), 200);
    row("asterisk target", raw("GET * HTTP/1.1\r\nHost: x\r\n"), 404, "not_found");

    // --- content type and method --------------------------------------------------------------------------------
    row("text/plain", rawPost("/api/v1/ingest", eventBody(), {}, "text/plain"), 415, "unsupported_media_type");
    row("form encoded", rawPost("/api/v1/ingest", eventBody(), {}, "application/x-www-form-urlencoded"), 415,
        "unsupported_media_type");
    row("multipart", rawPost("/api/v1/ingest", eventBody(), {}, "multipart/form-data; boundary=x"), 415,
        "unsupported_media_type");
    row("GET on ingest", rawGet("/api/v1/ingest"), 405, "method_not_allowed");
    row("PUT on ingest", raw("PUT /api/v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"), 405,
        "method_not_allowed");
    row("DELETE on healthz", raw("DELETE /healthz HTTP/1.1\r\nHost: x\r\n"), 405, "method_not_allowed");
    row("POST on metrics", rawPost("/metrics", "{}"), 405, "method_not_allowed");
    row("made-up method", raw("BREW /healthz HTTP/1.1\r\nHost: x\r\n"), 405, "method_not_allowed");

    // --- fault header and query parameters ----------------------------------------------------------------------
    row("fault header bogus", ingest(eventBody(), "X-Vigil-Fault: explode\r\n"), 400, "invalid_header");
    row("fault delay negative", ingest(eventBody(), "X-Vigil-Fault: delay=-5\r\n"), 400, "invalid_header");
    row("fault delay huge", ingest(eventBody(), "X-Vigil-Fault: delay=99999999999\r\n"), 400, "invalid_header");
    row("simulator rate abc", rawPost("/api/v1/ui/simulator/start?rate=abc", {}), 400, "invalid_parameter");
    row("simulator rate NaN", rawPost("/api/v1/ui/simulator/start?rate=NaN", {}), 400, "invalid_parameter");
    row("simulator rate 1e309", rawPost("/api/v1/ui/simulator/start?rate=1e309", {}), 400, "invalid_parameter");
    row("simulator rate twice", rawPost("/api/v1/ui/simulator/start?rate=1&rate=2", {}), 400, "invalid_parameter");
    row("simulator unknown parameter", rawPost("/api/v1/ui/simulator/start?rat=1", {}), 400, "unknown_parameter");
    row("simulator shares over 1", rawPost("/api/v1/ui/simulator/start?failure_rate=0.6&timeout_rate=0.6", {}), 400,
        "invalid_parameter");
    row("simulator target elsewhere", rawPost("/api/v1/ui/simulator/start?target=ftp://x", {}), 400,
        "invalid_parameter");
    row("timeseries window abc", rawGet("/api/v1/stats/timeseries?window=abc"), 400, "invalid_parameter");
}
