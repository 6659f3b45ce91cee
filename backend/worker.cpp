#include "worker.h"

#include "policy.h"
#include "remediator.h"
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
{
    m_capacity = std::max(1, config.claimBatch * 2);
}

void Worker::start()
{
    // Polling is only the fallback: the writer wakes us when it commits new ready tasks. The poll
    // also picks up retries whose run_at came due.
    m_poll.setInterval(250);
    connect(&m_poll, &QTimer::timeout, this, &Worker::pump);
    m_poll.start();
    m_outcomeTimer.setSingleShot(true);
    m_outcomeTimer.setInterval(0);
    connect(&m_outcomeTimer, &QTimer::timeout, this, &Worker::flushOutcomes);
    pump();
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
        const auto policies = m_writer.policies();
        for (const Policy &p : *policies)
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
    m_remediator.execute(Remediator::Request {task.actionType, task.actionKey, task.source, task.params}, this,
        [complete](bool ok, QString error) mutable { complete(ok, error); });
}

void Worker::finish(TaskOutcome outcome)
{
    --m_inFlight;
    m_inFlightShared = m_inFlight;
    ++m_processed;
    if (!outcome.success)
        ++m_failed;
    m_busyUs += static_cast<qint64>(outcome.durationMs * 1000);
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
    m_outcomesPending = true;
    QPointer<Worker> self(this);
    m_writer.submitOutcomes(std::move(batch), [self](bool) {
        if (self)
            QMetaObject::invokeMethod(
                self,
                [self] {
                    self->m_outcomesPending = false;
                    self->pump();
                    self->checkDrained();
                },
                Qt::QueuedConnection);
    });
    pump();
}

void Worker::drain(std::function<void()> done)
{
    m_stopping = true;
    m_poll.stop();
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
    m_stopped = true;
    auto done = std::move(m_drained);
    m_drained = nullptr;
    done();
}

Worker::Stats Worker::stats() const
{
    Stats s;
    s.inFlight = m_inFlightShared.load();
    s.state = m_stopped ? QStringLiteral("stopped") : s.inFlight > 0 ? QStringLiteral("busy") : QStringLiteral("idle");
    s.processed = m_processed.load();
    s.failed = m_failed.load();
    s.busyMs = double(m_busyUs.load()) / 1000.0;
    return s;
}

} // namespace vigil
