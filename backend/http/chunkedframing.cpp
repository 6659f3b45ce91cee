#include "chunkedframing.h"

#include <algorithm>

namespace vigil {

namespace {
constexpr int kMaxSizeDigits = 15; // 2^60: far beyond any body limit, and no overflow
constexpr int kMaxExtensionBytes = 4096;

int hexValue(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// Visible characters, space and tab: what an extension or a trailer line may hold.
bool lineChar(char c)
{
    const auto u = static_cast<unsigned char>(c);
    return c == '\t' || (u >= 0x20 && u != 0x7f);
}
} // namespace

ChunkedFraming::Status ChunkedFraming::fail(const char *why, Status status)
{
    m_state = State::Failed;
    m_problem = QString::fromLatin1(why);
    return status;
}

ChunkedFraming::Status ChunkedFraming::feed(QByteArrayView data, qsizetype *consumed)
{
    *consumed = 0;
    if (m_state == State::Failed)
        return Status::Invalid;
    qsizetype i = 0;
    // At the byte that breaks the framing: *consumed counts it.
    const auto refuse = [&](const char *why, Status status = Status::Invalid) {
        *consumed = i;
        return fail(why, status);
    };
    // The size is complete: count it against the limit before any of its data arrives.
    const auto sizeDone = [this]() {
        if (m_total + m_size > m_max)
            return false;
        m_total += m_size;
        return true;
    };
    while (i < data.size()) {
        if (m_state == State::Done) {
            *consumed = i;
            return Status::Done;
        }
        if (m_state == State::Data) {
            const qint64 take = std::min<qint64>(m_size, data.size() - i);
            i += take;
            m_size -= take;
            if (m_size == 0)
                m_state = State::DataCr;
            continue;
        }
        const char c = data[i++];
        switch (m_state) {
        case State::Size: {
            const int v = hexValue(c);
            if (v >= 0) {
                if (++m_digits > kMaxSizeDigits)
                    return refuse("chunk size has too many digits", Status::TooLarge);
                m_size = m_size * 16 + v;
                break;
            }
            if (m_digits == 0)
                return refuse("chunk size must start with a hexadecimal digit");
            if (c != '\r' && c != ';' && c != ' ' && c != '\t')
                return refuse("invalid character after the chunk size");
            if (!sizeDone())
                return refuse("chunked body exceeds the size limit", Status::TooLarge);
            m_state = c == '\r' ? State::SizeLf : c == ';' ? State::Extension : State::SizeSpace;
            break;
        }
        case State::SizeSpace:
            if (c == ';')
                m_state = State::Extension;
            else if (c != ' ' && c != '\t')
                return refuse("only a chunk extension (';') may follow the chunk size and its spaces");
            break;
        case State::Extension:
            if (c == '\r')
                m_state = State::SizeLf;
            else if (!lineChar(c) || ++m_lineBytes > kMaxExtensionBytes)
                return refuse("invalid or over-long chunk extension");
            break;
        case State::SizeLf:
            if (c != '\n')
                return refuse("the chunk size line must end with CRLF");
            m_state = m_size == 0 ? State::TrailerStart : State::Data;
            break;
        case State::DataCr:
            if (c != '\r')
                return refuse("chunk data must be followed by CRLF (the chunk is longer than its size)");
            m_state = State::DataLf;
            break;
        case State::DataLf:
            if (c != '\n')
                return refuse("chunk data must be followed by CRLF");
            m_state = State::Size;
            m_digits = 0;
            m_size = 0;
            m_lineBytes = 0;
            break;
        case State::TrailerStart:
            // Qt 6.4 does not read trailer fields: it would take them for the next request. None
            // of our endpoints uses them, so they are refused rather than let the two disagree.
            if (c != '\r')
                return refuse("trailer fields after the last chunk are not accepted");
            m_state = State::FinalLf;
            break;
        case State::FinalLf:
            if (c != '\n')
                return refuse("the chunked body must end with CRLF");
            m_state = State::Done;
            break;
        case State::Data:
        case State::Done:
        case State::Failed:
            break; // handled above
        }
    }
    *consumed = i;
    return m_state == State::Done ? Status::Done : Status::NeedMore;
}

} // namespace vigil
