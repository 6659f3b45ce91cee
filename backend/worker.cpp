#include "worker.h"

#include "policy.h"
#include "remediator.h"
#include "sqldialect.h"
#include "util.h"

#include <QPointer>

namespace vigil {

Worker::Worker(QString id, const ServerConfig &config, Writer &writer, Remediator &remediator, QObject *parent)
    : QObject(parent)
    , m_id(std::move(id))
    , m_config(config)
    , m_writer(writer)
    , m_remediator(remediator)
    , m_poll(this)
    , m_outcomeTimer(this)
    , m_heartbeat(this)
{
    m_capacity = std::max(1, config.claimBatch * 2);
}

void Worker::start()
{
    // Polling is only the fallback: the writer wakes us when it commits new ready tasks. The poll
    // also picks up retries whose run_at came due.
    // PostgreSQL: other nodes' new tasks arrive by LISTEN/NOTIFY, so the fallback poll can be slow.
    m_poll.setInterval(DatabaseLocation::isPostgresUrl(m_config.databasePath) ? 1000 : 250);
    connect(&m_poll, &QTimer::timeout, this, &Worker::pump);
    m_poll.start();
    m_outcomeTimer.setSingleShot(true);
    m_outcomeTimer.setInterval(0);
    connect(&m_outcomeTimer, &QTimer::timeout, this, &Worker::flushOutcomes);
    // Heartbeat: three per lease, so one late or lost beat does not cost the lease. A remediation
    // may therefore run longer than the lease; only a worker that stops beating (dead, wedged
    // event loop) loses its tasks to the reaper.
    m_heartbeat.setInterval(std::max(100, m_config.leaseSeconds * 1000 / 3));
    connect(&m_heartbeat, &QTimer::timeout, this, &Worker::heartbeat);
    m_heartbeat.start();
    pump();
}

void Worker::heartbeat()
{
    if (m_held.isEmpty())
        return;
    ++m_heartbeats;
    m_writer.submitHeartbeat(m_id, QList<qint64>(m_held.cbegin(), m_held.cend()));
}

void Worker::wake()
{
    pump();
}

void Worker::pump()
{
    if (m_stopping || m_claimPending)
        return;
    const int room = m_capacity - m_inFlight;
    if (room <= 0)
        return;
    m_claimPending = true;
    QPointer<Worker> self(this);
    m_writer.submitClaim(m_id, std::min(room, m_config.claimBatch), [self](QList<TaskItem> tasks) {
        // Writer thread: hop back to ours. If we are gone the tasks stay leased and the reaper
        // rescues them when the lease expires.
        if (self)
            QMetaObject::invokeMethod(
                self, [self, tasks = std::move(tasks)]() mutable { self->onClaimed(std::move(tasks)); },
                Qt::QueuedConnection);
    });
}

void Worker::onClaimed(QList<TaskItem> tasks)
{
    m_claimPending = false;
    for (const TaskItem &t : tasks)
        process(t);
    // A full batch means more may be waiting: claim again straight away.
    if (!tasks.isEmpty() && !m_stopping)
        pump();
    checkDrained();
}

void Worker::process(const TaskItem &task)
{
    m_held.insert(task.taskId);
    ++m_inFlight;
    m_inFlightShared = m_inFlight;
    TaskOutcome out;
    out.taskId = task.taskId;
    out.kind = task.kind;
    out.attempts = task.attempts;
    out.maxAttempts = task.maxAttempts;
    out.workerId = m_id;
    out.eventId = task.eventId;
    if (task.kind == QLatin1String("event")) {
        const qint64 t0 = steadyNowNs();
        out.metricName = task.metricName;
        out.source = task.source;
        out.value = task.value;
        out.policies = m_writer.policies();
        for (const Policy &p : *out.policies)
            if (breaches(p, task.metricName, task.value))
                out.breached.append(p.id);
        out.durationMs = double(steadyNowNs() - t0) / 1e6;
        finish(std::move(out));
        return;
    }
    out.actionId = task.refId;
    const qint64 t0 = steadyNowNs();
    // Whichever comes first wins: the remediator's answer or the timeout.
    auto settled = std::make_shared<bool>(false);
    auto timer = new QTimer(this);
    timer->setSingleShot(true);
    auto complete = [this, settled, timer, out, t0](bool ok, const QString &error) mutable {
        if (*settled)
            return;
        *settled = true;
        timer->stop();
        timer->deleteLater();
        out.success = ok;
        out.error = error;
        out.durationMs = double(steadyNowNs() - t0) / 1e6;
        finish(std::move(out));
    };
    connect(timer, &QTimer::timeout, this, [complete, ms = m_config.remediator.timeoutMs]() mutable {
        complete(false, QStringLiteral("remediator timed out after %1 ms").arg(ms));
    });
    timer->start(m_config.remediator.timeoutMs);
    m_remediator.execute(Remediator::Request {task.actionType, task.actionKey, task.source, task.params, m_id}, this,
        [complete](bool ok, QString error) mutable { complete(ok, error); });
}

void Worker::finish(TaskOutcome outcome)
{
    --m_inFlight;
    m_inFlightShared = m_inFlight;
    record(outcome);
    m_outcomes.append(std::move(outcome));
    // Coalesce the outcomes of one event-loop pass into one writer submission (batched acks).
    if (!m_outcomeTimer.isActive())
        m_outcomeTimer.start();
}

void Worker::flushOutcomes()
{
    if (m_outcomes.isEmpty())
        return;
    QList<TaskOutcome> batch;
    batch.swap(m_outcomes);
    QList<qint64> ids;
    ids.reserve(batch.size());
    for (const TaskOutcome &o : batch)
        ids.append(o.taskId);
    m_outcomesPending = true;
    QPointer<Worker> self(this);
    m_writer.submitOutcomes(std::move(batch), [self, ids = std::move(ids)](bool) {
        if (self)
            QMetaObject::invokeMethod(
                self,
                [self, ids] {
                    // Committed (or failed: then the reaper returns the tasks when the lease runs
                    // out): stop beating for them either way.
                    for (qint64 id : ids)
                        self->m_held.remove(id);
                    self->m_outcomesPending = false;
                    self->pump();
                    self->checkDrained();
                },
                Qt::QueuedConnection);
    });
    pump();
}

void Worker::record(const TaskOutcome &outcome)
{
    ++m_processed;
    if (!outcome.success)
        ++m_failed;
    m_busyUs += static_cast<qint64>(outcome.durationMs * 1000);
    const qint64 second = steadyNowNs() / 1'000'000'000;
    QMutexLocker lock(&m_windowMutex);
    Bucket &b = m_window[static_cast<size_t>(second % qint64(m_window.size()))];
    if (b.second != second)
        b = Bucket {second, 0, 0, 0};
    ++b.processed;
    b.failed += outcome.success ? 0 : 1;
    b.busyMs += outcome.durationMs;
}

void Worker::drain(std::function<void()> done)
{
    m_stopping = true;
    m_poll.stop(); // the heartbeat keeps running: what is still in flight keeps its lease
    m_drained = std::move(done);
    checkDrained();
}

void Worker::checkDrained()
{
    if (!m_stopping || !m_drained || m_claimPending || m_inFlight > 0)
        return;
    if (!m_outcomes.isEmpty()) {
        flushOutcomes();
        return;
    }
    if (m_outcomesPending)
        return;
    m_heartbeat.stop();
    m_stopped = true;
    auto done = std::move(m_drained);
    m_drained = nullptr;
    done();
}

Worker::Stats Worker::stats() const
{
    Stats s;
    s.inFlight = m_inFlightShared.load();
    s.state = m_stopped     ? QStringLiteral("stopped")
        : s.inFlight > 0    ? QStringLiteral("busy")
        : m_writer.snapshot().paused ? QStringLiteral("paused")
                            : QStringLiteral("idle");
    s.processed = m_processed.load();
    s.failed = m_failed.load();
    s.busyMs = double(m_busyUs.load()) / 1000.0;
    s.heartbeats = m_heartbeats.load();
    const qint64 now = steadyNowNs() / 1'000'000'000;
    QMutexLocker lock(&m_windowMutex);
    for (const Bucket &b : m_window) {
        // The last 60 whole seconds plus the current one in progress would be 61: count 60.
        if (b.second < 0 || b.second <= now - qint64(m_window.size()))
            continue;
        s.processedLastMinute += b.processed;
        s.failedLastMinute += b.failed;
        s.busyMsLastMinute += b.busyMs;
    }
    return s;
}

} // namespace vigil
