#pragma once

#include <QJsonObject>
#include <QMutex>
#include <QObject>
#include <QTimer>

#include <deque>
#include <functional>

#include "metrics.h"

namespace vigil {

class Simulator;
class Writer;

// One 1 Hz sample: what the window's three charts draw (and /api/v1/stats/timeseries serves).
struct Sample
{
    qint64 t = 0; // wall clock, ms since epoch
    double queueDepth = 0;
    double ingestPerS = 0; // events accepted (committed)
    double processedPerS = 0; // tasks finished by workers (any result)
    double failedPerS = 0; // task attempts that failed (retry or dead letter)
    double rateLimitedPerS = 0; // requests answered 429 by the rate limiter (every class)
    double rateLimitedTotal = 0; // ... since the server started
    double backpressurePerS = 0; // ingest requests answered 503 backpressure
    double simSentPerS = 0;
    double enqueuePerS = 0;
    double dequeuePerS = 0;
    double p50Ms = 0, p95Ms = 0, p99Ms = 0; // simulator's client-side latency from the scheduled send
    double serverP95Ms = 0; // server-side, POST /api/v1/ingest
    QJsonObject toJson() const;
};

// Ring of the last hour of samples; thread-safe.
class TimeSeries final
{
public:
    static constexpr int kCapacity = 3600;
    void append(const Sample &s);
    // Samples newer than `sinceMs` (exclusive) within the last `windowSeconds`, oldest first.
    QList<Sample> samples(int windowSeconds, qint64 sinceMs = 0) const;
    Sample latest() const;

private:
    mutable QMutex m_mutex;
    std::deque<Sample> m_ring;
};

// Takes a sample every second from the metrics registry, the writer's queue snapshot and the simulator.
class Sampler final : public QObject
{
    Q_OBJECT
public:
    Sampler(
        TimeSeries &series, MetricsRegistry &metrics, Writer &writer, Simulator &simulator, QObject *parent = nullptr);
    void start(); // on the sampler's thread
    void sampleNow();

private:
    TimeSeries &m_series;
    MetricsRegistry &m_metrics;
    Writer &m_writer;
    Simulator &m_simulator;
    QTimer m_timer;
    qint64 m_lastNs = 0;
    double m_lastIngest = 0, m_lastProcessed = 0, m_lastFailed = 0, m_lastRateLimited = 0, m_lastSimSent = 0;
    double m_lastEnqueued = 0, m_lastDequeued = 0;
    double m_lastBackpressure = 0;
    Histogram::Snapshot m_lastClient;
    Histogram::Snapshot m_lastServer;
    std::deque<Histogram::Snapshot> m_clientWindow; // per-second deltas, for a 5 s percentile window
    bool m_primed = false;
};

} // namespace vigil
