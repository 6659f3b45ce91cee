#include "simulator.h"

#include "logger.h"
#include "prng.h"
#include "util.h"

#include <QJsonArray>
#include <QMutexLocker>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QSemaphore>
#include <QHash>
#include <QThread>
#include <QUrlQuery>

#include <algorithm>
#include <cmath>

namespace vigil {

namespace {

constexpr qint64 kNsPerSecond = 1'000'000'000;
constexpr qint64 kNsPerMs = 1'000'000;
constexpr int kMaxTickMs = 5; // the scheduler's resolution when nothing is due sooner
constexpr double kLateSeconds = 1.0; // later than this → dropped, never sent
constexpr int kMaxRetries = 4; // after an error or a client timeout
constexpr double kBackoffBaseSeconds = 0.1; // 100 ms · 2^n ± 20 %
// 429/503 say "nothing was done, come back later": a client that gives up after four 1 s waits
// fails a burst that the calm phase after it would absorb, and clients that all come back after
// exactly Retry-After seconds arrive together. So: up to 8 retries within 30 s of the scheduled
// send, waiting max(Retry-After, 0.5 s · 2^n capped at 8 s), stretched by 0–50 % jitter.
constexpr int kMaxBusyRetries = 8;
constexpr double kBusyBackoffBaseSeconds = 0.5;
constexpr double kBusyBackoffCapSeconds = 8;
constexpr double kBusyBudgetSeconds = 30;
// Events waiting for a retry are held in memory: past this many (e.g. 1,000,000/min against a
// server that refuses most of it), a refused event fails at once instead of waiting.
constexpr size_t kMaxPendingRetries = 100'000;
constexpr double kMaxRetryAfterSeconds = 60;
constexpr double kEventsPerSecondPerManager = 2000; // one QNAM holds 6 connections to a host (6.4)
constexpr size_t kMaxManagers = 32;
constexpr qsizetype kMinInFlightCap = 64;
constexpr int kLatencyWindowSeconds = 10;
constexpr quint64 kMaxSeed = (quint64(1) << 53) - 1; // JSON numbers are exact below 2^53
constexpr double kMaxRate = 1'000'000;
constexpr double kMaxDurationSeconds = 30.0 * 24 * 3600;
constexpr int kMinClientTimeoutMs = 100;
constexpr int kMaxClientTimeoutMs = 600'000;
constexpr int kMaxSources = 100'000;
constexpr int kMaxMetrics = 16;
constexpr double kThresholdExceedShare = 0.075; // 5–10 % of values trip the default policies

const QByteArray kIngestPath = QByteArrayLiteral("/api/v1/ingest");

// Value ranges per metric: "normal" stays under the default policy threshold (DESIGN.md §5),
// "exceed" lies above it.
struct MetricProfile
{
    const char *name;
    double normalLo, normalHi, exceedLo, exceedHi;
};
constexpr MetricProfile kProfiles[] = {
    {"cpu_usage", 5, 89.5, 90.5, 100},
    {"memory_usage", 20, 84.5, 85.5, 99.5},
    {"error_rate", 0, 4.5, 5.5, 30},
    {"disk_usage", 30, 94.5, 95.5, 100},
};

const QStringList &defaultMetrics()
{
    static const QStringList names = [] {
        QStringList list;
        for (const MetricProfile &p : kProfiles)
            list.append(QLatin1String(p.name));
        return list;
    }();
    return names;
}

double round2(double v)
{
    return std::round(v * 100.0) / 100.0;
}

double nsToSeconds(qint64 ns)
{
    return static_cast<double>(ns) / 1e9;
}

bool parseFiniteNumber(const QString &text, double *out)
{
    bool ok = false;
    const double v = text.trimmed().toDouble(&ok);
    if (!ok || !std::isfinite(v))
        return false;
    *out = v;
    return true;
}

bool parseInteger(const QString &text, qint64 lo, qint64 hi, qint64 *out)
{
    const QString t = text.trimmed();
    if (t.isEmpty() || !t.at(0).isDigit())
        return false;
    bool ok = false;
    const qulonglong v = t.toULongLong(&ok, 10);
    if (!ok || v < static_cast<qulonglong>(lo) || v > static_cast<qulonglong>(hi))
        return false;
    *out = static_cast<qint64>(v);
    return true;
}

// "90", "90s", "5m", "1h" (k6 style) → seconds.
bool parseDuration(const QString &text, double *seconds)
{
    QString t = text.trimmed().toLower();
    double unit = 1;
    if (t.endsWith(QLatin1Char('h')))
        unit = 3600;
    else if (t.endsWith(QLatin1Char('m')))
        unit = 60;
    if (t.endsWith(QLatin1Char('h')) || t.endsWith(QLatin1Char('m')) || t.endsWith(QLatin1Char('s')))
        t.chop(1);
    double v = 0;
    if (!parseFiniteNumber(t, &v) || v < 0)
        return false;
    *seconds = v * unit;
    return *seconds <= kMaxDurationSeconds;
}

bool isMetricName(const QString &name)
{
    static const QRegularExpression re(QStringLiteral("^[A-Za-z_:][A-Za-z0-9_:.\\-]{0,127}$"));
    return re.match(name).hasMatch();
}

QString sourceName(quint64 index)
{
    return QStringLiteral("sim-node-%1").arg(index, 3, 10, QLatin1Char('0'));
}

// The URL events go to: <base>/api/v1/ingest, unless the base already names that path.
QUrl ingestUrlFor(const QUrl &base)
{
    QUrl url = base;
    QString path = url.path();
    if (!path.endsWith(QLatin1String(kIngestPath))) {
        while (path.endsWith(QLatin1Char('/')))
            path.chop(1);
        url.setPath(path + QLatin1String(kIngestPath));
    }
    return url;
}

std::optional<SimParamError> paramError(const QString &field, const QString &message)
{
    return SimParamError {field, message};
}

} // namespace

std::optional<SimParamError> parseSimConfig(const QUrlQuery &query, SimConfig *inOut)
{
    static const QStringList known {QStringLiteral("rate"), QStringLiteral("mode"), QStringLiteral("failure_rate"),
        QStringLiteral("timeout_rate"), QStringLiteral("malformed_rate"), QStringLiteral("duration"),
        QStringLiteral("seed"), QStringLiteral("target"), QStringLiteral("client_timeout_ms"),
        QStringLiteral("metrics"), QStringLiteral("sources")};
    QHash<QString, QString> given;
    const auto items = query.queryItems(QUrl::FullyDecoded);
    for (const auto &[key, value] : items) {
        if (!known.contains(key))
            return SimParamError {key,
                QStringLiteral("unknown parameter '%1' (known: %2)").arg(key, known.join(QStringLiteral(", "))), true};
        if (given.contains(key))
            return paramError(key, QStringLiteral("parameter '%1' given more than once").arg(key));
        given.insert(key, value);
    }

    SimConfig c = *inOut;
    const auto has = [&given](const char *key) { return given.contains(QLatin1String(key)); };
    const auto value = [&given](const char *key) { return given.value(QLatin1String(key)); };

    if (has("rate")) {
        double v = 0;
        if (!parseFiniteNumber(value("rate"), &v) || v < 1 || v > kMaxRate)
            return paramError(
                QStringLiteral("rate"), QStringLiteral("rate must be a number of events per minute from 1 to 1000000"));
        c.ratePerMin = v;
    }
    if (has("mode")) {
        SimMode m = SimMode::Steady;
        if (!parseSimMode(value("mode").trimmed(), &m))
            return paramError(QStringLiteral("mode"), QStringLiteral("mode must be steady, burst, ramp or chaos"));
        // Chaos brings its own fault shares, unless the caller gives them (or already runs chaos).
        if (m == SimMode::Chaos && c.mode != SimMode::Chaos) {
            c.failureRate = 0.10;
            c.timeoutRate = 0.05;
            c.malformedRate = 0.02;
        }
        c.mode = m;
    }
    const struct
    {
        const char *key;
        double SimConfig::*field;
    } shares[] = {{"failure_rate", &SimConfig::failureRate}, {"timeout_rate", &SimConfig::timeoutRate},
        {"malformed_rate", &SimConfig::malformedRate}};
    for (const auto &share : shares) {
        if (!has(share.key))
            continue;
        double v = 0;
        if (!parseFiniteNumber(value(share.key), &v) || v < 0 || v > 1)
            return paramError(QLatin1String(share.key),
                QStringLiteral("%1 must be a share from 0 to 1").arg(QLatin1String(share.key)));
        c.*share.field = v;
    }
    // Each event carries at most one fault, so the shares must fit in one event.
    if (c.failureRate + c.timeoutRate + c.malformedRate > 1.0 + 1e-9) {
        QString field = QStringLiteral("malformed_rate");
        for (const auto &share : shares)
            if (has(share.key))
                field = QLatin1String(share.key);
        return paramError(field, QStringLiteral("failure_rate + timeout_rate + malformed_rate must not exceed 1"));
    }
    if (has("duration")) {
        double v = 0;
        if (!parseDuration(value("duration"), &v))
            return paramError(QStringLiteral("duration"),
                QStringLiteral("duration must be seconds from 0 (until stopped) to 30 days, "
                               "optionally with an s, m or h suffix"));
        c.durationSeconds = v;
    }
    if (has("seed")) {
        qint64 v = 0;
        if (!parseInteger(value("seed"), 0, static_cast<qint64>(kMaxSeed), &v))
            return paramError(QStringLiteral("seed"),
                QStringLiteral("seed must be an integer from 0 to 9007199254740991 (2^53 - 1)"));
        c.seed = static_cast<quint64>(v);
        c.seedGiven = true;
    }
    if (has("target")) {
        const QString text = value("target").trimmed();
        if (text.isEmpty()) {
            c.target = QUrl(); // back to the embedded server
        } else {
            const QUrl url(text, QUrl::StrictMode);
            const QString scheme = url.scheme().toLower();
            if (!url.isValid() || (scheme != QLatin1String("http") && scheme != QLatin1String("https"))
                || url.host().isEmpty() || url.hasQuery() || url.hasFragment())
                return paramError(QStringLiteral("target"),
                    QStringLiteral("target must be an http(s) base URL such as http://127.0.0.1:8000"));
            c.target = url;
        }
    }
    if (has("client_timeout_ms")) {
        qint64 v = 0;
        if (!parseInteger(value("client_timeout_ms"), kMinClientTimeoutMs, kMaxClientTimeoutMs, &v))
            return paramError(QStringLiteral("client_timeout_ms"),
                QStringLiteral("client_timeout_ms must be an integer from 100 to 600000"));
        c.clientTimeoutMs = static_cast<int>(v);
    }
    if (has("metrics")) {
        QStringList names;
        for (const QString &part : value("metrics").split(QLatin1Char(','))) {
            const QString name = part.trimmed();
            if (!isMetricName(name))
                return paramError(QStringLiteral("metrics"),
                    QStringLiteral("metrics must be a comma-separated list of metric names "
                                   "([A-Za-z_:][A-Za-z0-9_:.-]*, at most 128 characters)"));
            if (!names.contains(name))
                names.append(name);
        }
        if (names.size() > kMaxMetrics)
            return paramError(QStringLiteral("metrics"), QStringLiteral("metrics may name at most 16 metrics"));
        c.metrics = names;
    }
    if (has("sources")) {
        qint64 v = 0;
        if (!parseInteger(value("sources"), 1, kMaxSources, &v))
            return paramError(QStringLiteral("sources"), QStringLiteral("sources must be an integer from 1 to 100000"));
        c.sources = static_cast<int>(v);
    }
    *inOut = c;
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------

Simulator::Simulator(MetricsRegistry &metrics, QObject *parent)
    : QObject(parent)
    , m_succeededTotal(
          metrics.counter("simulator_events_total", "Simulator events by final outcome.", {{"outcome", "succeeded"}}))
    , m_failedTotal(
          metrics.counter("simulator_events_total", "Simulator events by final outcome.", {{"outcome", "failed"}}))
    , m_droppedTotal(
          metrics.counter("simulator_events_total", "Simulator events by final outcome.", {{"outcome", "dropped"}}))
{
    m_tick.setSingleShot(true);
    m_tick.setTimerType(Qt::PreciseTimer);
    connect(&m_tick, &QTimer::timeout, this, &Simulator::onTick);
}

Simulator::~Simulator()
{
    // Replies must not call back into members that are about to go; the managers (children) abort
    // whatever is left when they are deleted here, before our own members are destroyed.
    for (auto &[seq, event] : m_events)
        if (event.reply)
            QObject::disconnect(event.reply, nullptr, this, nullptr);
    qDeleteAll(m_pool);
    m_pool.clear();
}

void Simulator::setDefaultTarget(const QUrl &baseUrl)
{
    QMutexLocker lock(&m_mutex);
    m_defaultTarget = baseUrl;
}

QUrl Simulator::defaultTarget() const
{
    QMutexLocker lock(&m_mutex);
    return m_defaultTarget;
}

void Simulator::setDefaultToken(const QByteArray &token)
{
    QMutexLocker lock(&m_mutex);
    m_defaultToken = token;
}

SimConfig Simulator::configuration() const
{
    QMutexLocker lock(&m_mutex);
    return m_config;
}

void Simulator::requestStart(const SimConfig &config, StatusCallback done)
{
    QMetaObject::invokeMethod(
        this,
        [this, config, done = std::move(done)] {
            applyStart(config);
            if (done)
                done(status());
        },
        Qt::QueuedConnection);
}

void Simulator::requestStop(StatusCallback done)
{
    QMetaObject::invokeMethod(
        this,
        [this, done = std::move(done)] {
            if (!isRunning() && !m_draining) {
                if (done)
                    done(status());
                return;
            }
            if (done)
                m_stopWaiters.push_back(done);
            if (isRunning())
                beginStop(steadyNowNs() + drainBudgetNs());
            finishDrainIfIdle();
        },
        Qt::QueuedConnection);
}

void Simulator::shutdown(int timeoutMs)
{
    QThread *own = thread();
    if (QThread::currentThread() == own || !own || !own->isRunning()) {
        // Nobody else runs our code now: stop and abort synchronously.
        if (isRunning())
            beginStop(steadyNowNs());
        abandonAll();
        finishDrainIfIdle();
        return;
    }
    auto drained = std::make_shared<QSemaphore>();
    const qint64 drainNs = std::max<qint64>(0, timeoutMs - 200) * kNsPerMs;
    QMetaObject::invokeMethod(
        this,
        [this, drained, drainNs] {
            if (!isRunning() && !m_draining) {
                drained->release();
                return;
            }
            m_stopWaiters.push_back([drained](const QJsonObject &) { drained->release(); });
            const qint64 deadline = steadyNowNs() + drainNs;
            if (isRunning())
                beginStop(deadline);
            else
                m_drainDeadlineNs = std::min(m_drainDeadlineNs, deadline);
            finishDrainIfIdle();
        },
        Qt::QueuedConnection);
    drained->tryAcquire(1, timeoutMs + 500);
}

// --- the simulator thread ---------------------------------------------------------------------

void Simulator::ensurePool()
{
    const double peakPerSecond = m_config.ratePerMin / 60.0 * Schedule::peakFactor(m_config.mode);
    // Each manager gives 6 connections (Qt 6.4). Injected timeouts hold a connection for the whole
    // client timeout, so size for them too, or the client — not the server — becomes the bottleneck.
    const double heldConnections
        = peakPerSecond * (m_config.timeoutRate * m_config.clientTimeoutMs / 1000.0 + 0.01) * 2.0;
    const auto wanted
        = std::clamp<size_t>(std::max(static_cast<size_t>(std::ceil(peakPerSecond / kEventsPerSecondPerManager)),
                                 static_cast<size_t>(std::ceil(heldConnections / 6.0))),
            1, kMaxManagers);
    // Grow only: shrinking would abort requests still on the wire.
    while (m_pool.size() < wanted)
        m_pool.push_back(new QNetworkAccessManager(this));
    // In flight ≈ rate × time in flight; cap at what a healthy target needs for the timeout.
    const double holdSeconds = std::max(2.0, m_timeoutMs / 1000.0);
    m_inFlightCap
        = std::max<qsizetype>(kMinInFlightCap, static_cast<qsizetype>(std::ceil(peakPerSecond * holdSeconds)));
}

void Simulator::applyStart(const SimConfig &requested)
{
    const qint64 now = steadyNowNs();
    QUrl base;
    {
        QMutexLocker lock(&m_mutex);
        base = requested.target.isEmpty() ? m_defaultTarget : requested.target;
        m_authorization = requested.target.isEmpty() && !m_defaultToken.isEmpty()
            ? QByteArrayLiteral("Bearer ") + m_defaultToken
            : QByteArray();
    }
    if (!base.isValid() || base.isEmpty()) {
        logging::warning("simulator_no_target",
            {{QStringLiteral("message"), QStringLiteral("no target URL and no default target set")}});
        return;
    }
    m_url = ingestUrlFor(base);
    m_timeoutMs = requested.clientTimeoutMs;

    if (isRunning()) {
        // Live change: the schedule is re-anchored now, counters and the seed stay.
        SimMode oldMode;
        {
            QMutexLocker lock(&m_mutex);
            oldMode = m_config.mode;
            const quint64 seed = m_config.seed;
            const bool seedGiven = m_config.seedGiven;
            m_config = requested;
            m_config.seed = seed;
            m_config.seedGiven = seedGiven;
            m_schedule->change(requested.mode, requested.ratePerMin, runSecondsLocked(now));
        }
        ensurePool();
        logging::info("simulator_reconfigured",
            {{QStringLiteral("rate"), requested.ratePerMin}, {QStringLiteral("mode"), simModeName(requested.mode)},
                {QStringLiteral("previous_mode"), simModeName(oldMode)}});
        return;
    }

    // A new run. Whatever the previous run still has in flight ends now (counted failed there).
    abandonAll();
    finishDrainIfIdle();

    {
        QMutexLocker lock(&m_mutex);
        m_config = requested;
        // A run id that is random even for a seeded run: a replay against the same server must not
        // collide with the first run's idempotency keys.
        m_runId = QByteArray::number(QRandomGenerator::system()->generate(), 16).rightJustified(8, '0');
        m_seed = requested.seedGiven ? requested.seed : (QRandomGenerator::system()->generate64() & kMaxSeed);
        m_config.seed = m_seed;
        m_schedule.emplace(requested.mode, requested.ratePerMin, m_seed);
        m_stats = Stats {};
        m_everStarted = true;
        m_startWallMs = wallNowMs();
        m_startNs = now;
        m_stopNs = 0;
        m_latencyRing.clear();
        m_latencyRing.emplace_back(0, m_latency.snapshot());
        m_running.store(true, std::memory_order_release);
    }
    m_nextSeq = 1;
    m_timeouts = {};
    m_retries = {};
    m_malformedRotation = 0;
    m_pendingRateLimitLogs = m_pendingTimeoutLogs = 0;
    m_lastRateLimitLogNs = m_lastTimeoutLogNs = 0;
    ensurePool();
    logging::info("simulator_started",
        {{QStringLiteral("rate"), requested.ratePerMin}, {QStringLiteral("mode"), simModeName(requested.mode)},
            {QStringLiteral("seed"), static_cast<double>(m_seed)}, {QStringLiteral("target"), m_url.toString()},
            {QStringLiteral("run_id"), QString::fromLatin1(m_runId)}});
    emit runningChanged(true);
    m_tick.start(0);
}

qint64 Simulator::drainBudgetNs() const
{
    // An attempt sent just before the stop may time out, then needs a backoff and one more answer.
    return (2 * static_cast<qint64>(m_timeoutMs) + 1000) * kNsPerMs;
}

void Simulator::beginStop(qint64 drainDeadlineNs)
{
    const qint64 now = steadyNowNs();
    {
        QMutexLocker lock(&m_mutex);
        if (!m_running.load())
            return;
        m_running.store(false, std::memory_order_release);
        m_stopNs = now;
        m_latencyRing.emplace_back(static_cast<qint64>(runSecondsLocked(now)) + 1, m_latency.snapshot());
        while (m_latencyRing.size() > 2
            && m_latencyRing.front().first < m_latencyRing.back().first - kLatencyWindowSeconds)
            m_latencyRing.pop_front();
    }
    // No new events from now on; events already generated may still finish their retries until
    // the deadline, after which whatever is left is aborted and counted failed.
    m_draining = true;
    m_drainDeadlineNs = drainDeadlineNs;
    emit runningChanged(false);
    if (!m_tick.isActive())
        m_tick.start(0);
}

void Simulator::abandonAll()
{
    const qint64 now = steadyNowNs();
    std::vector<quint64> seqs;
    seqs.reserve(m_events.size());
    for (auto &[seq, event] : m_events) {
        seqs.push_back(seq);
        if (QNetworkReply *reply = std::exchange(event.reply, nullptr)) {
            QObject::disconnect(reply, nullptr, this, nullptr);
            reply->abort();
            reply->deleteLater();
            --m_activeRequests;
        }
    }
    for (quint64 seq : seqs)
        finish(seq, Outcome::Failed, now);
    m_timeouts = {};
    m_retries = {};
}

void Simulator::finishDrainIfIdle()
{
    if (!m_draining || !m_events.empty())
        return;
    m_draining = false;
    m_tick.stop();
    flushSampledLogs(steadyNowNs(), true);
    QJsonObject fields;
    {
        QMutexLocker lock(&m_mutex);
        fields = {{QStringLiteral("runtime_seconds"), static_cast<qint64>(runSecondsLocked(m_stopNs))},
            {QStringLiteral("events_generated"), static_cast<qint64>(m_stats.generated)},
            {QStringLiteral("events_succeeded"), static_cast<qint64>(m_stats.succeeded)},
            {QStringLiteral("events_failed"), static_cast<qint64>(m_stats.failed)},
            {QStringLiteral("events_dropped"), static_cast<qint64>(m_stats.dropped)},
            {QStringLiteral("run_id"), QString::fromLatin1(m_runId)}};
    }
    logging::info("simulator_stopped", fields);
    const auto waiters = std::exchange(m_stopWaiters, {});
    if (!waiters.empty()) {
        const QJsonObject s = status();
        for (const auto &done : waiters)
            done(s);
    }
}

void Simulator::onTick()
{
    const qint64 now = steadyNowNs();

    // Client timeouts (one heap for all requests, never a timer per request).
    while (!m_timeouts.empty() && m_timeouts.top().atNs <= now) {
        const Due due = m_timeouts.top();
        m_timeouts.pop();
        const auto it = m_events.find(due.seq);
        if (it != m_events.end() && it->second.reply && it->second.attemptId == due.id)
            onTimedOut(it->second, now);
    }
    // Retries whose backoff has passed.
    while (!m_retries.empty() && m_retries.top().atNs <= now) {
        const Due due = m_retries.top();
        m_retries.pop();
        const auto it = m_events.find(due.seq);
        if (it == m_events.end() || it->second.reply)
            continue;
        {
            QMutexLocker lock(&m_mutex);
            ++m_stats.retried;
        }
        sendAttempt(it->second, now);
    }

    double runSeconds = 0;
    if (isRunning()) {
        runSeconds = nsToSeconds(now - m_startNs);
        generateUpTo(runSeconds, now);
        const double duration = m_config.durationSeconds;
        if (duration > 0 && runSeconds >= duration)
            beginStop(now + drainBudgetNs());
        else {
            // One latency snapshot per run second: status() reads the last ~10 s as a difference.
            QMutexLocker lock(&m_mutex);
            const auto second = static_cast<qint64>(runSeconds);
            if (m_latencyRing.empty() || m_latencyRing.back().first < second) {
                m_latencyRing.emplace_back(second, m_latency.snapshot());
                while (m_latencyRing.front().first < second - kLatencyWindowSeconds)
                    m_latencyRing.pop_front();
            }
        }
    }
    if (m_draining && now >= m_drainDeadlineNs)
        abandonAll();
    flushSampledLogs(now, false);
    finishDrainIfIdle();

    if (!isRunning() && !m_draining)
        return;
    // Sleep until the next thing is due: the next event, a timeout or a retry (1–5 ms).
    qint64 nextNs = now + kMaxTickMs * kNsPerMs;
    if (isRunning())
        nextNs = std::min(nextNs, m_startNs + static_cast<qint64>(m_schedule->timeOfCount(double(m_nextSeq)) * 1e9));
    if (!m_timeouts.empty())
        nextNs = std::min(nextNs, m_timeouts.top().atNs);
    if (!m_retries.empty())
        nextNs = std::min(nextNs, m_retries.top().atNs);
    const auto waitMs = std::clamp<qint64>((nextNs - steadyNowNs() + kNsPerMs - 1) / kNsPerMs, 1, kMaxTickMs);
    m_tick.start(static_cast<int>(waitMs));
}

void Simulator::generateUpTo(double tSeconds, qint64 nowNs)
{
    const double duration = m_config.durationSeconds;
    const double end = duration > 0 ? std::min(tSeconds, duration) : tSeconds;
    // m_schedule is only changed on this thread (under the mutex), so reading it here needs no lock.
    const auto due = static_cast<quint64>(std::floor(m_schedule->expectedCount(end) + 1e-9));
    if (due < m_nextSeq)
        return;
    // Events due more than a second ago cannot be sent on time any more (the thread was stalled):
    // count them dropped in bulk instead of sending a burst that would distort the target's load.
    const auto late = static_cast<quint64>(std::floor(m_schedule->expectedCount(tSeconds - kLateSeconds)));
    if (late >= m_nextSeq) {
        const quint64 n = std::min(late, due) - m_nextSeq + 1;
        {
            QMutexLocker lock(&m_mutex);
            m_stats.generated += n;
            m_stats.dropped += n;
        }
        m_droppedTotal.inc(n);
        m_nextSeq += n;
    }
    for (; m_nextSeq <= due; ++m_nextSeq) {
        const double scheduled = m_schedule->timeOfCount(double(m_nextSeq));
        dispatchNew(m_nextSeq, scheduled, nowNs);
    }
}

Simulator::Event Simulator::makeEvent(quint64 seq, double scheduledT)
{
    // Everything about event n depends on (seed, n) only, so a seeded run is reproducible even if
    // some events are dropped.
    std::uint64_t state = m_seed ^ (seq * 0xD1B54A32D192ED03ULL);
    Prng rng(Prng::splitMix64(state));

    Event e;
    e.seq = seq;
    e.scheduledNs = m_startNs + static_cast<qint64>(scheduledT * 1e9);
    const double u = rng.uniform();
    if (u < m_config.failureRate)
        e.fault = Fault::Error;
    else if (u < m_config.failureRate + m_config.timeoutRate)
        e.fault = Fault::Timeout;
    else if (u < m_config.failureRate + m_config.timeoutRate + m_config.malformedRate)
        e.fault = Fault::Malformed;

    const QStringList &names = m_config.metrics.isEmpty() ? defaultMetrics() : m_config.metrics;
    const QString name = names.at(static_cast<qsizetype>(rng.below(static_cast<std::uint64_t>(names.size()))));
    e.metricName = name.toUtf8();
    double value = rng.uniform(0, 100);
    for (const MetricProfile &p : kProfiles) {
        if (name == QLatin1String(p.name)) {
            value = rng.chance(kThresholdExceedShare) ? rng.uniform(p.exceedLo, p.exceedHi)
                                                      : rng.uniform(p.normalLo, p.normalHi);
            break;
        }
    }
    const QByteArray valueText = QByteArray::number(value, 'f', 2);
    const QByteArray source = sourceName(rng.below(static_cast<std::uint64_t>(std::max(1, m_config.sources)))).toUtf8();
    const QByteArray key = "sim-" + m_runId + '-' + QByteArray::number(seq);
    const QByteArray labels = R"({"env":"sim","run":")" + m_runId + "\"}";
    const QByteArray tail
        = R"(,"source":")" + source + R"(","labels":)" + labels + R"(,"idempotency_key":")" + key + '"';

