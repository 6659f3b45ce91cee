#include "remediator.h"

#include <QMutexLocker>
#include <QPointer>
#include <QTimer>

namespace vigil {

SimulatedRemediator::SimulatedRemediator(const RemediatorConfig &config, quint64 seed, Ledger ledger)
    : m_config(config)
    , m_prng(seed)
    , m_ledger(std::move(ledger))
{ }

void SimulatedRemediator::execute(const Request &request, QObject *context, std::function<void(bool, QString)> done)
{
    int latency = 0;
    bool fail = false;
    bool hang = false;
    {
        QMutexLocker lock(&m_mutex);
        // Latency spread ±50 % around the mean, so the latency chart has a shape.
        latency = static_cast<int>(m_config.latencyMs * m_prng.uniform(0.5, 1.5));
        hang = m_prng.chance(m_config.hangRate);
        fail = !hang && m_prng.chance(m_config.failureRate);
    }
    if (hang)
        return; // never answers; the worker's timeout turns this into a failed attempt
    QPointer<QObject> ctx(context);
    QTimer::singleShot(latency, context, [this, done, fail, ctx, request] {
        if (fail) {
            done(false, QStringLiteral("simulated %1 failure").arg(request.type));
            return;
        }
        // The effect happens at this point, once per key: the ledger decides.
        auto settle = [this, done](bool apply) {
            QMutexLocker lock(&m_mutex);
            if (apply)
                ++m_executions;
            else
                ++m_duplicates;
            lock.unlock();
            done(true, QString());
        };
        if (!m_ledger) {
            QMutexLocker lock(&m_mutex);
            const bool apply = !m_done.contains(request.idempotencyKey);
            m_done.insert(request.idempotencyKey);
            lock.unlock();
            settle(apply);
            return;
        }
        m_ledger(request.idempotencyKey, request.worker, [ctx, settle, done](bool ok, bool apply) {
            // Any thread: back to the caller's (a vanished caller's task is rescued later).
            if (!ctx)
                return;
            QMetaObject::invokeMethod(
                ctx,
                [settle, done, ok, apply] {
                    if (ok)
                        settle(apply);
                    else
                        done(false, QStringLiteral("the execution could not be recorded"));
                },
                Qt::QueuedConnection);
        });
    });
}

qint64 SimulatedRemediator::executions() const
{
    QMutexLocker lock(&m_mutex);
    return m_executions;
}

qint64 SimulatedRemediator::duplicatesSuppressed() const
{
    QMutexLocker lock(&m_mutex);
    return m_duplicates;
}

} // namespace vigil
