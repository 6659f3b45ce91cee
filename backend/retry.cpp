#include "retry.h"

#include <algorithm>
#include <cmath>

namespace vigil {

using namespace Qt::StringLiterals;

namespace {

// NaN and negatives become 0 so that a broken policy yields a delay of 0 rather than NaN or a negative run_at.
double nonNegative(double x)
{
    return x > 0 ? x : 0.0;
}

} // namespace

double retryDelaySeconds(const RetryPolicy &policy, int attempt, double unitRandom)
{
    const double base = nonNegative(policy.baseSeconds);
    const double cap
        = std::isinf(policy.capSeconds) && policy.capSeconds > 0 ? kMaxRetryCapSeconds : nonNegative(policy.capSeconds);
    // Below 1, so the jitter factor stays positive: a retry is never scheduled "now" by accident.
    const double jitter = std::min(nonNegative(policy.jitter), 0.999999);
    // NaN means "no randomness": the neutral 0.5. Anything else is clamped into [0, 1).
    const double u = std::isnan(unitRandom) ? 0.5 : std::clamp(unitRandom, 0.0, std::nextafter(1.0, 0.0));

    // No integer shift (1 << 63 is already undefined): ldexp saturates to +inf past 2^1023 and min() turns that into
    // the cap. Clamping the exponent keeps INT_MAX and negative attempt counts harmless.
    const int exponent = std::clamp(attempt, 1, 2000) - 1;
    const double raw = std::ldexp(base, exponent); // may be +inf; min() below takes care of it
    const double delay = std::min(cap, raw);
    return std::max(0.0, delay * (1.0 + jitter * (2.0 * u - 1.0)));
}

bool exhausted(const RetryPolicy &policy, int attempts)
{
    // A policy with maxAttempts < 1 still allows the first attempt: dead-lettering untried work would lose it.
    return attempts >= std::max(1, policy.maxAttempts);
}

QString validateRetryPolicy(const RetryPolicy &policy)
{
    if (!(policy.baseSeconds > 0) || !std::isfinite(policy.baseSeconds))
        return u"Retry base delay must be a finite number of seconds greater than 0 (got %1)."_s.arg(
            policy.baseSeconds);
    if (!(policy.capSeconds >= policy.baseSeconds) || !std::isfinite(policy.capSeconds))
        return u"Retry cap must be at least the base delay of %1 s (got %2 s)."_s.arg(policy.baseSeconds)
            .arg(policy.capSeconds);
    if (policy.capSeconds > kMaxRetryCapSeconds)
        return u"Retry cap must be at most %1 s (one year) (got %2 s)."_s.arg(kMaxRetryCapSeconds, 0, 'f', 0)
            .arg(policy.capSeconds);
    if (!(policy.jitter >= 0 && policy.jitter < 1))
        return u"Retry jitter must be in [0, 1), e.g. 0.2 for ±20 % (got %1)."_s.arg(policy.jitter);
    if (policy.maxAttempts < 1)
        return u"Retry max attempts must be at least 1 (got %1)."_s.arg(policy.maxAttempts);
    return {};
}

} // namespace vigil
