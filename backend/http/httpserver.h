#pragma once

#include "config.h"
#include "httptypes.h"

#include <QHostAddress>
#include <QObject>
#include <QString>

#include <atomic>

#include <memory>
#include <vector>

class QThread;

namespace vigil {

class Admission;
class MetricsRegistry;
class Router;
class AcceptServer;
class HttpLane;

// The HTTP front door (DESIGN.md "HTTP front door on Qt 6.4"): one accept thread hands sockets
// round-robin to N HTTP threads, each running a QHttpServer whose every request goes through
// our responder-based dispatcher (never QFuture routes: use-after-free on 6.4). Answers on one
// connection leave in request order; a client that disconnects while its answer waits is
// forgotten safely.
class HttpServer final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(HttpServer)
public:
    HttpServer(const Router &router, MetricsRegistry &metrics, const ServerConfig &config, QObject *parent = nullptr);
    ~HttpServer() override; // shutdown()

    // Before listen(): every request passes `admission` (rate limit, auth, backpressure) before its
    // handler. It must outlive the server. Without one, nothing is limited (tests of the dispatcher).
    void setAdmission(Admission *admission) { m_admission = admission; }
    bool listen(const QHostAddress &address, quint16 port, QString *error);
    // The message listen() gives when the port is taken (also used by Backend's early check).
    static QString portInUseMessage(const QHostAddress &address, quint16 port);
    quint16 port() const { return m_port; }

    void stopAccepting();
    // Requests still arriving on open connections are answered 503 (shutting_down) and the
    // connection closed, so nothing reaches services that are about to stop.
    void refuseNewRequests();
    // Waits (bounded) until every accepted request has been answered. True if all were.
    bool drain(int timeoutMs);
    qint64 pendingAnswers() const;
    // Closes every connection and joins the threads. Reply::send after this is a no-op.
    void shutdown();

private:
    const Router &m_router;
    MetricsRegistry &m_metrics;
    ServerConfig m_config;
    quint16 m_port = 0;
    std::atomic<int> m_open {0}; // open client connections, all lanes
    Admission *m_admission = nullptr;
    std::unique_ptr<QThread> m_acceptThread;
    AcceptServer *m_accept = nullptr;
    std::vector<std::unique_ptr<QThread>> m_threads;
    std::vector<HttpLane *> m_lanes;
};

} // namespace vigil
