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
        QString worker; // who delivers it (recorded with the execution)
    };
    virtual void execute(const Request &request, QObject *context, std::function<void(bool ok, QString error)> done)
        = 0;
};

// Simulated remediator: configurable latency and failure/hang shares, so retries, timeouts and
// dead letters show up under load. Its effects are idempotent per key, as a real remediation
// target must be: before it "acts" it asks its ledger whether the key was executed before, and a
// redelivered action (after a rescue or a crash) reports success without acting twice.
//
// The ledger: Backend hands in the writer's effect ledger (actions.executions, durable and
// ordered by the single writer, so it holds across restarts and concurrent deliveries). Without
// one (unit tests) the remediator keeps the keys in memory.
class SimulatedRemediator final : public Remediator
{
public:
    // Answers (on any thread) whether the effect of `key` is to be applied now: apply is true exactly
    // once per key. ok is false when the ledger could not record the delivery (nothing is applied).
    using Ledger
        = std::function<void(const QString &key, const QString &worker, std::function<void(bool ok, bool apply)>)>;
    explicit SimulatedRemediator(const RemediatorConfig &config, quint64 seed, Ledger ledger = {});
    void execute(const Request &request, QObject *context, std::function<void(bool ok, QString error)> done) override;

    qint64 executions() const; // remediations actually carried out (successful ones)
    qint64 duplicatesSuppressed() const;

private:
    RemediatorConfig m_config;
    mutable QMutex m_mutex;
    Prng m_prng;
    Ledger m_ledger;
    QSet<QString> m_done; // without a ledger: keys executed
    qint64 m_executions = 0;
    qint64 m_duplicates = 0;
};

} // namespace vigil