    // Built by hand: faster than QJsonDocument at high rates, and the malformed variants need bytes
    // no JSON serialiser would write.
    if (e.fault != Fault::Malformed) {
        e.body = R"({"metric_name":")" + e.metricName + R"(","value":)" + valueText + tail + '}';
        return e;
    }
    switch (m_malformedRotation++ % 6) {
    case 0: // broken JSON: the object is never closed
        e.body = R"({"metric_name":")" + e.metricName + R"(","value":)" + valueText + tail;
        break;
    case 1: // wrong type: value as a string
        e.body = R"({"metric_name":")" + e.metricName + R"(","value":")" + valueText + '"' + tail + '}';
        break;
    case 2: // missing field
        e.body = R"({"value":)" + valueText + tail + '}';
        break;
    case 3: // out of range: not representable as a finite double
        e.body = R"({"metric_name":")" + e.metricName + R"(","value":1e400)" + tail + '}';
        break;
    case 4: // unknown field
        e.body
            = R"({"metric_name":")" + e.metricName + R"(","value":)" + valueText + R"(,"colour":"blue")" + tail + '}';
        break;
    default: // metric_name longer than 128 characters
        e.body = R"({"metric_name":")" + QByteArray(200, 'x') + R"(","value":)" + valueText + tail + '}';
        break;
    }
    return e;
}

