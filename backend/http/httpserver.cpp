#include "httpserver.h"

#include "admission.h"
#include "chunkedframing.h"
#include "metrics.h"
#include "requesthead.h"
#include "router.h"
#include "util.h"

#include <QDeadlineTimer>
#include <QHttpServer>
#include <QHttpServerRequest>
#include <QHttpServerResponder>
#include <QMutex>
#include <QPointer>
#include <QSet>
#include <QTcpServer>
#include <QTcpSocket>
#include <QThread>

#include <optional>
#include <QTimer>

#ifndef Q_OS_WIN
#include <sys/socket.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <atomic>
#include <deque>

namespace vigil {

class HttpLane;

// Lets Reply::send (any thread) reach a lane that may already be shut down.
struct LaneGate
{
    QMutex mutex;
    HttpLane *lane = nullptr;
};

namespace detail {
struct ReplySlot
{
    std::shared_ptr<LaneGate> gate;
    std::atomic<bool> sent {false};
    std::atomic<bool> connected {true};
    // Lane thread only:
    bool ready = false;
    bool counted = true; // still counted in the lane's pending answers
    HttpResponse response;
    QByteArray method;
    QByteArray endpoint;
    qint64 receivedAtNs = 0;
    bool closeAfter = false;
    bool keepAliveHeader = false; // an HTTP/1.0 client asked for keep-alive: say we keep it
    HeaderList admissionHeaders; // RateLimit-* from the admission check, added to whatever answer goes out
    QPointer<QObject> conn; // the ConnState whose FIFO holds this slot
};
} // namespace detail

namespace {
const char *reasonPhrase(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

QByteArray methodName(QHttpServerRequest::Method m)
{
    switch (m) {
    case QHttpServerRequest::Method::Get:
        return "GET";
    case QHttpServerRequest::Method::Put:
        return "PUT";
    case QHttpServerRequest::Method::Delete:
        return "DELETE";
    case QHttpServerRequest::Method::Post:
        return "POST";
    case QHttpServerRequest::Method::Head:
        return "HEAD";
    case QHttpServerRequest::Method::Options:
        return "OPTIONS";
    case QHttpServerRequest::Method::Patch:
        return "PATCH";
    case QHttpServerRequest::Method::Connect:
        return "CONNECT";
    case QHttpServerRequest::Method::Trace:
        return "TRACE";
    default:
        return "UNKNOWN";
    }
}

QByteArray serialize(const detail::ReplySlot &slot)
{
    const HttpResponse &r = slot.response;
    QByteArray out;
    out.reserve(160 + r.body.size());
    out += "HTTP/1.1 " + QByteArray::number(r.status) + ' ' + reasonPhrase(r.status) + "\r\n";
    out += "Server: Vigil/" VIGIL_VERSION "\r\n";
    if (!r.contentType.isEmpty())
        out += "Content-Type: " + r.contentType + "\r\n";
    out += "Content-Length: " + QByteArray::number(r.body.size()) + "\r\n";
    if (slot.closeAfter)
        out += "Connection: close\r\n";
    else if (slot.keepAliveHeader)
        out += "Connection: keep-alive\r\n";
    for (const auto &[name, value] : r.headers)
        out += name + ": " + value + "\r\n";
    for (const auto &[name, value] : slot.admissionHeaders)
        out += name + ": " + value + "\r\n";
    out += "\r\n";
    if (slot.method != "HEAD")
        out += r.body;
    return out;
}
} // namespace

// Per-connection state, a child of its socket so it dies with it. Holds the answers of this
// connection in request order.
class ConnState final : public QObject
{
public:
    explicit ConnState(QTcpSocket *socket, std::atomic<qint64> &pending)
        : QObject(socket)
        , timer(new QTimer(this))
        , m_pending(pending)
    {
        timer->setSingleShot(true);
    }
    ~ConnState() override
    {
        // The client went away (or we are shutting down): answers still owed are dropped.
        for (const auto &slot : fifo) {
            slot->connected = false;
            if (slot->counted) {
                slot->counted = false;
                --m_pending;
            }
        }
    }
    std::deque<std::shared_ptr<detail::ReplySlot>> fifo;
    // What the guard has seen of the request Qt is parsing now (reset when Qt hands it over).
    QByteArray head; // request line and headers so far, bounded by kMaxHeadBytes
    bool headComplete = false;
    bool http10 = false;
    bool http10KeepAlive = false;
    bool chunked = false;
    // A chunked body's framing, checked strictly before Qt's lenient decoder reads it (and its
    // decoded size counted against the limit as each chunk size arrives).
    std::optional<ChunkedFraming> framing;
    bool bodyFramed = false; // the chunked body ended; bytes after it belong to the next request
    bool refused = false; // an error answer ends the connection; Qt's parser sees nothing more
    bool closing = false; // the last answer is written or being written; then a lingering close
    QTimer *timer; // header, request, idle and linger deadlines (one at a time)
    qint64 requestStartNs = 0; // first byte of the request being read

