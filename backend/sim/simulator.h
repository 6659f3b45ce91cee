#pragma once

#include "metrics.h"
#include "sim/schedule.h"

#include <QJsonObject>
#include <QMutex>
#include <QObject>
#include <QStringList>
#include <QTimer>
#include <QUrl>

#include <array>
#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <unordered_map>
#include <vector>

class QNetworkAccessManager;
class QNetworkReply;
class QUrlQuery;

namespace vigil {

// One simulator run's parameters (DESIGN.md §4). Defaults are the API's defaults.
struct SimConfig
{
    double ratePerMin = 600; // R, events per minute, 1 … 1,000,000
    SimMode mode = SimMode::Steady;
    double failureRate = 0, timeoutRate = 0, malformedRate = 0; // chaos: 0.10/0.05/0.02 when not given
    double durationSeconds = 0; // 0 = until stopped
    quint64 seed = 0; // below 2^53, so JSON carries it exactly
    bool seedGiven = false; // otherwise a random seed is drawn (and reported) per run
    QUrl target; // base URL of a Vigil; empty = the embedded server (the default target)
    int clientTimeoutMs = 2000;
    QStringList metrics; // metric mix; empty = cpu_usage, memory_usage, error_rate, disk_usage
    int sources = 100; // sources "sim-node-000" … one per index
};

struct SimParamError
{
    QString field;
    QString message;
    bool unknown = false; // a parameter the simulator does not have (400 unknown_parameter, not invalid_parameter)
};

// Parses ?rate=&mode=&failure_rate=&timeout_rate=&malformed_rate=&duration=&seed=&target=
// &client_timeout_ms=&metrics=&sources= over *inOut (absent parameters keep its values).
// Out-of-range values, non-numbers, NaN, unknown modes, unknown or repeated parameters → an error
// naming the parameter; *inOut is then left unchanged.
std::optional<SimParamError> parseSimConfig(const QUrlQuery &query, SimConfig *inOut);

// The load/chaos generator: an open-model client that sends POST /api/v1/ingest at the rate of a
// Schedule, with optional fault markers, and accounts for every event (DESIGN.md §4).
//
// Threading: Backend moves it to its own QThread. Everything network-related (managers, replies,
// timers) lives and runs on that thread; the request*/status/isRunning entry points may be called
// from any thread. Counters shown by status() sit under one mutex, so every snapshot reconciles:
// generated = succeeded + failed + dropped + in_flight.
class Simulator final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(Simulator)
public:
    using StatusCallback = std::function<void(QJsonObject status)>;

    explicit Simulator(MetricsRegistry &metrics, QObject *parent = nullptr);
    ~Simulator() override;

    // Thread-safe. The embedded server, e.g. http://127.0.0.1:8000 (used when config.target is empty).
    void setDefaultTarget(const QUrl &baseUrl);
    QUrl defaultTarget() const;
    // Thread-safe. Sent as "Authorization: Bearer …" to the default target only (never to others).
    void setDefaultToken(const QByteArray &token);

    // Thread-safe: applied on the simulator thread, then `done` is called there with the new
    // status. While running: same mode changes rate, fault shares, target and timeout live; another
    // mode switches mode without resetting counters. The seed of a running run does not change.
    void requestStart(const SimConfig &config, StatusCallback done = {});
    // Thread-safe: stops generating at once (running becomes false), lets events still in flight
    // finish, retries included, for at most 2 × client timeout + 1 s (the rest is aborted and
    // counted failed), then calls `done` with the final, reconciled status (in_flight = 0).
    void requestStop(StatusCallback done = {});

    // Thread-safe snapshot: the whole {ok, timestamp, simulator:{…}} object.
    QJsonObject status() const;
    bool isRunning() const { return m_running.load(std::memory_order_acquire); }
    // Thread-safe: the configuration of the current (or last) run.
    SimConfig configuration() const;
    // Seconds, from the scheduled send time to the final answer (retries included), all runs.
    const Histogram &clientLatency() const { return m_latency; }

    // Thread-safe, blocking: stop, wait for requests in flight (at most timeoutMs), abort the rest.
    void shutdown(int timeoutMs = 3000);

signals:
    void runningChanged(bool running);

private:
    enum class Fault { None, Error, Timeout, Malformed };
    enum class Outcome { Succeeded, Failed, Dropped };