void Simulator::dispatchNew(quint64 seq, double scheduledT, qint64 nowNs)
{
    const bool late = nsToSeconds(nowNs - m_startNs) - scheduledT > kLateSeconds;
    if (late || m_activeRequests >= m_inFlightCap) {
        // Not sent on time (or the client is saturated): an outcome of its own, never a silent skip.
        {
            QMutexLocker lock(&m_mutex);
            ++m_stats.generated;
            ++m_stats.dropped;
        }
        m_droppedTotal.inc();
        return;
    }
    Event e = makeEvent(seq, scheduledT);
    {
        QMutexLocker lock(&m_mutex);
        ++m_stats.generated;
        ++m_stats.sent;
        if (e.fault == Fault::Malformed)
            ++m_stats.malformed;
        const auto second = static_cast<qint64>(scheduledT);
        auto &slot = m_stats.sentPerSecond[static_cast<size_t>(second) % m_stats.sentPerSecond.size()];
        if (slot.first != second)
            slot = {second, 0};
        ++slot.second;
    }
    Event &stored = m_events.emplace(seq, std::move(e)).first->second;
    sendAttempt(stored, nowNs);
}

void Simulator::sendAttempt(Event &event, qint64 nowNs)
{
    QNetworkRequest request(m_url);
    request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
    request.setRawHeader("User-Agent", QByteArrayLiteral("vigil-simulator/" VIGIL_VERSION));
    if (!m_authorization.isEmpty())
        request.setRawHeader("Authorization", m_authorization);
    // Markers on the first attempt only, so the retry shows the recovery path.
    if (event.attempt == 0 && event.fault == Fault::Error)
        request.setRawHeader("X-Vigil-Fault", "error");
    else if (event.attempt == 0 && event.fault == Fault::Timeout)
        request.setRawHeader("X-Vigil-Fault", "delay=" + QByteArray::number(m_timeoutMs + 1000));

    QNetworkAccessManager *manager = m_pool[m_nextManager++ % m_pool.size()];
    QNetworkReply *reply = manager->post(request, event.body);
    ++event.attempt;
    event.attemptId = m_nextAttemptId++;
    event.reply = reply;
    ++m_activeRequests;
    m_timeouts.push(Due {nowNs + static_cast<qint64>(m_timeoutMs) * kNsPerMs, event.attemptId, event.seq});
    connect(reply, &QNetworkReply::finished, this, [this, seq = event.seq, reply] { onReplyFinished(seq, reply); });
}

