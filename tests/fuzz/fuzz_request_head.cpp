// libFuzzer target over the HTTP front door's request-head parser (backend/http/requesthead.h): arbitrary bytes
// are split where findHeadEnd says the head ends, then parsed as the guard does. Besides "no crash, no UB, no leak",
// a refusal is always 400 bad_request with a message, an accepted head has a well-formed method, a target without
// whitespace or control bytes and a version the server speaks, its Content-Length is the one the bytes declare, and
// a canonical head rebuilt from the result parses to the same result.
#include "invariant.h"
#include "http/requesthead.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

using namespace vigil;
using vigil::fuzz::check;
using vigil::fuzz::fail;

namespace {

bool sameHead(const RequestHead &a, const RequestHead &b)
{
    return a.ok == b.ok && a.method == b.method && a.target == b.target && a.http10 == b.http10
        && a.http10KeepAlive == b.http10KeepAlive && a.connectionClose == b.connectionClose && a.chunked == b.chunked
        && a.expectContinue == b.expectContinue && a.contentLength == b.contentLength;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const QByteArray input(reinterpret_cast<const char *>(data), static_cast<qsizetype>(size));

    // findHeadEnd: -1, or the first "\n\n" / "\n\r\n".
    const qsizetype end = findHeadEnd(input);
    if (end >= 0) {
        check(input.mid(end).startsWith("\n\n") || input.mid(end).startsWith("\n\r\n"), "findHeadEnd points elsewhere",
            input);
        const QByteArray before = input.left(end);
        check(!before.contains("\n\n") && !before.contains("\n\r\n"), "findHeadEnd missed an earlier end", input);
    } else {
        check(!input.contains("\n\n") && !input.contains("\n\r\n"), "findHeadEnd missed the end", input);
    }

    // As the guard does: the head up to its end, leading blank lines removed.
    QByteArray head = end >= 0 ? input.left(end) : input;
    while (head.startsWith("\r\n") || head.startsWith("\n"))
        head.remove(0, head.startsWith("\r\n") ? 2 : 1);
    if (head.isEmpty())
        return 0;

    const RequestHead r = parseRequestHead(head);
    check(sameHead(r, parseRequestHead(head)), "parseRequestHead is not deterministic", input);
    if (!r.ok) {
        check(r.status == 400 && r.code == QLatin1String("bad_request") && !r.message.isEmpty(),
            "a refusal that is not 400 bad_request with a message", input);
        return 0;
    }
    check(!r.method.isEmpty() && r.method.size() <= 32, "method length", input);
    for (char c : r.method)
        check(c >= 'A' && c <= 'Z', "method outside A-Z", input);
    check(!r.target.isEmpty(), "empty target", input);
    for (char c : r.target)
        check(static_cast<unsigned char>(c) > 0x20 && c != 0x7f, "whitespace or control byte in the target", input);
    check(r.contentLength >= -1, "negative Content-Length", input);
    check(!r.http10KeepAlive || r.http10, "keep-alive flag on HTTP/1.1", input);

    // A canonical head rebuilt from the result means the same.
    QByteArray canonical = r.method + ' ' + r.target + (r.http10 ? " HTTP/1.0" : " HTTP/1.1") + "\r\nHost: x";
    if (r.contentLength >= 0)
        canonical += "\r\nContent-Length: " + QByteArray::number(r.contentLength);
    if (r.chunked)
        canonical += "\r\nTransfer-Encoding: chunked";
    if (r.expectContinue)
        canonical += "\r\nExpect: 100-continue";
    if (r.connectionClose || r.http10KeepAlive)
        canonical += QByteArray("\r\nConnection: ") + (r.connectionClose ? "close" : "")
            + (r.connectionClose && r.http10KeepAlive ? ", " : "") + (r.http10KeepAlive ? "keep-alive" : "");
    const RequestHead again = parseRequestHead(canonical);
    if (!sameHead(r, again)) {
        std::fprintf(stderr, "canonical: %s\n", canonical.toPercentEncoding().constData());
        fail("the canonical head parses differently", input);
    }
    return 0;
}
