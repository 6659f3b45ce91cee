#include "remediator.h"

#include <QMutexLocker>
#include <QTimer>

namespace vigil {

SimulatedRemediator::SimulatedRemediator(const RemediatorConfig &config, quint64 seed)
    : m_config(config)
    , m_prng(seed)
{ }

void SimulatedRemediator::execute(const Request &request, QObject *context, std::function<void(bool, QString)> done)
{
    int latency = 0;
    bool fail = false;
    bool hang = false;
    bool duplicate = false;
    {
        QMutexLocker lock(&m_mutex);
        // Latency spread ±50 % around the mean, so the latency chart has a shape.
        latency = static_cast<int>(m_config.latencyMs * m_prng.uniform(0.5, 1.5));
        hang = m_prng.chance(m_config.hangRate);
        fail = !hang && m_prng.chance(m_config.failureRate);
        duplicate = m_done.contains(request.idempotencyKey);
        if (duplicate)
            ++m_duplicates;
    }
    if (duplicate) {
        // Already carried out under this key: report success, do nothing (effects exactly once).
        QTimer::singleShot(0, context, [done] { done(true, QString()); });
        return;
    }
    if (hang)
        return; // never answers; the worker's timeout turns this into a failed attempt
    const QString key = request.idempotencyKey;
    QTimer::singleShot(latency, context, [this, done, fail, key, type = request.type] {
        if (fail) {
            done(false, QStringLiteral("simulated %1 failure").arg(type));
            return;
        }
        {
            QMutexLocker lock(&m_mutex);
            m_done.insert(key);
            ++m_executions;
        }
        done(true, QString());
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
