#include "schedule.h"

#include "prng.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace vigil {

namespace {

// burst: 15 s at 2.5·R, then 45 s at 0.5·R (mean R).
constexpr double kBurstCycle = 60.0;
constexpr double kBurstHigh = 15.0;
constexpr double kBurstHighFactor = 2.5;
constexpr double kBurstLowFactor = 0.5;
constexpr double kBurstHighArea = kBurstHigh * kBurstHighFactor; // 37.5
constexpr double kBurstArea = kBurstHighArea + (kBurstCycle - kBurstHigh) * kBurstLowFactor; // 60

// ramp: the k6 ramp 0 → 0.5R → R → 1.5R → 0, four linear two-minute legs (mean 0.75·R).
constexpr double kRampLeg = 120.0;
constexpr double kRampCycle = 4 * kRampLeg;
constexpr std::array<double, 5> kRampLevels {0.0, 0.5, 1.0, 1.5, 0.0};
// Area of each leg: (a + b) / 2 · L.
constexpr std::array<double, 5> kRampCumulative {0.0, 30.0, 120.0, 270.0, 360.0};
constexpr double kRampArea = kRampCumulative[4];

constexpr double kChaosMin = 0.25;
constexpr double kChaosMax = 2.0;

// Cycle index and position inside it, robust to u being an exact multiple of the cycle.
std::pair<double, double> splitCycle(double u, double cycle)
{
    const double k = std::floor(u / cycle);
    return {k, std::clamp(u - k * cycle, 0.0, cycle)};
}

// Smallest x in [0, L] with a·x + (b − a)·x² / (2L) = area, for a leg going linearly from a to b.
// The form 2c / (a + √(a² + 4·k·c)) avoids cancellation for both rising and falling legs.
double solveLeg(double a, double b, double length, double area)
{
    if (area <= 0)
        return 0;
    const double k = (b - a) / (2 * length);
    const double disc = std::max(0.0, a * a + 4 * k * area);
    const double denom = a + std::sqrt(disc);
    if (denom <= 0)
        return length;
    return std::clamp(2 * area / denom, 0.0, length);
}

} // namespace

QString simModeName(SimMode mode)
{
    switch (mode) {
    case SimMode::Steady:
        return QStringLiteral("steady");
    case SimMode::Burst:
        return QStringLiteral("burst");
    case SimMode::Ramp:
        return QStringLiteral("ramp");
    case SimMode::Chaos:
        return QStringLiteral("chaos");
    }
    return QStringLiteral("steady");
}

bool parseSimMode(const QString &text, SimMode *mode)
{
    for (SimMode m : {SimMode::Steady, SimMode::Burst, SimMode::Ramp, SimMode::Chaos}) {
        if (text.compare(simModeName(m), Qt::CaseInsensitive) == 0) {
            if (mode)
                *mode = m;
            return true;
        }
    }
    return false;
}

Schedule::Schedule(SimMode mode, double ratePerMin, quint64 seed)
    : m_seed(seed)
{
    m_segments.push_back(Segment {0.0, 0.0, mode, ratePerMin, 0.0, 0.0});
}

double Schedule::peakFactor(SimMode mode)
{
    switch (mode) {
    case SimMode::Steady:
        return 1.0;
    case SimMode::Burst:
        return kBurstHighFactor;
    case SimMode::Ramp:
        return kRampLevels[3];
    case SimMode::Chaos:
        return kChaosMax;
    }
    return 1.0;
}

double Schedule::cycleSeconds(SimMode mode)
{
    switch (mode) {
    case SimMode::Steady:
        return 0;
    case SimMode::Burst:
        return kBurstCycle;
    case SimMode::Ramp:
        return kRampCycle;
    case SimMode::Chaos:
        return kChaosSlotSeconds;
    }
    return 0;
}

double Schedule::chaosFactor(quint64 seed, qint64 slot)
{
    return kChaosMin + (kChaosMax - kChaosMin) * Prng::hashUniform(seed, static_cast<std::uint64_t>(slot));
}

void Schedule::growChaosPrefix(qint64 slot) const
{
    while (static_cast<qint64>(m_chaosPrefix.size()) <= slot + 1) {
        const auto k = static_cast<qint64>(m_chaosPrefix.size()) - 1;
        m_chaosPrefix.push_back(m_chaosPrefix.back() + kChaosSlotSeconds * chaosFactor(m_seed, k));
    }
}

double Schedule::shape(SimMode mode, double u) const
{
    u = std::max(0.0, u);
    switch (mode) {
    case SimMode::Steady:
        return 1.0;
    case SimMode::Burst: {
        const auto [k, w] = splitCycle(u, kBurstCycle);
        Q_UNUSED(k);
        return w < kBurstHigh ? kBurstHighFactor : kBurstLowFactor;
    }
    case SimMode::Ramp: {
        const auto [k, w] = splitCycle(u, kRampCycle);
        Q_UNUSED(k);
        const int leg = std::min(3, static_cast<int>(w / kRampLeg));
        const double x = w - leg * kRampLeg;
        const double a = kRampLevels[static_cast<size_t>(leg)];
        const double b = kRampLevels[static_cast<size_t>(leg) + 1];
        return a + (b - a) * x / kRampLeg;
    }
    case SimMode::Chaos:
        return chaosFactor(m_seed, static_cast<qint64>(std::floor(u / kChaosSlotSeconds)));
    }
    return 1.0;
}

