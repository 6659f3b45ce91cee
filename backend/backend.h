#pragma once

#include "config.h"

#include <QJsonArray>
#include <QObject>
#include <QUrl>

#include <memory>

namespace vigil {

class MetricsRegistry;
class Simulator;
class Writer;

// The composition root of the server: database, writer, workers, HTTP front door, simulator,
// metrics sampler, each on its own thread. Used by the app (window or --headless) and by tests.
class Backend final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(Backend)
public:
    explicit Backend(ServerConfig config, QObject *parent = nullptr);
    ~Backend() override; // calls stop()

    // Opens the database, starts threads and listens. On failure returns false and a message a
    // user can act on ("port 8000 on 127.0.0.1 is already in use", "database is locked by ...").
    bool start(QString *error);
    // Clean shutdown: stop accepting, stop the simulator, drain HTTP answers, let workers finish
    // or release their leases, flush the writer, close the database. Blocking, bounded; idempotent.
    void stop();

    bool isRunning() const { return m_running; }
    // After a failed start(): true when listening failed (another port may help), false when the
    // cause was the database (locked by another Vigil, unreadable, too new).
    bool failedOnListen() const { return m_failedOnListen; }
    quint16 port() const;
    QUrl baseUrl() const; // http://127.0.0.1:<port>
    const ServerConfig &config() const { return m_config; }
    QString databasePath() const;

    MetricsRegistry &metrics();
    Simulator &simulator();

signals:
    void stopped();

private:
    QJsonArray workersJson() const; // GET /api/v1/workers, thread-safe
    bool lockSqliteFile(QString *error);
    struct Private;
    ServerConfig m_config;
    std::unique_ptr<Private> d;
    bool m_running = false;
    bool m_failedOnListen = false;
};

} // namespace vigil
