#pragma once

#include <QDateTime>
#include <QString>

#include <cstdint>

namespace vigil {

// Monotonic clock in nanoseconds (for latency and schedules; never goes backwards).
std::int64_t steadyNowNs();
// Wall clock in milliseconds since the Unix epoch (what the database stores).
std::int64_t wallNowMs();
// ISO 8601 UTC with a 'Z', second precision unless withMs: "2026-01-19T12:34:56Z".
QString isoUtc(std::int64_t epochMs, bool withMs = false);
QString isoUtc(const QDateTime &t, bool withMs = false);

} // namespace vigil