double Schedule::shapeIntegral(SimMode mode, double u) const
{
    u = std::max(0.0, u);
    switch (mode) {
    case SimMode::Steady:
        return u;
    case SimMode::Burst: {
        const auto [k, w] = splitCycle(u, kBurstCycle);
        const double inCycle
            = w < kBurstHigh ? w * kBurstHighFactor : kBurstHighArea + (w - kBurstHigh) * kBurstLowFactor;
        return k * kBurstArea + inCycle;
    }
    case SimMode::Ramp: {
        const auto [k, w] = splitCycle(u, kRampCycle);
        const int leg = std::min(3, static_cast<int>(w / kRampLeg));
        const double x = w - leg * kRampLeg;
        const double a = kRampLevels[static_cast<size_t>(leg)];
        const double b = kRampLevels[static_cast<size_t>(leg) + 1];
        return k * kRampArea + kRampCumulative[static_cast<size_t>(leg)] + a * x + (b - a) * x * x / (2 * kRampLeg);
    }
    case SimMode::Chaos: {
        const auto slot = static_cast<qint64>(std::floor(u / kChaosSlotSeconds));
        growChaosPrefix(slot);
        const double x = u - static_cast<double>(slot) * kChaosSlotSeconds;
        return m_chaosPrefix[static_cast<size_t>(slot)] + x * chaosFactor(m_seed, slot);
    }
    }
    return u;
}

double Schedule::shapeInverse(SimMode mode, double v) const
{
    if (v <= 0)
        return 0;
    switch (mode) {
    case SimMode::Steady:
        return v;
    case SimMode::Burst: {
        const auto [k, r] = splitCycle(v, kBurstArea);
        const double w
            = r < kBurstHighArea ? r / kBurstHighFactor : kBurstHigh + (r - kBurstHighArea) / kBurstLowFactor;
        return k * kBurstCycle + w;
    }
    case SimMode::Ramp: {
        const auto [k, r] = splitCycle(v, kRampArea);
        int leg = 0;
        while (leg < 3 && r > kRampCumulative[static_cast<size_t>(leg) + 1])
            ++leg;
        const double a = kRampLevels[static_cast<size_t>(leg)];
        const double b = kRampLevels[static_cast<size_t>(leg) + 1];
        const double x = solveLeg(a, b, kRampLeg, r - kRampCumulative[static_cast<size_t>(leg)]);
        return k * kRampCycle + leg * kRampLeg + x;
    }
    case SimMode::Chaos: {
        while (m_chaosPrefix.back() < v)
            growChaosPrefix(static_cast<qint64>(m_chaosPrefix.size()) - 1);
        // First slot whose end reaches v.
        const auto it = std::lower_bound(m_chaosPrefix.begin() + 1, m_chaosPrefix.end(), v);
        const auto slot = static_cast<qint64>(it - m_chaosPrefix.begin()) - 1;
        const double x = (v - m_chaosPrefix[static_cast<size_t>(slot)]) / chaosFactor(m_seed, slot);
        return static_cast<double>(slot) * kChaosSlotSeconds + std::clamp(x, 0.0, kChaosSlotSeconds);
    }
    }
    return v;
}

const Schedule::Segment &Schedule::segmentAt(double tSeconds) const
{
    // Last segment starting at or before t (the first one starts at 0 and covers t < 0 too).
    const auto it = std::upper_bound(
        m_segments.begin() + 1, m_segments.end(), tSeconds, [](double t, const Segment &s) { return t < s.start; });
    return *(it - 1);
}

double Schedule::targetRatePerMin(double tSeconds) const
{
    tSeconds = std::max(0.0, tSeconds);
    const Segment &s = segmentAt(tSeconds);
    return s.ratePerMin * shape(s.mode, tSeconds - s.phaseOrigin);
}

double Schedule::expectedCount(double tSeconds) const
{
    if (!(tSeconds > 0))
        return 0;
    const Segment &s = segmentAt(tSeconds);
    const double area = shapeIntegral(s.mode, tSeconds - s.phaseOrigin) - s.shapeAtStart;
    return s.countAtStart + std::max(0.0, area) * s.ratePerMin / 60.0;
}

double Schedule::timeOfCount(double n) const
{
    if (!(n > 0))
        return 0;
    // The segment in which the count reaches n: the first one whose successor starts at >= n.
    auto it = std::partition_point(
        m_segments.begin(), m_segments.end() - 1, [n](const Segment &s) { return (&s + 1)->countAtStart < n; });
    const Segment &s = *it;
    const double v = s.shapeAtStart + (n - s.countAtStart) * 60.0 / s.ratePerMin;
    double t = s.phaseOrigin + shapeInverse(s.mode, v);
    t = std::max(t, s.start);
    if (it + 1 != m_segments.end())
        t = std::min(t, (it + 1)->start);
    return t;
}

void Schedule::change(SimMode mode, double ratePerMin, double atSeconds)
{
    // A change in the past would rewrite events already sent: clamp it to the last change.
    atSeconds = std::max(atSeconds, m_segments.back().start);
    const double count = expectedCount(atSeconds);
    const Segment previous = m_segments.back();
    while (m_segments.size() > 1 && m_segments.back().start >= atSeconds)
        m_segments.pop_back();
    if (m_segments.size() == 1 && m_segments.back().start >= atSeconds) {
        // Changing at t = 0 (before anything was due) simply replaces the first segment.
        m_segments.clear();
    }
    Segment s;
    s.start = atSeconds;
    s.mode = mode;
    s.ratePerMin = ratePerMin;
    s.countAtStart = count;
    s.phaseOrigin = mode == previous.mode ? previous.phaseOrigin : atSeconds;
    s.shapeAtStart = shapeIntegral(mode, atSeconds - s.phaseOrigin);
    m_segments.push_back(s);
}

} // namespace vigil