void Simulator::onReplyFinished(quint64 seq, QNetworkReply *reply)
{
    reply->deleteLater();
    const auto it = m_events.find(seq);
    if (it == m_events.end() || it->second.reply != reply)
        return; // an attempt we already gave up on
    Event &e = it->second;
    e.reply = nullptr;
    --m_activeRequests;
    const qint64 now = steadyNowNs();
    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();

    const bool markerSent = e.attempt == 1 && (e.fault == Fault::Error || e.fault == Fault::Timeout);
    if (markerSent && status >= 200 && status < 300 && !reply->hasRawHeader("X-Vigil-Injected")) {
        // A fault-marked request accepted without the injected marker: the target ignores markers.
        // (A 429/503 or a real 5xx may come before the fault hook runs, so they prove nothing.)
        QMutexLocker lock(&m_mutex);
        m_stats.faultsHonoured = false;
    }

    if (status == 429 || status == 503) {
        {
            QMutexLocker lock(&m_mutex);
            ++m_stats.rateLimited;
        }
        ++m_pendingRateLimitLogs;
        m_lastRateLimitStatus = status;
        flushSampledLogs(now, false);
        bool ok = false;
        const int retryAfter = reply->rawHeader("Retry-After").trimmed().toInt(&ok);
        retryOrFail(e, now, ok && retryAfter >= 0 ? std::min<double>(retryAfter, kMaxRetryAfterSeconds) : 0, true);
    } else if (status == 0 || status >= 500) {
        retryOrFail(e, now, 0); // network error or server error (an injected 500 included)
    } else if (e.fault == Fault::Malformed) {
        finish(seq, status == 400 ? Outcome::Succeeded : Outcome::Failed, now);
    } else {
        finish(seq, status >= 200 && status < 300 ? Outcome::Succeeded : Outcome::Failed, now);
    }
    finishDrainIfIdle();
}

