// libFuzzer target over the front door's strict chunked-body framing (backend/http/chunkedframing.h). The input is
// fed as a chunked body, once whole and once cut into pieces at points the input's first bytes choose (the guard
// sees a body across many reads). Besides "no crash, no UB, no leak": both feeds reach the same verdict at the same
// byte, a finished body's declared size never exceeds the limit, and a body that is Done re-encodes, from a
// reference decode of its bytes, to a framing the reader also accepts with the same size.
#include "invariant.h"
#include "http/chunkedframing.h"

#include <QByteArray>
#include <QList>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

using namespace vigil;
using vigil::fuzz::check;
using vigil::fuzz::fail;

namespace {

constexpr qint64 kLimit = 4096;

struct Verdict
{
    ChunkedFraming::Status status = ChunkedFraming::Status::NeedMore;
    qsizetype at = 0; // bytes of the input read when the status was reached (Done: the body's length)
    qint64 bodyBytes = 0;
};

Verdict feedInPieces(const QByteArray &body, const QList<qsizetype> &cuts)
{
    ChunkedFraming f(kLimit);
    Verdict v;
    qsizetype from = 0;
    for (qsizetype i = 0; i <= cuts.size(); ++i) {
        const qsizetype to = i < cuts.size() ? cuts[i] : body.size();
        qsizetype used = 0;
        v.status = f.feed(QByteArrayView(body).sliced(from, to - from), &used);
        v.at = from + used;
        if (v.status != ChunkedFraming::Status::NeedMore)
            break;
        from = to;
    }
    v.bodyBytes = f.bodyBytes();
    return v;
}

// Reference decode of a body the reader called Done: the data bytes of every chunk.
QByteArray decode(const QByteArray &framed)
{
    QByteArray out;
    qsizetype at = 0;
    for (;;) {
        const qsizetype lineEnd = framed.indexOf("\r\n", at);
        QByteArray sizeText = framed.mid(at, lineEnd - at);
        if (const qsizetype ext = sizeText.indexOf(';'); ext >= 0)
            sizeText.truncate(ext);
        const qint64 size = sizeText.trimmed().toLongLong(nullptr, 16);
        at = lineEnd + 2;
        if (size == 0)
            return out;
        out += framed.mid(at, size);
        at += size + 2;
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const QByteArray input(reinterpret_cast<const char *>(data), static_cast<qsizetype>(size));
    // The first two bytes choose the cuts; the rest is the body.
    const QByteArray body = input.mid(2);
    QList<qsizetype> cuts;
    const int step = 1 + static_cast<unsigned char>(input[0]) % 17;
    const int offset = static_cast<unsigned char>(input[1]) % 7;
    for (qsizetype c = offset; c < body.size(); c += step)
        if (c > 0)
            cuts.append(c);

    const Verdict whole = feedInPieces(body, QList<qsizetype>());
    const Verdict pieces = feedInPieces(body, cuts);
    if (whole.status != pieces.status)
        fail("whole and piecewise feeds disagree on the verdict", input);
    if (whole.status != ChunkedFraming::Status::NeedMore && whole.at != pieces.at)
        fail("whole and piecewise feeds stop at different bytes", input);
    if (whole.bodyBytes > kLimit || pieces.bodyBytes > kLimit)
        fail("declared size beyond the limit was accepted", input);
    if (whole.status != ChunkedFraming::Status::Done)
        return 0;
    if (whole.at > body.size())
        fail("Done past the end of the input", input);

    // Re-encode the decoded data canonically: the reader accepts it with the same size.
    const QByteArray decoded = decode(body.left(whole.at));
    if (decoded.size() != whole.bodyBytes)
        fail("reference decode and the reader disagree on the size", input);
    QByteArray canonical;
    if (!decoded.isEmpty())
        canonical += QByteArray::number(decoded.size(), 16) + "\r\n" + decoded + "\r\n";
    canonical += "0\r\n\r\n";
    const Verdict again = feedInPieces(canonical, QList<qsizetype>());
    if (again.status != ChunkedFraming::Status::Done || again.at != canonical.size()
        || again.bodyBytes != whole.bodyBytes)
        fail("the canonical re-encoding is not read back the same", input);
    return 0;
}