    void resetHead()
    {
        head.clear();
        headComplete = http10 = http10KeepAlive = chunked = bodyFramed = false;
        framing.reset();
    }

private:
    std::atomic<qint64> &m_pending;
};

// Listens on an unannounced loopback port only so that 6.4's QAbstractHttpServer accepts the
// sockets we add (it warns per connection otherwise); anything connecting to it directly is dropped.
class FeedServer final : public QTcpServer
{
public:
    using QTcpServer::addPendingConnection;
    using QTcpServer::QTcpServer;

protected:
    void incomingConnection(qintptr fd) override
    {
        QTcpSocket stray;
        if (stray.setSocketDescriptor(fd))
            stray.abort();
    }
};

class HttpLane final : public QObject
{
public:
    HttpLane(const Router &router, MetricsRegistry &metrics, const ServerConfig &config, std::atomic<int> &open,
        Admission *admission)
        : m_router(router)
        , m_metrics(metrics)
        , m_config(config)
        , m_admission(admission)
        , m_gate(std::make_shared<LaneGate>())
        , m_open(open)
        , m_timeouts(&metrics.counter("http_timeouts_total",
              "Connections closed by a server-side deadline, by phase (header, request: 408 sent; idle: keep-alive "
              "connection closed quietly)",
              {{"phase", "header"}}))
        , m_requestTimeouts(&metrics.counter("http_timeouts_total", {}, {{"phase", "request"}}))
        , m_idleTimeouts(&metrics.counter("http_timeouts_total", {}, {{"phase", "idle"}}))
    {
        m_gate->lane = this;
    }

    std::shared_ptr<LaneGate> gate() const { return m_gate; }
    std::atomic<qint64> pending {0};
    std::atomic<bool> refusing {false};

    // Lane thread.
    bool init()
    {
        m_feed = new FeedServer(this);
        if (!m_feed->listen(QHostAddress::LocalHost, 0))
            return false;
        m_http = new QHttpServer(this);
        m_http->setMissingHandler([this](const QHttpServerRequest &request, QHttpServerResponder &&responder) {
            onRequest(request, std::move(responder));
        });
        m_http->bind(m_feed);
        return true;
    }

    // `overCap`: the connection cap is reached; the socket only gets a 503 and is closed.
    void adopt(qintptr fd, bool overCap)
    {
        auto *socket = new QTcpSocket;
        if (!socket->setSocketDescriptor(fd)) {
            delete socket;
            --m_open;
            return;
        }
        auto *conn = new ConnState(socket, pending);
        connect(socket, &QObject::destroyed, this, [this, socket] {
            m_sockets.remove(socket);
            --m_open;
        });
        // Connected before QHttpServer's own readyRead handler, so it runs first.
        connect(socket, &QTcpSocket::readyRead, conn, [this, socket, conn] { guard(socket, conn); });
        connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
        connect(conn->timer, &QTimer::timeout, conn, [this, socket, conn] { onDeadline(socket, conn); });
        m_sockets.insert(socket, conn);
        if (overCap) {
            refuse(socket, conn, 503, QStringLiteral("too_many_connections"),
                QStringLiteral("the server has %1 open connections, its limit; retry shortly")
                    .arg(m_config.maxConnections),
                {{"Retry-After", "1"}});
            return;
        }
        m_feed->addPendingConnection(socket);
        rearm(conn);
    }

