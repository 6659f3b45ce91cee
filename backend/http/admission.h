#pragma once

#include "config.h"
#include "httptypes.h"

#include <QByteArray>
#include <QHash>
#include <QHostAddress>
#include <QMutex>

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <optional>

namespace vigil {

class Counter;
class MetricsRegistry;

// Route classes for limits and auth, decided by method and path only, so routes added later
// (batch ingest, dead letters, pause/resume…) fall into the right class without a list to update.
enum class RouteClass {
    Open, // /healthz, /readyz: probes; never limited, never need a token
    Ingest, // POST /api/v1/ingest and POST /api/v1/ingest/…
    Query, // any other GET/HEAD
    Control, // any other method (POST/PUT/PATCH/DELETE/…): a mutation
};
RouteClass classifyRoute(const QByteArray &method, const QString &path);
QByteArray routeClassName(RouteClass routeClass);

// The arithmetic of one token bucket; pure (the caller passes the clock), so it is unit-tested.
// A bucket starts full. Tokens refill continuously at limit.perSecond up to limit.burst; a request
// takes one whole token.
class TokenBucket final
{
public:
    struct Result
    {
        bool allowed = false;
        double remaining = 0; // tokens left after this request
        double retryAfterSeconds = 0; // refused: until one whole token is back
        double resetSeconds = 0; // until the bucket is full again
    };

    TokenBucket() = default;
    TokenBucket(const RateLimit &limit, qint64 nowNs)
        : m_tokens(limit.burst)
        , m_lastNs(nowNs)
    { }

    Result take(const RateLimit &limit, qint64 nowNs);
    // Tokens available at nowNs (refill applied, nothing taken).
    double available(const RateLimit &limit, qint64 nowNs) const;
    // A full bucket behaves exactly like a fresh one: it can be forgotten without changing anything.
    bool isFull(const RateLimit &limit, qint64 nowNs) const { return available(limit, nowNs) >= limit.burst; }
    qint64 lastUsedNs() const { return m_lastNs; }

private:
    double m_tokens = 0;
    qint64 m_lastNs = 0;
};

// Token buckets per (client address, route class); thread-safe (sharded locks). IPv4 clients are
// keyed by address, IPv6 clients by their /64 (one host usually owns a whole /64). The table is
// bounded: buckets that have refilled are dropped once a second, and when a shard is full the
// least recently used bucket goes first.
class RateLimiter final
{
    Q_DISABLE_COPY_MOVE(RateLimiter)
public:
    explicit RateLimiter(const LimitsConfig &config);

    struct Decision
    {
        bool limited = false; // false: no limit for this class (no headers)
        bool allowed = true;
        int limit = 0; // RateLimit-Limit: the burst
        int remaining = 0; // RateLimit-Remaining
        int resetSeconds = 0; // RateLimit-Reset: until the bucket is full again
        int retryAfterSeconds = 0; // Retry-After when refused (≥ 1)
    };
    Decision take(RouteClass routeClass, const QHostAddress &client, qint64 nowNs);
    const RateLimit &limitFor(RouteClass routeClass) const;
    qsizetype trackedBuckets() const;
    // Drops every bucket that has refilled (done lazily once a second per shard; public for tests).
    void sweep(qint64 nowNs);

    static QByteArray clientKey(const QHostAddress &client);

private:
    static constexpr int kShards = 16;
    struct Entry
    {
        TokenBucket bucket;
        RouteClass routeClass = RouteClass::Query;
    };
    struct Shard
    {
        mutable QMutex mutex;
        QHash<QByteArray, Entry> buckets;
        qint64 lastSweepNs = 0;
    };
    void sweepLocked(Shard &shard, qint64 nowNs);

    LimitsConfig m_config;
    qsizetype m_perShardCap = 1;
    std::array<Shard, kShards> m_shards;
};

// The admission check every request passes before its handler (called by the HTTP lane):
// rate limit (429), then authentication (401/403), then ingest backpressure (503). Thread-safe.
class Admission final
{
    Q_DISABLE_COPY_MOVE(Admission)
public:
    // How full the queue is: ready tasks (due now) and how fast workers take them (per second).
    struct QueueProbe
    {
        std::function<qint64()> readyTasks;
        std::function<double()> drainPerSecond;
    };
    Admission(const ServerConfig &config, MetricsRegistry &metrics, QueueProbe probe);
    ~Admission();

    struct Verdict
    {
        std::optional<HttpResponse> refusal; // set: answer this instead of running the handler
        HeaderList headers; // added to the eventual answer (RateLimit-*)
        QString principal = QStringLiteral("anonymous");
    };
    // endpoint: the matched route template ("other" when nothing matched); routed: a handler exists.
    // Unrouted requests (404/405) are not rate limited but still need a token when tokens are set.
    Verdict admit(const HttpRequest &request, const QByteArray &endpoint, bool routed);

    bool backpressureActive() const { return m_backpressure.load(); }
    RateLimiter &limiter() { return m_limiter; }

private:
    enum class Presented { None, Malformed, Unknown, Viewer, Operator };
    Presented identify(const QByteArray &authorization) const;
    std::optional<HttpResponse> authorize(
        const HttpRequest &request, RouteClass routeClass, QString *principal) const;
    bool backpressureNow();

    ServerConfig m_config;
    MetricsRegistry &m_metrics;
    QueueProbe m_probe;
    RateLimiter m_limiter;
    QByteArray m_viewerDigest; // SHA-256 of the tokens: compared in constant time
    QByteArray m_operatorDigest;
    std::atomic<bool> m_backpressure {false};
    Counter *m_backpressureTotal = nullptr;
    Counter *m_rejectedRateLimited = nullptr;
    Counter *m_rejectedBackpressure = nullptr;
};

// Constant-time equality of two byte strings of the same length (false if lengths differ).
bool constantTimeEquals(const QByteArray &a, const QByteArray &b);

} // namespace vigil
