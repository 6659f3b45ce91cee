#include "requesthead.h"

#include <QList>

#include <algorithm>

namespace vigil {

namespace {
RequestHead refused(const char *message)
{
    RequestHead r;
    r.status = 400;
    r.code = QStringLiteral("bad_request");
    r.message = QString::fromLatin1(message);
    return r;
}

bool isMethod(const QByteArray &m)
{
    return !m.isEmpty() && m.size() <= 32
        && std::all_of(m.begin(), m.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

// RFC 9112 §3.2: a request target is visible characters; a control byte (NUL, CR, tab, DEL) or a space inside it
// is never a path a client meant, and Qt would pass it on to routing as is.
bool isTarget(const QByteArray &t)
{
    return !t.isEmpty()
        && std::all_of(t.begin(), t.end(), [](char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; });
}

bool isDigits(const QByteArray &v)
{
    return !v.isEmpty() && v.size() <= 18
        && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
}
} // namespace

qsizetype findHeadEnd(const QByteArray &buffer)
{
    const qsizetype lf = buffer.indexOf("\n\n");
    const qsizetype crlf = buffer.indexOf("\n\r\n");
    if (lf < 0)
        return crlf;
    if (crlf < 0)
        return lf;
    return std::min(lf, crlf);
}

RequestHead parseRequestHead(const QByteArray &head)
{
    const QList<QByteArray> lines = head.split('\n');
    QList<QByteArray> parts = lines.first().trimmed().split(' ');
    parts.removeAll(QByteArray());
    if (parts.size() != 3 || !isMethod(parts.at(0)) || !isTarget(parts.at(1))
        || (parts.at(2) != "HTTP/1.1" && parts.at(2) != "HTTP/1.0"))
        return refused("malformed request line (expected 'METHOD /path HTTP/1.1')");

    RequestHead r;
    r.method = parts.at(0);
    r.target = parts.at(1);
    r.http10 = parts.at(2) == "HTTP/1.0";
    for (qsizetype i = 1; i < lines.size(); ++i) {
        const QByteArray line = lines.at(i).endsWith('\r') ? lines.at(i).chopped(1) : lines.at(i);
        if (line.isEmpty())
            continue;
        const qsizetype colon = line.indexOf(':');
        // RFC 9112 §5: no whitespace before the colon, no header without one, no NUL.
        if (colon <= 0 || line.at(colon - 1) == ' ' || line.at(colon - 1) == '\t' || line.contains('\0'))
            return refused("malformed header line");
        const QByteArray name = line.left(colon).trimmed().toLower();
        const QByteArray value = line.mid(colon + 1).trimmed().toLower();
        if (name == "content-length") {
            // Digits only (no sign), and one value: two different lengths are how requests get
            // smuggled past a proxy (RFC 9112 §6.3); 6.4 would parse the body as the next request.
            const qint64 length = isDigits(value) ? value.toLongLong() : -1;
            if (length < 0 || (r.contentLength >= 0 && length != r.contentLength))
                return refused("invalid Content-Length");
            r.contentLength = length;
        } else if (name == "transfer-encoding") {
            // Only "chunked" is understood; anything else would leave the body's end unknown.
            if (value != "chunked" || r.chunked)
                return refused("unsupported Transfer-Encoding (only a single 'chunked' is accepted)");
            r.chunked = true;
        } else if (name == "expect") {
            r.expectContinue = value == "100-continue";
        } else if (name == "connection") {
            r.http10KeepAlive = r.http10 && value.contains("keep-alive");
            r.connectionClose = value.contains("close");
        }
    }
    // Both framings at once is the classic request-smuggling shape (RFC 9112 §6.1): refused, and the
    // connection closed, instead of picking one the way some proxy in front might not.
    if (r.chunked && r.contentLength >= 0)
        return refused("both Content-Length and Transfer-Encoding given");
    r.ok = true;
    return r;
}

} // namespace vigil
