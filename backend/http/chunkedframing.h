#pragma once

#include <QByteArrayView>
#include <QString>

namespace vigil {

// Strict reader of a chunked request body's framing (RFC 9112 §7.1), fed the bytes as they arrive.
// Qt 6.4's own chunk decoder is lenient: it reads a chunk size of "zz" or "-1" as 0 (the end of the
// body) and takes "0x25" or " 25" as sizes, so a client could end a body early and have the rest
// of it parsed as a second, hidden request. The front door runs this first and refuses any body
// whose framing is not exactly: hex size, optional ";extensions", CRLF, data, CRLF, …, a zero
// size, CRLF, CRLF. Trailer fields are refused too: 6.4 does not read them and would parse them
// as the next request. Pure (no I/O), so it can be unit-tested and fuzzed.
class ChunkedFraming final
{
public:
    enum class Status { NeedMore, Done, Invalid, TooLarge };

    explicit ChunkedFraming(qint64 maxBodyBytes)
        : m_max(maxBodyBytes)
    { }

    // Reads `data`, the next bytes after what was fed before. Returns Done once the body's last
    // CRLF was read (*consumed then says how many of `data` were the body's; the rest is the next
    // request), Invalid or TooLarge at the first byte that breaks the framing or the size limit
    // (*consumed then counts up to and including that byte), else NeedMore (*consumed == data.size()).
    Status feed(QByteArrayView data, qsizetype *consumed);

    QString problem() const { return m_problem; }
    qint64 bodyBytes() const { return m_total; }

private:
    enum class State { Size, SizeSpace, Extension, SizeLf, Data, DataCr, DataLf, TrailerStart, FinalLf, Done, Failed };
    Status fail(const char *why, Status status = Status::Invalid);

    qint64 m_max;
    State m_state = State::Size;
    int m_digits = 0;
    qint64 m_size = 0; // the chunk being read: its declared size, then what is left of it
    qint64 m_total = 0; // decoded body bytes declared so far
    int m_lineBytes = 0; // extension length (bounded)
    QString m_problem;
};

} // namespace vigil