void Simulator::onTimedOut(Event &event, qint64 nowNs)
{
    QNetworkReply *reply = std::exchange(event.reply, nullptr);
    QObject::disconnect(reply, nullptr, this, nullptr);
    reply->abort();
    reply->deleteLater();
    --m_activeRequests;
    {
        QMutexLocker lock(&m_mutex);
        ++m_stats.timeouts;
    }
    ++m_pendingTimeoutLogs;
    m_lastTimeoutMetric = event.metricName;
    flushSampledLogs(nowNs, false);
    // Retried with the same idempotency key: the target answers 200 with the first id.
    retryOrFail(event, nowNs, 0);
}

void Simulator::retryOrFail(Event &event, qint64 nowNs, double minDelaySeconds, bool busy)
{
    const double u = Prng::hashUniform(m_seed ^ 0x7265747279ULL, event.seq * 16 + event.attempt);
    double delay = 0;
    if (busy) {
        const double backoff = std::min(
            kBusyBackoffCapSeconds, kBusyBackoffBaseSeconds * std::ldexp(1.0, std::min(event.attempt, 16) - 1));
        delay = std::max(minDelaySeconds, backoff) * (1.0 + 0.5 * u);
    } else {
        delay = std::max(minDelaySeconds, kBackoffBaseSeconds * std::ldexp(1.0, event.attempt - 1) * (0.8 + 0.4 * u));
    }
    const qint64 dueNs = nowNs + static_cast<qint64>(delay * 1e9);
    // While stopping, a retry is only worth it if it can still be sent before the drain deadline.
    const bool allowed = isRunning() || (m_draining && dueNs < m_drainDeadlineNs);
    const bool exhausted = busy ? event.attempt > kMaxBusyRetries
            || nsToSeconds(dueNs - event.scheduledNs) > kBusyBudgetSeconds || m_retries.size() >= kMaxPendingRetries
                                : event.attempt > kMaxRetries;
    if (!allowed || exhausted) {
        finish(event.seq, Outcome::Failed, nowNs);
        return;
    }
    m_retries.push(Due {dueNs, 0, event.seq});
}