    void complete(const std::shared_ptr<detail::ReplySlot> &slot, HttpResponse response)
    {
        slot->response = std::move(response);
        slot->ready = true;
        pump(slot);
    }

    void closeAll()
    {
        {
            QMutexLocker lock(&m_gate->mutex);
            m_gate->lane = nullptr;
        }
        const auto sockets = m_sockets.keys();
        for (QTcpSocket *s : sockets) {
            s->abort();
            delete s; // drops its ConnState and every answer still owed
        }
        m_sockets.clear();
        // bind() reparented the feed server to the QHttpServer: deleting the latter deletes both.
        delete m_http;
        m_http = nullptr;
        m_feed = nullptr;
    }

private:
    static constexpr qsizetype kMaxHeadBytes = 32 * 1024;

    // Runs on every readyRead before Qt's parser, which then consumes all that is available, so the
    // guard sees each byte of a request once, and the next pipelined request after onRequest (6.4
    // re-emits readyRead for bytes left over). It does what 6.4 does not: 400 for a malformed
    // request line, 431/413 before buffering, HTTP/1.0, Expect: 100-continue, deadlines.
    void guard(QTcpSocket *socket, ConnState *conn)
    {
        if (conn->closing || conn->refused) {
            // Nobody parses any more: drop what still arrives instead of buffering it.
            if (socket->isTransactionStarted())
                socket->commitTransaction();
            socket->skip(socket->bytesAvailable());
            return;
        }
        qint64 bodyOffset = 0; // where in the available bytes this request's body begins
        if (!conn->headComplete) {
            const qint64 room = kMaxHeadBytes + 4 - conn->head.size();
            QByteArray chunk = socket->peek(std::min<qint64>(socket->bytesAvailable(), room));
            qsizetype skip = 0;
            if (conn->head.isEmpty()) { // Qt skips blank lines between requests; so do we
                const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
                while (skip < chunk.size() && blank(chunk.at(skip)))
                    ++skip;
                chunk.remove(0, skip);
                if (!chunk.isEmpty())
                    conn->requestStartNs = steadyNowNs(); // the header deadline runs from here
            }
            const qsizetype before = conn->head.size();
            conn->head += chunk;
            const qsizetype end = findHeadEnd(conn->head);
            if (end < 0) {
                if (conn->head.size() > kMaxHeadBytes)
                    refuse(socket, conn, 431, QStringLiteral("headers_too_large"),
                        QStringLiteral("the request line and headers exceed %1 bytes").arg(kMaxHeadBytes));
                else
                    rearm(conn);
                return;
            }
            // The head ends with "\n\n" or "\n\r\n" at `end`; what follows in this read is body.
            const qsizetype terminator = conn->head.at(end + 1) == '\r' ? 3 : 2;
            bodyOffset = skip + (end + terminator - before);
            conn->head.truncate(end);
            conn->headComplete = true;
            if (!inspectHead(socket, conn))
                return;
        }
        if (conn->chunked && !conn->bodyFramed) {
            if (!conn->framing)
                conn->framing.emplace(m_config.maxBodyBytes);
            const QByteArray body = socket->peek(socket->bytesAvailable()).mid(bodyOffset);
            qsizetype used = 0;
            switch (conn->framing->feed(body, &used)) {
            case ChunkedFraming::Status::NeedMore:
                break;
            case ChunkedFraming::Status::Done:
                conn->bodyFramed = true; // what follows is the next request's, guarded after this one
                break;
            case ChunkedFraming::Status::TooLarge:
                refuse(socket, conn, 413, QStringLiteral("payload_too_large"),
                    QStringLiteral("request body exceeds %1 bytes").arg(m_config.maxBodyBytes));
                return;
            case ChunkedFraming::Status::Invalid:
                refuse(socket, conn, 400, QStringLiteral("bad_request"),
                    QStringLiteral("malformed chunked body: %1").arg(conn->framing->problem()));
                return;
            }
        }
        rearm(conn);
    }

