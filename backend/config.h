#pragma once

#include <QHostAddress>
#include <QString>

#include <cstdint>

namespace vigil {

// Retry schedule for failed tasks (DESIGN.md §2): delay = min(cap, base * 2^(attempt-1)) ± jitter.
struct RetryPolicy
{
    double baseSeconds = 1.0;
    double capSeconds = 300.0;
    double jitter = 0.2; // ±20 %
    int maxAttempts = 8;
};

struct RemediatorConfig
{
    int latencyMs = 40; // mean simulated latency of one remediation
    double failureRate = 0.05; // share of remediations that fail (retried with backoff)
    double hangRate = 0.0; // share that never answer (caught by the timeout)
    int timeoutMs = 5000;
};

enum class Durability { Normal, Full };

// One token bucket per client address and route class: `perSecond` tokens refill continuously up
// to `burst`; a request takes one. perSecond 0: no limit for that class.
struct RateLimit
{
    double perSecond = 0;
    double burst = 0;
    bool enabled() const { return perSecond > 0; }
};

// Admission limits (issue #4). Defaults keep the original's scenarios true for one client: steady
// 1000/min (17/s) is never limited, burst 2000/min (spikes of 83/s) and overload 10000/min (167/s)
// are; the window's few polls per second stay far below the query limit. See docs/configuration.md.
struct LimitsConfig
{
    RateLimit ingest {50, 100}; // POST /api/v1/ingest and /api/v1/ingest/...
    RateLimit query {100, 200}; // other GET/HEAD
    RateLimit control {10, 20}; // other POST/PUT/PATCH/DELETE
    int maxTrackedClients = 65536; // buckets kept in memory; idle (refilled) ones are evicted first
    qint64 backpressureHigh = 20000; // ready tasks at which ingest answers 503; 0 = off
    qint64 backpressureLow = 10000; // ...until the ready tasks fall below this
};

// Bearer tokens. Empty operator token: no authentication at all (allowed on loopback only).
struct AuthConfig
{
    QString viewerToken; // GET/HEAD; empty: reads are open
    QString operatorToken; // everything, including every mutating call
    bool enabled() const { return !operatorToken.isEmpty() || !viewerToken.isEmpty(); }
};

// Everything the backend needs to start; filled from the command line (app/) or by tests.
struct ServerConfig
{
    QHostAddress host = QHostAddress::LocalHost;
    quint16 port = 8000; // 0: any free port (tests)
    QString databasePath; // SQLite file; empty: <AppDataLocation>/vigil.db
    int workers = 2;
    int httpThreads = 2;
    int claimBatch = 64; // tasks per claim
    int leaseSeconds = 30;
    Durability durability = Durability::Normal;
    bool faultInjection = true; // honour X-Vigil-Fault markers (default: on for loopback)
    qint64 maxBodyBytes = 1024 * 1024;
    // Front-door limits that Qt 6.4's QHttpServer lacks (docs/configuration.md).
    int maxConnections = 1024; // open client connections; more get 503 too_many_connections
    int headerTimeoutMs = 10'000; // request line + headers must arrive within this (slowloris) → 408
    int requestTimeoutMs = 30'000; // the whole request incl. its body → 408
    int idleTimeoutMs = 60'000; // an idle keep-alive connection is closed after this
    int lingerMs = 2'000; // after a closing answer: how long unread client bytes are drained
    RetryPolicy retry;
    RemediatorConfig remediator;
    QString nodeId; // leased_by; default host:pid
    LimitsConfig limits;
    AuthConfig auth;
};

// Checks what cannot be expressed by types: tokens that can travel in a header, a viewer token only
// with an operator token, no unauthenticated non-loopback bind, low < high water. Empty: fine.
QString configProblem(const ServerConfig &config);

} // namespace vigil