void Simulator::finish(quint64 seq, Outcome outcome, qint64 nowNs)
{
    const auto it = m_events.find(seq);
    if (it == m_events.end())
        return;
    m_latency.observe(std::max(0.0, nsToSeconds(nowNs - it->second.scheduledNs)));
    m_events.erase(it);
    {
        QMutexLocker lock(&m_mutex);
        (outcome == Outcome::Succeeded       ? m_stats.succeeded
                : outcome == Outcome::Failed ? m_stats.failed
                                             : m_stats.dropped)++;
    }
    (outcome == Outcome::Succeeded       ? m_succeededTotal
            : outcome == Outcome::Failed ? m_failedTotal
                                         : m_droppedTotal)
        .inc();
}

void Simulator::flushSampledLogs(qint64 nowNs, bool force)
{
    if (m_pendingRateLimitLogs > 0 && (force || nowNs - m_lastRateLimitLogNs >= kNsPerSecond)) {
        logging::info("simulator_rate_limited",
            {{QStringLiteral("status"), m_lastRateLimitStatus},
                {QStringLiteral("count"), static_cast<qint64>(m_pendingRateLimitLogs)}});
        m_pendingRateLimitLogs = 0;
        m_lastRateLimitLogNs = nowNs;
    }
    if (m_pendingTimeoutLogs > 0 && (force || nowNs - m_lastTimeoutLogNs >= kNsPerSecond)) {
        logging::info("simulator_timeout",
            {{QStringLiteral("metric_name"), QString::fromUtf8(m_lastTimeoutMetric)},
                {QStringLiteral("count"), static_cast<qint64>(m_pendingTimeoutLogs)}});
        m_pendingTimeoutLogs = 0;
        m_lastTimeoutLogNs = nowNs;
    }
}

