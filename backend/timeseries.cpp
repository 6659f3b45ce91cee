#include "timeseries.h"

#include "sim/simulator.h"
#include "util.h"
#include "writer.h"

#include <QJsonArray>

namespace vigil {

QJsonObject Sample::toJson() const
{
    auto r = [](double v) { return std::round(v * 1000.0) / 1000.0; };
    return {
        {QStringLiteral("t"), t},
        {QStringLiteral("queue_depth"), queueDepth},
        {QStringLiteral("ingest_per_s"), r(ingestPerS)},
        {QStringLiteral("processed_per_s"), r(processedPerS)},
        {QStringLiteral("failed_per_s"), r(failedPerS)},
        {QStringLiteral("rate_limited_per_s"), r(rateLimitedPerS)},
        {QStringLiteral("rate_limited_total"), rateLimitedTotal},
        {QStringLiteral("backpressure_per_s"), r(backpressurePerS)},
        {QStringLiteral("sim_sent_per_s"), r(simSentPerS)},
        {QStringLiteral("enqueue_per_s"), r(enqueuePerS)},
        {QStringLiteral("dequeue_per_s"), r(dequeuePerS)},
        {QStringLiteral("p50_ms"), r(p50Ms)},
        {QStringLiteral("p95_ms"), r(p95Ms)},
        {QStringLiteral("p99_ms"), r(p99Ms)},
        {QStringLiteral("server_p95_ms"), r(serverP95Ms)},
    };
}

void TimeSeries::append(const Sample &s)
{
    QMutexLocker lock(&m_mutex);
    m_ring.push_back(s);
    while (m_ring.size() > static_cast<size_t>(kCapacity))
        m_ring.pop_front();
}

QList<Sample> TimeSeries::samples(int windowSeconds, qint64 sinceMs) const
{
    QMutexLocker lock(&m_mutex);
    QList<Sample> out;
    if (m_ring.empty())
        return out;
    const qint64 from = std::max(sinceMs + 1, m_ring.back().t - qint64(windowSeconds) * 1000 + 1);
    for (const Sample &s : m_ring)
        if (s.t >= from)
            out.append(s);
    return out;
}

Sample TimeSeries::latest() const
{
    QMutexLocker lock(&m_mutex);
    return m_ring.empty() ? Sample {} : m_ring.back();
}

Sampler::Sampler(TimeSeries &series, MetricsRegistry &metrics, Writer &writer, Simulator &simulator, QObject *parent)
    : QObject(parent)
    , m_series(series)
    , m_metrics(metrics)
    , m_writer(writer)
    , m_simulator(simulator)
    , m_timer(this)
{ }

void Sampler::start()
{
    m_timer.setTimerType(Qt::PreciseTimer);
    m_timer.setInterval(1000);
    connect(&m_timer, &QTimer::timeout, this, &Sampler::sampleNow);
    m_timer.start();
    sampleNow();
}

void Sampler::sampleNow()
{
    const qint64 nowNs = steadyNowNs();
    const QueueSnapshot q = m_writer.snapshot();
    const double ingest = double(m_metrics.counterTotal("ingest_total"));
    const double processed = double(m_metrics.counterTotal("worker_tasks_total"));
    const double failed = double(m_metrics.counter("worker_tasks_total", "", {{"result", "failure"}}).value()
        + m_metrics.counter("worker_tasks_total", "", {{"result", "dead_letter"}}).value());
    const double rateLimited = double(m_metrics.counterTotal("rate_limited_total"));
    const double backpressure = double(m_metrics.counterTotal("ingest_backpressure_total"));
    const double simSent = m_simulator.status()
                               .value(QStringLiteral("simulator"))
                               .toObject()
                               .value(QStringLiteral("metrics"))
                               .toObject()
                               .value(QStringLiteral("events_generated"))
                               .toDouble();
    const double enqueued = double(q.enqueued);
    const double dequeued = double(q.dequeued);
    const Histogram::Snapshot client = m_simulator.clientLatency().snapshot();
    const Histogram::Snapshot server
        = m_metrics.histogram("request_latency_seconds", "", {{"endpoint", "/api/v1/ingest"}}).snapshot();

    if (m_primed) {
        const double dt = std::max(1e-3, double(nowNs - m_lastNs) / 1e9);
        Sample s;
        s.t = wallNowMs();
        s.queueDepth = double(q.depth());
        s.ingestPerS = (ingest - m_lastIngest) / dt;
        s.processedPerS = (processed - m_lastProcessed) / dt;
        s.failedPerS = (failed - m_lastFailed) / dt;
        s.rateLimitedPerS = (rateLimited - m_lastRateLimited) / dt;
        s.rateLimitedTotal = rateLimited;
        s.backpressurePerS = (backpressure - m_lastBackpressure) / dt;
        s.simSentPerS = std::max(0.0, simSent - m_lastSimSent) / dt; // a new run restarts the count
        s.enqueuePerS = (enqueued - m_lastEnqueued) / dt;
        s.dequeuePerS = (dequeued - m_lastDequeued) / dt; // tasks handed to workers by claims
        // Client percentiles over the last 5 s: steadier lines at low rates than per-second buckets.
        m_clientWindow.push_back(client - m_lastClient);
        while (m_clientWindow.size() > 5)
            m_clientWindow.pop_front();
        Histogram::Snapshot window;
        for (const auto &d : m_clientWindow) {
            for (size_t i = 0; i < window.counts.size(); ++i)
                window.counts[i] += d.counts[i];
            window.count += d.count;
        }
        s.p50Ms = window.quantile(0.50) * 1000.0;
        s.p95Ms = window.quantile(0.95) * 1000.0;
        s.p99Ms = window.quantile(0.99) * 1000.0;
        s.serverP95Ms = (server - m_lastServer).quantile(0.95) * 1000.0;
        m_series.append(s);
    }
    m_primed = true;
    m_lastNs = nowNs;
    m_lastIngest = ingest;
    m_lastProcessed = processed;
    m_lastFailed = failed;
    m_lastRateLimited = rateLimited;
    m_lastBackpressure = backpressure;
    m_lastSimSent = simSent;
    m_lastEnqueued = enqueued;
    m_lastDequeued = dequeued;
    m_lastClient = client;
    m_lastServer = server;
}

} // namespace vigil
