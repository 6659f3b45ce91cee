#include "admission.h"

#include "logger.h"
#include "metrics.h"
#include "util.h"

#include <QCryptographicHash>

#include <algorithm>
#include <cmath>

namespace vigil {

namespace {
constexpr qint64 kNsPerSecond = 1'000'000'000;
constexpr int kMaxBackpressureRetryAfter = 30;

QByteArray sha256(const QByteArray &data)
{
    return QCryptographicHash::hash(data, QCryptographicHash::Sha256);
}

int ceilSeconds(double seconds)
{
    // 1e-9 absorbs rounding noise (0.50000000001 s of wait is 1 s, not 2).
    return int(std::min(1e9, std::ceil(std::max(0.0, seconds) - 1e-9)));
}

QString describeLimit(const RateLimit &limit)
{
    return QStringLiteral("%1 per second, bursts of %2").arg(limit.perSecond).arg(limit.burst);
}
} // namespace

RouteClass classifyRoute(const QByteArray &method, const QString &path)
{
    if (path == QLatin1String("/healthz") || path == QLatin1String("/readyz"))
        return RouteClass::Open;
    if (method == "GET" || method == "HEAD")
        return RouteClass::Query;
    if (method == "POST" && (path == QLatin1String("/api/v1/ingest") || path.startsWith(QLatin1String("/api/v1/ingest/"))))
        return RouteClass::Ingest;
    return RouteClass::Control;
}

QByteArray routeClassName(RouteClass routeClass)
{
    switch (routeClass) {
    case RouteClass::Open:
        return "open";
    case RouteClass::Ingest:
        return "ingest";
    case RouteClass::Query:
        return "query";
    case RouteClass::Control:
        return "control";
    }
    return "control";
}

bool constantTimeEquals(const QByteArray &a, const QByteArray &b)
{
    if (a.size() != b.size())
        return false;
    unsigned char diff = 0;
    for (qsizetype i = 0; i < a.size(); ++i)
        diff |= static_cast<unsigned char>(a.at(i) ^ b.at(i));
    return diff == 0;
}

// --- TokenBucket ---------------------------------------------------------------------------

double TokenBucket::available(const RateLimit &limit, qint64 nowNs) const
{
    const double elapsed = double(std::max<qint64>(0, nowNs - m_lastNs)) / double(kNsPerSecond);
    return std::min(limit.burst, m_tokens + elapsed * limit.perSecond);
}

TokenBucket::Result TokenBucket::take(const RateLimit &limit, qint64 nowNs)
{
    m_tokens = available(limit, nowNs);
    m_lastNs = std::max(m_lastNs, nowNs); // callers on several threads may pass a slightly older clock
    Result r;
    if (m_tokens >= 1.0) {
        m_tokens -= 1.0;
        r.allowed = true;
    } else {
        r.retryAfterSeconds = (1.0 - m_tokens) / limit.perSecond;
    }
    r.remaining = m_tokens;
    r.resetSeconds = (limit.burst - m_tokens) / limit.perSecond;
    return r;
}

// --- RateLimiter ---------------------------------------------------------------------------

RateLimiter::RateLimiter(const LimitsConfig &config)
    : m_config(config)
    , m_perShardCap(std::max<qsizetype>(1, config.maxTrackedClients / kShards))
{ }

const RateLimit &RateLimiter::limitFor(RouteClass routeClass) const
{
    static const RateLimit none;
    switch (routeClass) {
    case RouteClass::Ingest:
        return m_config.ingest;
    case RouteClass::Query:
        return m_config.query;
    case RouteClass::Control:
        return m_config.control;
    case RouteClass::Open:
        break;
    }
    return none;
}

QByteArray RateLimiter::clientKey(const QHostAddress &client)
{
    bool isV4 = false;
    const quint32 v4 = client.toIPv4Address(&isV4); // also for ::ffff:a.b.c.d
    if (isV4) {
        QByteArray key(4, '\0');
        for (int i = 0; i < 4; ++i)
            key[i] = char((v4 >> (24 - 8 * i)) & 0xff);
        return key;
    }
    const Q_IPV6ADDR v6 = client.toIPv6Address();
    return QByteArray(reinterpret_cast<const char *>(v6.c), 8); // the /64
}

RateLimiter::Decision RateLimiter::take(RouteClass routeClass, const QHostAddress &client, qint64 nowNs)
{
    Decision d;
    const RateLimit &limit = limitFor(routeClass);
    if (!limit.enabled())
        return d;
    d.limited = true;
    const QByteArray key = char(routeClass) + clientKey(client);
    Shard &shard = m_shards[qHash(key) % kShards];
    TokenBucket::Result r;
    {
        QMutexLocker lock(&shard.mutex);
        if (nowNs - shard.lastSweepNs >= kNsPerSecond)
            sweepLocked(shard, nowNs);
        auto it = shard.buckets.find(key);
        if (it == shard.buckets.end()) {
            if (shard.buckets.size() >= m_perShardCap)
                sweepLocked(shard, nowNs);
            if (shard.buckets.size() >= m_perShardCap) {
                // Still full of busy clients: forget the one seen longest ago.
                auto oldest = std::min_element(shard.buckets.begin(), shard.buckets.end(),
                    [](const Entry &a, const Entry &b) { return a.bucket.lastUsedNs() < b.bucket.lastUsedNs(); });
                shard.buckets.erase(oldest);
            }
            it = shard.buckets.insert(key, Entry {TokenBucket(limit, nowNs), routeClass});
        }
        r = it->bucket.take(limit, nowNs);
    }
    d.allowed = r.allowed;
    d.limit = int(limit.burst);
    d.remaining = int(std::floor(r.remaining + 1e-9));
    d.resetSeconds = ceilSeconds(r.resetSeconds);
    d.retryAfterSeconds = r.allowed ? 0 : std::max(1, ceilSeconds(r.retryAfterSeconds));
    return d;
}

void RateLimiter::sweepLocked(Shard &shard, qint64 nowNs)
{
    shard.lastSweepNs = nowNs;
    for (auto it = shard.buckets.begin(); it != shard.buckets.end();) {
        if (it->bucket.isFull(limitFor(it->routeClass), nowNs))
            it = shard.buckets.erase(it);
        else
            ++it;
    }
}

void RateLimiter::sweep(qint64 nowNs)
{
    for (Shard &shard : m_shards) {
        QMutexLocker lock(&shard.mutex);
        sweepLocked(shard, nowNs);
    }
}

qsizetype RateLimiter::trackedBuckets() const
{
    qsizetype n = 0;
    for (const Shard &shard : m_shards) {
        QMutexLocker lock(&shard.mutex);
        n += shard.buckets.size();
    }
    return n;
}

// --- Admission -----------------------------------------------------------------------------

Admission::Admission(const ServerConfig &config, MetricsRegistry &metrics, QueueProbe probe)
    : m_config(config)
    , m_metrics(metrics)
    , m_probe(std::move(probe))
    , m_limiter(config.limits)
{
    if (!config.auth.viewerToken.isEmpty())
        m_viewerDigest = sha256(config.auth.viewerToken.toUtf8());
    if (!config.auth.operatorToken.isEmpty())
        m_operatorDigest = sha256(config.auth.operatorToken.toUtf8());
    // Created up front so dashboards see 0 rather than nothing before the first refusal.
    m_metrics.counter("rate_limited_total", "Requests refused with 429 by the rate limiter, by route",
        {{"endpoint", "/api/v1/ingest"}});
    m_backpressureTotal = &m_metrics.counter("ingest_backpressure_total",
        "Ingest requests refused with 503 because the queue was above its high-water mark");
    m_rejectedRateLimited = &m_metrics.counter(
        "ingest_rejected_total", "Ingest requests refused, by reason", {{"reason", "rate_limited"}});
    m_rejectedBackpressure = &m_metrics.counter(
        "ingest_rejected_total", "Ingest requests refused, by reason", {{"reason", "backpressure"}});
}

Admission::~Admission() = default;

Admission::Presented Admission::identify(const QByteArray &authorization) const
{
    if (authorization.isEmpty())
        return Presented::None;
    // RFC 6750 §2.1: "Bearer" 1*SP b64token. The scheme is case-insensitive.
    const qsizetype space = authorization.indexOf(' ');
    if (space <= 0 || authorization.left(space).compare("bearer", Qt::CaseInsensitive) != 0)
        return Presented::Malformed;
    const QByteArray token = authorization.mid(space + 1).trimmed();
    if (token.isEmpty() || token.contains(' '))
        return Presented::Malformed;
    // Hash first: the comparison then takes the same time whatever the token's length or content.
    const QByteArray digest = sha256(token);
    const bool isOperator = !m_operatorDigest.isEmpty() && constantTimeEquals(digest, m_operatorDigest);
    const bool isViewer = !m_viewerDigest.isEmpty() && constantTimeEquals(digest, m_viewerDigest);
    if (isOperator)
        return Presented::Operator;
    if (isViewer)
        return Presented::Viewer;
    return Presented::Unknown;
}

std::optional<HttpResponse> Admission::authorize(
    const HttpRequest &request, RouteClass routeClass, QString *principal) const
{
    if (!m_config.auth.enabled())
        return std::nullopt; // no tokens configured (loopback only): everyone is anonymous
    const Presented who = identify(request.header("Authorization"));
    const bool mutating = routeClass == RouteClass::Ingest || routeClass == RouteClass::Control;
    auto unauthorized = [](const QString &message, const QByteArray &challenge) {
        return HttpResponse::error(401, QStringLiteral("unauthorized"), message, QStringLiteral("Authorization"))
            .withHeader("WWW-Authenticate", challenge);
    };
    switch (who) {
    case Presented::Operator:
        *principal = QStringLiteral("operator");
        return std::nullopt;
    case Presented::Viewer:
        if (mutating)
            return HttpResponse::error(403, QStringLiteral("forbidden"),
                QStringLiteral("the viewer token may only read (GET/HEAD); %1 %2 needs the operator token")
                    .arg(QString::fromLatin1(request.method), request.path));
        *principal = QStringLiteral("viewer");
        return std::nullopt;
    case Presented::Malformed:
        return unauthorized(QStringLiteral("malformed Authorization header: expected 'Bearer <token>'"),
            R"(Bearer realm="vigil", error="invalid_request")");
    case Presented::Unknown:
        return unauthorized(
            QStringLiteral("the bearer token is not valid for this server"), R"(Bearer realm="vigil", error="invalid_token")");
    case Presented::None:
        break;
    }
    if (mutating)
        return unauthorized(QStringLiteral("%1 %2 needs the operator token (Authorization: Bearer <token>)")
                                .arg(QString::fromLatin1(request.method), request.path),
            R"(Bearer realm="vigil")");
    if (!m_config.auth.viewerToken.isEmpty())
        return unauthorized(
            QStringLiteral("reading needs the viewer or operator token (Authorization: Bearer <token>)"),
            R"(Bearer realm="vigil")");
    return std::nullopt; // reads are open when no viewer token is configured
}

bool Admission::backpressureNow()
{
    const LimitsConfig &l = m_config.limits;
    if (l.backpressureHigh <= 0 || !m_probe.readyTasks)
        return false;
    const qint64 ready = m_probe.readyTasks();
    bool active = m_backpressure.load();
    if (active && ready < l.backpressureLow) {
        if (m_backpressure.compare_exchange_strong(active, false))
            logging::info("backpressure_released",
                {{QStringLiteral("ready_tasks"), ready}, {QStringLiteral("low_water"), l.backpressureLow}});
    } else if (!active && ready >= l.backpressureHigh) {
        if (m_backpressure.compare_exchange_strong(active, true))
            logging::warning("backpressure_engaged",
                {{QStringLiteral("ready_tasks"), ready}, {QStringLiteral("high_water"), l.backpressureHigh}});
    }
    return m_backpressure.load();
}

Admission::Verdict Admission::admit(const HttpRequest &request, const QByteArray &endpoint, bool routed)
{
    Verdict v;
    const RouteClass routeClass = classifyRoute(request.method, request.path);
    if (routeClass == RouteClass::Open)
        return v;

    // 1. Rate limit first: failed token guesses are limited like everything else.
    if (routed) {
        const RateLimiter::Decision d = m_limiter.take(routeClass, request.remoteAddress, steadyNowNs());
        if (d.limited) {
            v.headers = {{"RateLimit-Limit", QByteArray::number(d.limit)},
                {"RateLimit-Remaining", QByteArray::number(d.remaining)},
                {"RateLimit-Reset", QByteArray::number(d.resetSeconds)}};
            if (!d.allowed) {
                m_metrics
                    .counter("rate_limited_total", "Requests refused with 429 by the rate limiter, by route",
                        {{"endpoint", endpoint}})
                    .inc();
                if (routeClass == RouteClass::Ingest)
                    m_rejectedRateLimited->inc();
                v.refusal = HttpResponse::error(429, QStringLiteral("rate_limited"),
                    QStringLiteral("too many %1 requests from this address (limit %2); retry in %3 s")
                        .arg(QString::fromLatin1(routeClassName(routeClass)),
                            describeLimit(m_limiter.limitFor(routeClass)))
                        .arg(d.retryAfterSeconds))
                                .withHeader("Retry-After", QByteArray::number(d.retryAfterSeconds));
                return v;
            }
        }
    }

    // 2. Who is calling, and may they?
    if (auto refusal = authorize(request, routeClass, &v.principal)) {
        v.refusal = std::move(refusal);
        return v;
    }

    // 3. Backpressure: a queue above its high-water mark takes no new events until it is below
    //    the low-water mark. Nothing already accepted is dropped.
    if (routed && routeClass == RouteClass::Ingest && backpressureNow()) {
        m_backpressureTotal->inc();
        m_rejectedBackpressure->inc();
        const qint64 ready = m_probe.readyTasks();
        const double drain = m_probe.drainPerSecond ? m_probe.drainPerSecond() : 0.0;
        const int retryAfter = drain > 0
            ? std::clamp(ceilSeconds(double(ready - m_config.limits.backpressureLow) / drain), 1,
                  kMaxBackpressureRetryAfter)
            : 5;
        v.refusal = HttpResponse::error(503, QStringLiteral("backpressure"),
            QStringLiteral("the queue holds %1 ready tasks (high-water mark %2); new events are accepted again "
                           "below %3 — retry in %4 s")
                .arg(ready)
                .arg(m_config.limits.backpressureHigh)
                .arg(m_config.limits.backpressureLow)
                .arg(retryAfter))
                        .withHeader("Retry-After", QByteArray::number(retryAfter));
    }
    return v;
}

// --- configuration checks ------------------------------------------------------------------

namespace {
// RFC 6750 b64token: what can travel after "Bearer " unquoted.
bool isB64Token(const QString &token)
{
    qsizetype i = 0;
    for (; i < token.size(); ++i) {
        const QChar c = token.at(i);
        const bool ok = (c >= QLatin1Char('A') && c <= QLatin1Char('Z')) || (c >= QLatin1Char('a') && c <= QLatin1Char('z'))
            || (c >= QLatin1Char('0') && c <= QLatin1Char('9')) || c == QLatin1Char('-') || c == QLatin1Char('.')
            || c == QLatin1Char('_') || c == QLatin1Char('~') || c == QLatin1Char('+') || c == QLatin1Char('/');
        if (!ok)
            break;
    }
    if (i == 0)
        return false;
    while (i < token.size() && token.at(i) == QLatin1Char('='))
        ++i;
    return i == token.size();
}

QString limitProblem(const char *name, const RateLimit &limit)
{
    if (!(limit.perSecond >= 0) || !std::isfinite(limit.perSecond))
        return QStringLiteral("the %1 rate limit must be a number of requests per second ≥ 0 (0 = off)")
            .arg(QLatin1String(name));
    if (limit.enabled() && !(limit.burst >= 1 && std::isfinite(limit.burst)))
        return QStringLiteral("the %1 burst must be at least 1 request").arg(QLatin1String(name));
    return {};
}
} // namespace

QString configProblem(const ServerConfig &c)
{
    for (const auto &[name, token] :
        {std::pair {"viewer", c.auth.viewerToken}, std::pair {"operator", c.auth.operatorToken}}) {
        if (!token.isEmpty() && !isB64Token(token))
            return QStringLiteral("the %1 token may contain only letters, digits and - . _ ~ + / (then = padding); "
                                  "generate one with: openssl rand -hex 32")
                .arg(QLatin1String(name));
    }
    if (!c.auth.viewerToken.isEmpty() && c.auth.operatorToken.isEmpty())
        return QStringLiteral("a viewer token needs an operator token too (otherwise nobody could make a change); "
                              "set VIGIL_OPERATOR_TOKEN or operator-token in the config file");
    if (!c.auth.viewerToken.isEmpty() && c.auth.viewerToken == c.auth.operatorToken)
        return QStringLiteral("the viewer and operator tokens must differ");
    if (!c.host.isLoopback() && c.auth.operatorToken.isEmpty())
        return QStringLiteral("refusing to listen on %1 without an operator token: anyone who can reach it could "
                              "ingest events and start the simulator. Set VIGIL_OPERATOR_TOKEN (or operator-token in "
                              "the config file), or listen on 127.0.0.1")
            .arg(c.host.toString());
    for (const auto &[name, limit] : {std::pair {"ingest", c.limits.ingest}, std::pair {"query", c.limits.query},
             std::pair {"control", c.limits.control}}) {
        if (const QString p = limitProblem(name, limit); !p.isEmpty())
            return p;
    }
    if (c.limits.maxTrackedClients < 1)
        return QStringLiteral("rate-limit-clients must be at least 1");
    if (c.limits.backpressureHigh < 0 || c.limits.backpressureLow < 0)
        return QStringLiteral("backpressure marks must be ≥ 0");
    if (c.limits.backpressureHigh > 0 && c.limits.backpressureLow >= c.limits.backpressureHigh)
        return QStringLiteral("the backpressure low-water mark (%1) must be below the high-water mark (%2)")
            .arg(c.limits.backpressureLow)
            .arg(c.limits.backpressureHigh);
    return {};
}

} // namespace vigil