    // The complete head of one request. False if the connection was refused.
    bool inspectHead(QTcpSocket *socket, ConnState *conn)
    {
        const RequestHead h = parseRequestHead(conn->head);
        if (!h.ok) {
            refuse(socket, conn, h.status, h.code, h.message);
            return false;
        }
        conn->http10 = h.http10;
        conn->http10KeepAlive = h.http10KeepAlive;
        conn->chunked = h.chunked;
        if (h.contentLength > m_config.maxBodyBytes) {
            refuse(socket, conn, 413, QStringLiteral("payload_too_large"),
                QStringLiteral("request body of %1 bytes exceeds the limit of %2 bytes")
                    .arg(h.contentLength)
                    .arg(m_config.maxBodyBytes));
            return false;
        }
        // Qt 6.4 never answers it (curl then stalls 1 s on bodies > 1 MiB). Only when nothing is
        // owed on this connection: an interim answer must not cut into an earlier one.
        if (h.expectContinue && conn->fifo.empty())
            socket->write("HTTP/1.1 100 Continue\r\n\r\n");
        return true;
    }

    // One deadline per connection, chosen by what it is waiting for: the rest of a request head
    // (header timeout, slowloris), the rest of a body (request timeout), or — when nothing is in
    // flight — the next request (idle keep-alive timeout). While the server owes an answer there is
    // no deadline: that wait is ours, not the client's. Closing connections keep their own.
    void rearm(ConnState *conn)
    {
        if (conn->closing || conn->refused)
            return;
        if (!conn->head.isEmpty() || conn->headComplete) {
            const qint64 limitMs = conn->headComplete ? m_config.requestTimeoutMs : m_config.headerTimeoutMs;
            const qint64 elapsedMs = (steadyNowNs() - conn->requestStartNs) / 1'000'000;
            conn->timer->start(int(std::clamp<qint64>(limitMs - elapsedMs, 0, limitMs)));
        } else if (!conn->fifo.empty()) {
            conn->timer->stop();
        } else {
            conn->timer->start(m_config.idleTimeoutMs);
        }
    }

    void onDeadline(QTcpSocket *socket, ConnState *conn)
    {
        if (conn->closing) { // the client never read our last answer or never closed: give up
            socket->abort();
            return;
        }
        if (conn->refused)
            return;
        if (!conn->head.isEmpty() || conn->headComplete) {
            const bool body = conn->headComplete;
            (body ? m_requestTimeouts : m_timeouts)->inc();
            const int seconds = int((body ? m_config.requestTimeoutMs : m_config.headerTimeoutMs) / 1000);
            refuse(socket, conn, 408, QStringLiteral("request_timeout"),
                body ? QStringLiteral("the request body did not arrive within %1 s").arg(seconds)
                     : QStringLiteral("the request headers did not arrive within %1 s").arg(seconds));
            return;
        }
        if (conn->fifo.empty()) { // idle keep-alive connection: close it quietly (RFC 9112 §9.8)
            m_idleTimeouts->inc();
            conn->refused = true;
            beginClose(socket, conn);
        }
    }

