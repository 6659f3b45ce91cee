#pragma once

#include <QByteArray>
#include <QString>

namespace vigil {

// What the front door needs to know about one request before Qt 6.4's parser sees it: 6.4 accepts
// malformed request lines, conflicting Content-Lengths and cannot tell HTTP/1.0 from 1.1, so the
// guard reads the head itself. A pure function of the bytes, so it can be fuzzed
// (tests/fuzz/) and tested without sockets.
struct RequestHead
{
    bool ok = false;
    int status = 0; // when !ok: the status to refuse with (400)
    QString code; // when !ok: error code of the JSON error body
    QString message; // when !ok: what is wrong, for the client
    QByteArray method;
    QByteArray target;
    bool http10 = false;
    bool http10KeepAlive = false; // an HTTP/1.0 request asked for keep-alive
    bool connectionClose = false;
    bool chunked = false;
    bool expectContinue = false;
    qint64 contentLength = -1; // -1: none given
};

// `head` is the request line and header lines up to, not including, the blank line that ends
// them; lines end in LF or CRLF. Leading blank lines must already be removed.
RequestHead parseRequestHead(const QByteArray &head);

// Where the head that starts `buffer` ends: the index of the first "\n\n" or "\n\r\n", or -1.
qsizetype findHeadEnd(const QByteArray &buffer);

} // namespace vigil
