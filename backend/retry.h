#pragma once

#include <QString>

#include "config.h"

namespace vigil {

// Retry schedule for failed tasks (DESIGN.md §2). Pure functions: the queue stores the result in `run_at`, so a
// retry never waits in a sleeping thread.

// Delay before attempt `attempt+1` after `attempt` failed attempts (attempt ≥ 1; smaller values count as 1):
// min(cap, base·2^(attempt-1)) scaled by (1 + jitter·(2u-1)), u in [0,1) supplied by the caller (deterministic for
// tests; out-of-range or NaN u is clamped). Never negative, never above cap·(1+jitter), finite for any attempt count
// and for any policy, valid or not.
double retryDelaySeconds(const RetryPolicy &policy, int attempt, double unitRandom);
// True when a task that has made `attempts` attempts must go to the dead-letter list (attempts ≥ maxAttempts).
bool exhausted(const RetryPolicy &policy, int attempts);
// Checks a policy: base > 0, base ≤ cap ≤ kMaxRetryCapSeconds, 0 ≤ jitter < 1, maxAttempts ≥ 1, all finite.
// Returns a message naming the setting, or an empty string when the policy is usable.
QString validateRetryPolicy(const RetryPolicy &policy);

// Upper bound for the cap (one year): keeps run_at = now + delay in milliseconds far from qint64 overflow.
inline constexpr double kMaxRetryCapSeconds = 365.0 * 24 * 3600;

} // namespace vigil