    // Ends the connection with an error answer: Qt's parser sees nothing more of it; answers still
    // owed leave first (request order), then this one with Connection: close.
    void refuse(QTcpSocket *socket, ConnState *conn, int status, const QString &code, const QString &message,
        std::initializer_list<std::pair<QByteArray, QByteArray>> headers = {})
    {
        conn->timer->stop();
        stopReading(socket, conn);
        if (socket->isTransactionStarted())
            socket->commitTransaction();
        socket->skip(socket->bytesAvailable());
        auto slot = std::make_shared<detail::ReplySlot>();
        slot->gate = m_gate;
        slot->sent = true;
        const QByteArray method = conn->head.left(conn->head.indexOf(' '));
        static const QByteArrayList known {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
        slot->method = known.contains(method) ? method : QByteArray("UNKNOWN"); // no client-chosen metric labels
        slot->endpoint = "other";
        slot->receivedAtNs = steadyNowNs();
        slot->closeAfter = true;
        slot->conn = conn;
        slot->response = HttpResponse::error(status, code, message);
        for (const auto &[name, value] : headers)
            slot->response.withHeader(name, value);
        slot->ready = true;
        conn->fifo.push_back(slot);
        ++pending;
        pump(slot);
    }

    // Qt's parser sees nothing more of this connection; the guard drops whatever still arrives.
    void stopReading(QTcpSocket *socket, ConnState *conn)
    {
        conn->refused = true;
        if (m_http)
            socket->disconnect(m_http);
    }

    void onRequest(const QHttpServerRequest &request, QHttpServerResponder &&responder)
    {
        QTcpSocket *socket = responder.socket();
        ConnState *conn = m_sockets.value(socket);
        if (!conn || conn->closing || conn->refused)
            return;
        const bool http10 = conn->http10;
        const bool http10KeepAlive = conn->http10KeepAlive;
        conn->resetHead(); // the guard inspects the next request from scratch

        // Copy now: 6.4 reuses the request object for the next request on this connection.
        HttpRequest req;
        req.receivedAtNs = steadyNowNs();
        req.method = methodName(request.method());
        req.path = request.url().path();
        req.query = request.query();
        req.headers = request.headers();
        req.body = request.body();
        req.remoteAddress = request.remoteAddress();

        auto slot = std::make_shared<detail::ReplySlot>();
        slot->gate = m_gate;
        slot->method = req.method;
        slot->receivedAtNs = req.receivedAtNs;
        // HTTP/1.0 closes unless it asked for keep-alive (Qt 6.4 cannot tell the version).
        slot->closeAfter = http10 ? !http10KeepAlive : req.header("Connection").toLower().contains("close");
        slot->keepAliveHeader = http10 && http10KeepAlive;
        if (slot->closeAfter)
            stopReading(socket, conn); // RFC 9112 §9.6: no request after a closing one is processed
        slot->conn = conn;
        conn->fifo.push_back(slot);
        ++pending;
        rearm(conn); // an answer is owed now: no client deadline until it leaves
        const Reply reply(slot);
        // Counted first, checked second: drain() then waits for any handler already past this point.
        if (refusing.load()) {
            slot->closeAfter = true;
            stopReading(socket, conn);
            reply.send(
                HttpResponse::error(503, QStringLiteral("shutting_down"), QStringLiteral("the server is shutting down"))
                    .withHeader("Retry-After", "5"));
            return;
        }
        // A chunked body has no Content-Length for the guard to refuse early.
        if (req.body.size() > m_config.maxBodyBytes) {
            stopReading(socket, conn);
            slot->closeAfter = true;
            slot->endpoint = "other";
            reply.send(HttpResponse::error(413, QStringLiteral("payload_too_large"),
                QStringLiteral("request body exceeds %1 bytes").arg(m_config.maxBodyBytes)));
            return;
        }

        const Router::Match match = m_router.match(req.method, req.path);
        if (m_admission) { // rate limit, auth, backpressure (issue #4)
            Admission::Verdict verdict
                = m_admission->admit(req, match.handler ? match.endpoint : QByteArray("other"), match.handler);
            slot->admissionHeaders = std::move(verdict.headers);
            req.principal = verdict.principal;
            if (verdict.refusal) {
                slot->endpoint = match.handler ? match.endpoint : QByteArray("other");
                reply.send(std::move(*verdict.refusal));
                return;
            }
        }
        if (!match.handler) {
            slot->endpoint = "other";
            if (match.allowed.isEmpty()) {
                reply.send(HttpResponse::error(404, QStringLiteral("not_found"),
                    QStringLiteral("no such endpoint: %1 %2").arg(QString::fromLatin1(req.method), req.path)));
            } else {
                reply.send(HttpResponse::error(405, QStringLiteral("method_not_allowed"),
                    QStringLiteral("%1 is not allowed on %2; allowed: %3")
                        .arg(QString::fromLatin1(req.method), req.path, QString::fromLatin1(match.allowed.join(", "))))
                               .withHeader("Allow", match.allowed.join(", ")));
            }
            return;
        }
        slot->endpoint = match.endpoint;
        if (match.query == Router::Query::Parsed) {
            // No endpoint takes a parameter twice: which of two values counts would be a guess.
            QSet<QString> seen;
            for (const auto &[key, value] : req.query.queryItems(QUrl::FullyDecoded)) {
                if (!seen.contains(key)) {
                    seen.insert(key);
                    continue;
                }
                const QString name = key.left(64);
                reply.send(HttpResponse::error(400, QStringLiteral("invalid_parameter"),
                    QStringLiteral("parameter '%1' given more than once").arg(name), name));
                return;
            }
        }
        if (match.query == Router::Query::None && !req.query.isEmpty()) {
            const QString key = req.query.queryItems(QUrl::FullyDecoded).value(0).first.left(64);
            reply.send(HttpResponse::error(400, QStringLiteral("unknown_parameter"),
                QStringLiteral("unknown query parameter '%1' (%2 %3 takes none)")
                    .arg(key, QString::fromLatin1(req.method), QString::fromUtf8(match.endpoint)),
                key));
            return;
        }
        req.pathParams = match.params;
        req.endpoint = match.endpoint;
        (*match.handler)(req, reply);
    }

    void pump(const std::shared_ptr<detail::ReplySlot> &changed)
    {
        auto *conn = static_cast<ConnState *>(changed->conn.data());
        if (!conn)
            return; // client gone: nothing to write, nothing leaks (the slot dies with its last Reply)
        auto *socket = static_cast<QTcpSocket *>(conn->parent());
        // Answers leave in request order: an immediate 400 waits behind an earlier 202 that is
        // still waiting for its commit (Qt 6.5 added this upstream; 6.4 lacks it).
        while (!conn->fifo.empty() && conn->fifo.front()->ready) {
            std::shared_ptr<detail::ReplySlot> head = std::move(conn->fifo.front());
            conn->fifo.pop_front();
            if (head->counted) {
                head->counted = false;
                --pending;
            }
            if (conn->closing)
                continue;
            socket->write(serialize(*head));
            observe(*head);
            if (head->closeAfter)
                beginClose(socket, conn);
        }
        rearm(conn);
    }

    // Lingering close (as nginx and Apache do): closing a socket whose receive buffer still holds
    // unread bytes — the rest of a refused 1 MiB upload, say — makes the kernel send RST, and an
    // RST can destroy our answer in the client's buffer before the client reads it. So: write the
    // answer, shut down our sending side (the client sees EOF after the answer), keep reading and
    // discarding until the client closes, and abort after a bound.
    void beginClose(QTcpSocket *socket, ConnState *conn)
    {
        if (conn->closing)
            return;
        conn->closing = true;
        if (m_http)
            socket->disconnect(m_http);
        // Bound for the client to read our answer and close; then the socket is aborted.
        conn->timer->start(m_config.requestTimeoutMs);
        const auto halfClose = [socket, conn, lingerMs = m_config.lingerMs] {
#ifndef Q_OS_WIN
            ::shutdown(int(socket->socketDescriptor()), SHUT_WR);
            conn->timer->start(lingerMs);
#else
            Q_UNUSED(conn);
            Q_UNUSED(lingerMs);
            socket->disconnectFromHost();
#endif
        };
        if (socket->bytesToWrite() == 0) {
            halfClose();
            return;
        }
        connect(socket, &QTcpSocket::bytesWritten, conn, [socket, halfClose] {
            if (socket->bytesToWrite() == 0)
                halfClose();
        });
    }

    void observe(const detail::ReplySlot &slot)
    {
        const double seconds = double(steadyNowNs() - slot.receivedAtNs) / 1e9;
        const QByteArray key = slot.method + ' ' + slot.endpoint + ' ' + QByteArray::number(slot.response.status);
        Counter *&requests = m_requestCounters[key];
        if (!requests)
            requests
                = &m_metrics.counter("http_requests_total", "HTTP requests answered, by method, route and status code",
                    {{"method", slot.method}, {"endpoint", slot.endpoint},
                        {"code", QByteArray::number(slot.response.status)}});
        requests->inc();
        Histogram *&latency = m_latency[slot.endpoint];
        if (!latency)
            latency = &m_metrics.histogram("request_latency_seconds",
                "Server-side request latency from request parsed to answer written, by route",
                {{"endpoint", slot.endpoint}});
        latency->observe(seconds);
    }

    const Router &m_router;
    MetricsRegistry &m_metrics;
    ServerConfig m_config;
    Admission *m_admission = nullptr; // owned by the caller of HttpServer::setAdmission; may be null
    std::shared_ptr<LaneGate> m_gate;
    FeedServer *m_feed = nullptr;
    QHttpServer *m_http = nullptr;
    QHash<QTcpSocket *, ConnState *> m_sockets; // a ConnState is a child of its socket
    QHash<QByteArray, Counter *> m_requestCounters;
    QHash<QByteArray, Histogram *> m_latency;
    std::atomic<int> &m_open; // open connections of the whole server (the accept thread counts them in)
    Counter *m_timeouts;
    Counter *m_requestTimeouts;
    Counter *m_idleTimeouts;
};

class AcceptServer final : public QTcpServer
{
public:
    AcceptServer(std::vector<HttpLane *> lanes, std::atomic<int> &open, int maxConnections, Counter &rejected)
        : m_lanes(std::move(lanes))
        , m_open(open)
        , m_maxConnections(maxConnections)
        , m_rejected(rejected)
    { }

protected:
    // Above the cap a connection still gets a 503 from a lane (a client should learn why), up to
    // a margin; beyond that it is closed at once, so a flood cannot exhaust file descriptors.
    void incomingConnection(qintptr fd) override
    {
        const int open = ++m_open;
        if (open > m_maxConnections)
            m_rejected.inc();
        if (open > m_maxConnections + kRefusalMargin) {
            --m_open;
#ifndef Q_OS_WIN
            ::close(int(fd));
#else
            QTcpSocket dropped;
            if (dropped.setSocketDescriptor(fd))
                dropped.abort();
#endif
            return;
        }
        const bool overCap = open > m_maxConnections;
        HttpLane *lane = m_lanes[m_next++ % m_lanes.size()];
        QMetaObject::invokeMethod(
            lane, [lane, fd, overCap] { lane->adopt(fd, overCap); }, Qt::QueuedConnection);
    }

private:
    static constexpr int kRefusalMargin = 64;
    std::vector<HttpLane *> m_lanes;
    size_t m_next = 0;
    std::atomic<int> &m_open;
    int m_maxConnections;
    Counter &m_rejected;
};

void Reply::send(HttpResponse response) const
{
    if (!m_slot || m_slot->sent.exchange(true))
        return; // sent twice: keep the first answer
    QMutexLocker lock(&m_slot->gate->mutex);
    HttpLane *lane = m_slot->gate->lane;
    if (!lane)
        return;
    if (QThread::currentThread() == lane->thread()) {
        lock.unlock();
        lane->complete(m_slot, std::move(response));
        return;
    }
    QMetaObject::invokeMethod(
        lane,
        [lane, slot = m_slot, response = std::move(response)]() mutable { lane->complete(slot, std::move(response)); },
        Qt::QueuedConnection);
}

bool Reply::clientConnected() const
{
    return m_slot && m_slot->connected.load();
}

HttpServer::HttpServer(const Router &router, MetricsRegistry &metrics, const ServerConfig &config, QObject *parent)
    : QObject(parent)
    , m_router(router)
    , m_metrics(metrics)
    , m_config(config)
{ }

HttpServer::~HttpServer()
{
    shutdown();
}

bool HttpServer::listen(const QHostAddress &address, quint16 port, QString *error)
{
    const int n = std::max(1, m_config.httpThreads);
    for (int i = 0; i < n; ++i) {
        auto thread = std::make_unique<QThread>();
        thread->setObjectName(QStringLiteral("vigil-http-%1").arg(i));
        auto *lane = new HttpLane(m_router, m_metrics, m_config, m_open, m_admission);
        lane->moveToThread(thread.get());
        QObject::connect(thread.get(), &QThread::finished, lane, &QObject::deleteLater);
        thread->start();
        bool ok = false;
        QMetaObject::invokeMethod(
            lane, [lane, &ok] { ok = lane->init(); }, Qt::BlockingQueuedConnection);
        m_threads.push_back(std::move(thread));
        m_lanes.push_back(lane);
        if (!ok) {
            *error = QStringLiteral("cannot start HTTP thread %1").arg(i);
            return false;
        }
    }
    m_acceptThread = std::make_unique<QThread>();
    m_acceptThread->setObjectName(QStringLiteral("vigil-accept"));
    m_accept = new AcceptServer(m_lanes, m_open, std::max(1, m_config.maxConnections),
        m_metrics.counter("http_connections_rejected_total",
            "Connections refused because --max-connections were open (answered 503, or closed at once beyond a "
            "margin)"));
    m_metrics.callbackGauge(
        "http_connections_open", "Open client connections", {}, [this] { return double(m_open.load()); });
    m_accept->moveToThread(m_acceptThread.get());
    QObject::connect(m_acceptThread.get(), &QThread::finished, m_accept, &QObject::deleteLater);
    m_acceptThread->start();
    bool listening = false;
    QString why;
    QMetaObject::invokeMethod(
        m_accept,
        [this, &listening, &why, address, port] {
            listening = m_accept->listen(address, port);
            if (listening)
                m_port = m_accept->serverPort();
            else
                why = m_accept->errorString();
        },
        Qt::BlockingQueuedConnection);
    if (!listening) {
        const QString where = QStringLiteral("%1:%2").arg(address.toString()).arg(port);
        if (why.contains(QLatin1String("in use"), Qt::CaseInsensitive))
            *error = portInUseMessage(address, port);
        else
            *error = QStringLiteral("cannot listen on %1: %2").arg(where, why);
        return false;
    }
    return true;
}

QString HttpServer::portInUseMessage(const QHostAddress &address, quint16 port)
{
    return QStringLiteral("port %1 on %2 is already in use (another Vigil or another program is listening); "
                          "choose another port (--port)")
        .arg(port)
        .arg(address.toString());
}

void HttpServer::stopAccepting()
{
    if (!m_accept)
        return;
    QMetaObject::invokeMethod(
        m_accept, [a = m_accept] { a->close(); }, Qt::BlockingQueuedConnection);
}

void HttpServer::refuseNewRequests()
{
    for (HttpLane *lane : m_lanes)
        lane->refusing = true;
}

qint64 HttpServer::pendingAnswers() const
{
    qint64 total = 0;
    for (HttpLane *lane : m_lanes)
        total += lane->pending.load();
    return total;
}

bool HttpServer::drain(int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    while (pendingAnswers() > 0 && !deadline.hasExpired())
        QThread::msleep(5);
    return pendingAnswers() == 0;
}

void HttpServer::shutdown()
{
    if (!m_lanes.empty()) // the registry may outlive this server
        m_metrics.callbackGauge("http_connections_open", {}, {}, [] { return 0.0; });
    if (m_acceptThread) {
        stopAccepting();
        m_acceptThread->quit();
        m_acceptThread->wait();
        m_acceptThread.reset();
        m_accept = nullptr;
    }
    for (size_t i = 0; i < m_lanes.size(); ++i) {
        HttpLane *lane = m_lanes[i];
        QMetaObject::invokeMethod(
            lane, [lane] { lane->closeAll(); }, Qt::BlockingQueuedConnection);
        m_threads[i]->quit();
        m_threads[i]->wait();
    }
    m_lanes.clear();
    m_threads.clear();
}

} // namespace vigil