// --- status (any thread) ----------------------------------------------------------------------

double Simulator::runSecondsLocked(qint64 nowNs) const
{
    if (!m_everStarted)
        return 0;
    const qint64 end = m_running.load() ? nowNs : m_stopNs;
    return std::max(0.0, nsToSeconds(end - m_startNs));
}

QJsonObject Simulator::status() const
{
    QMutexLocker lock(&m_mutex);
    return statusLocked(steadyNowNs());
}

QJsonObject Simulator::statusLocked(qint64 nowNs) const
{
    const bool running = m_running.load();
    const double t = runSecondsLocked(nowNs);
    const Stats &s = m_stats;

    const QUrl base = m_config.target.isEmpty() ? m_defaultTarget : m_config.target;
    QJsonArray metrics;
    for (const QString &name : m_config.metrics.isEmpty() ? defaultMetrics() : m_config.metrics)
        metrics.append(name);
    const QJsonObject configuration {
        {QStringLiteral("target_rate"), m_config.ratePerMin},
        {QStringLiteral("mode"), simModeName(m_config.mode)},
        {QStringLiteral("failure_rate"), m_config.failureRate},
        {QStringLiteral("timeout_rate"), m_config.timeoutRate},
        {QStringLiteral("malformed_rate"), m_config.malformedRate},
        {QStringLiteral("seed"),
            m_everStarted || m_config.seedGiven ? QJsonValue(static_cast<double>(m_config.seed)) : QJsonValue()},
        // false: drawn at random for this run (pass it as seed= to replay the run).
        {QStringLiteral("seed_given"), m_config.seedGiven},
        {QStringLiteral("target"), base.isEmpty() ? QJsonValue() : QJsonValue(base.toString())},
        {QStringLiteral("duration_seconds"), m_config.durationSeconds},
        {QStringLiteral("client_timeout_ms"), m_config.clientTimeoutMs},
        {QStringLiteral("metrics"), metrics},
        {QStringLiteral("sources"), m_config.sources},
    };

    // Sent per minute over the last 60 s (or the whole run while it is shorter).
    double actualRate = 0;
    if (t > 1e-3) {
        const auto current = static_cast<qint64>(t);
        const qint64 windowStart = std::max<qint64>(0, current - 59);
        quint64 sentInWindow = 0;
        for (const auto &[second, count] : s.sentPerSecond)
            if (count > 0 && second >= windowStart && second <= current)
                sentInWindow += count;
        const double span = t - static_cast<double>(windowStart);
        if (span > 1e-3)
            actualRate = static_cast<double>(sentInWindow) / span * 60.0;
    }
    const double averageRate = t > 1e-3 ? static_cast<double>(s.sent) / t * 60.0 : 0;
    // Safe beside the simulator thread: targetRatePerMin reads only the segments, which change
    // under m_mutex, never the chaos cache that expectedCount grows.
    const double targetRate = running && m_schedule ? m_schedule->targetRatePerMin(t) : 0;
    const quint64 decided = s.succeeded + s.failed;
    const double successRate = decided ? 100.0 * static_cast<double>(s.succeeded) / static_cast<double>(decided) : 0;

    const Histogram::Snapshot window
        = m_latency.snapshot() - (m_latencyRing.empty() ? Histogram::Snapshot {} : m_latencyRing.front().second);
    const QJsonObject latency {{QStringLiteral("p50"), round2(window.quantile(0.50) * 1000)},
        {QStringLiteral("p95"), round2(window.quantile(0.95) * 1000)},
        {QStringLiteral("p99"), round2(window.quantile(0.99) * 1000)}};

    const auto n = [](quint64 v) { return QJsonValue(static_cast<qint64>(v)); };
    const QJsonObject metricsObject {
        {QStringLiteral("events_generated"), n(s.generated)},
        {QStringLiteral("events_succeeded"), n(s.succeeded)},
        {QStringLiteral("events_failed"), n(s.failed)},
        {QStringLiteral("events_rate_limited"), n(s.rateLimited)},
        {QStringLiteral("events_timeout"), n(s.timeouts)},
        {QStringLiteral("events_malformed"), n(s.malformed)},
        {QStringLiteral("actual_rate"), round2(actualRate)},
        {QStringLiteral("events_dropped"), n(s.dropped)},
        // By construction, so every snapshot reconciles.
        {QStringLiteral("events_in_flight"), n(s.generated - s.succeeded - s.failed - s.dropped)},
        {QStringLiteral("events_retried"), n(s.retried)},
        {QStringLiteral("average_rate"), round2(averageRate)},
        {QStringLiteral("current_target_rate"), round2(targetRate)},
        {QStringLiteral("success_rate"), round2(successRate)},
        {QStringLiteral("latency_ms"), latency},
        {QStringLiteral("faults_honoured"), s.faultsHonoured},
    };

    const QJsonObject simulator {
        {QStringLiteral("running"), running},
        {QStringLiteral("started_at"), m_everStarted ? QJsonValue(isoUtc(m_startWallMs)) : QJsonValue()},
        {QStringLiteral("runtime_seconds"), static_cast<qint64>(t)},
        {QStringLiteral("run_id"), m_everStarted ? QJsonValue(QString::fromLatin1(m_runId)) : QJsonValue()},
        {QStringLiteral("configuration"), configuration},
        {QStringLiteral("metrics"), metricsObject},
    };
    return QJsonObject {{QStringLiteral("ok"), true}, {QStringLiteral("timestamp"), isoUtc(wallNowMs())},
        {QStringLiteral("simulator"), simulator}};
}

} // namespace vigil