    struct Event
    {
        quint64 seq = 0;
        qint64 scheduledNs = 0;
        Fault fault = Fault::None;
        QByteArray metricName;
        QByteArray body;
        int attempt = 0; // attempts made so far
        quint64 attemptId = 0; // identifies the current attempt in the timeout heap
        QNetworkReply *reply = nullptr; // non-null while an attempt is on the wire
    };
    struct Due
    {
        qint64 atNs = 0;
        quint64 id = 0; // the attempt a timeout belongs to (0 for retries)
        quint64 seq = 0;
        bool operator>(const Due &o) const { return atNs > o.atNs; }
    };
    using DueHeap = std::priority_queue<Due, std::vector<Due>, std::greater<Due>>;

    // Shared with status(): guarded by m_mutex.
    struct Stats
    {
        quint64 generated = 0, succeeded = 0, failed = 0, dropped = 0;
        quint64 rateLimited = 0, timeouts = 0, malformed = 0, retried = 0;
        quint64 sent = 0; // events sent (first attempts)
        bool faultsHonoured = true;
        std::array<std::pair<qint64, quint64>, 61> sentPerSecond {}; // (run second, events sent)
    };

    // All on the simulator thread.
    void applyStart(const SimConfig &config);
    void beginStop(qint64 drainDeadlineNs);
    qint64 drainBudgetNs() const;
    void abandonAll();
    void finishDrainIfIdle();
    void onTick();
    void generateUpTo(double tSeconds, qint64 nowNs);
    void dispatchNew(quint64 seq, double scheduledT, qint64 nowNs);
    void sendAttempt(Event &event, qint64 nowNs);
    void onReplyFinished(quint64 seq, QNetworkReply *reply);
    void onTimedOut(Event &event, qint64 nowNs);
    // busy: the answer was 429/503 (not processed; a longer, jittered patience applies).
    void retryOrFail(Event &event, qint64 nowNs, double minDelaySeconds, bool busy = false);
    void finish(quint64 seq, Outcome outcome, qint64 nowNs);
    void ensurePool();
    void flushSampledLogs(qint64 nowNs, bool force);
    Event makeEvent(quint64 seq, double scheduledT);

    QJsonObject statusLocked(qint64 nowNs) const;
    double runSecondsLocked(qint64 nowNs) const;

    Counter &m_succeededTotal;
    Counter &m_failedTotal;
    Counter &m_droppedTotal;
    Histogram m_latency;

    mutable QMutex m_mutex;
    // --- guarded by m_mutex. Written only on the simulator thread (with the lock held), so that
    // thread may read them without locking; other threads lock. ---
    QUrl m_defaultTarget;
    QByteArray m_defaultToken;
    SimConfig m_config;
    quint64 m_seed = 0;
    QByteArray m_runId;
    std::optional<Schedule> m_schedule;
    bool m_everStarted = false;
    qint64 m_startWallMs = 0;
    qint64 m_startNs = 0;
    qint64 m_stopNs = 0;
    Stats m_stats;
    std::deque<std::pair<qint64, Histogram::Snapshot>> m_latencyRing; // one snapshot per run second
    // --- end of guarded ---
    std::atomic<bool> m_running {false};

    // Simulator thread only.
    QTimer m_tick {this};
    std::vector<QNetworkAccessManager *> m_pool; // children of this
    size_t m_nextManager = 0;
    std::unordered_map<quint64, Event> m_events; // in flight: on the wire or waiting for a retry
    DueHeap m_timeouts;
    DueHeap m_retries;
    quint64 m_nextSeq = 1; // next event to generate (1-based, as Schedule::timeOfCount)
    quint64 m_nextAttemptId = 1;
    qsizetype m_activeRequests = 0;
    qsizetype m_inFlightCap = 64;
    bool m_draining = false;
    qint64 m_drainDeadlineNs = 0;
    QUrl m_url; // resolved ingest URL for this run
    QByteArray m_authorization;
    int m_timeoutMs = 2000;
    int m_malformedRotation = 0;
    std::vector<StatusCallback> m_stopWaiters;
    // Sampled logs: at most one line per second per kind, with the count since the last one.
    qint64 m_lastRateLimitLogNs = 0;
    quint64 m_pendingRateLimitLogs = 0;
    int m_lastRateLimitStatus = 0;
    qint64 m_lastTimeoutLogNs = 0;
    quint64 m_pendingTimeoutLogs = 0;
    QByteArray m_lastTimeoutMetric;
};

} // namespace vigil
