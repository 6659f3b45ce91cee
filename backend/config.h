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
};

} // namespace vigil
