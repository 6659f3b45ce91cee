#pragma once

#include "config.h"
#include "prng.h"

#include <QJsonObject>
#include <QMutex>
#include <QObject>
#include <QSet>
#include <QString>

#include <functional>

namespace vigil {

// Carries out a remediation. Asynchronous: `done` is called later on the caller's thread (through
// `context`), or never if the remediation hangs — the worker's timeout covers that.
class Remediator
{
public:
    virtual ~Remediator() = default;
    struct Request
    {
        QString type; // restart_service, clear_cache, ...
        QString idempotencyKey; // the same for every attempt of one action
        QString target; // the event's source
        QJsonObject params;
    };
    virtual void execute(const Request &request, QObject *context, std::function<void(bool ok, QString error)> done)
        = 0;
};

// Simulated remediator: configurable latency and failure/hang shares, so retries, timeouts and
// dead letters show up under load. Remembers which idempotency keys it has carried out, so a
// redelivered action reports success without doing the work twice.
class SimulatedRemediator final : public Remediator
{
public:
    explicit SimulatedRemediator(const RemediatorConfig &config, quint64 seed);
    void execute(const Request &request, QObject *context, std::function<void(bool ok, QString error)> done) override;

    qint64 executions() const; // remediations actually carried out (successful ones)
    qint64 duplicatesSuppressed() const;

private:
    RemediatorConfig m_config;
    mutable QMutex m_mutex;
    Prng m_prng;
    QSet<QString> m_done;
    qint64 m_executions = 0;
    qint64 m_duplicates = 0;
};

} // namespace vigil
