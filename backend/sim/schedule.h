#pragma once

#include <QString>
#include <QtGlobal>

#include <vector>

namespace vigil {

enum class SimMode { Steady, Burst, Ramp, Chaos };

// "steady", "burst", "ramp", "chaos" (the API's spelling).
QString simModeName(SimMode mode);
// Case-insensitive; false (and *mode untouched) for anything else.
bool parseSimMode(const QString &text, SimMode *mode);

// The simulator's target rate r(t) for each mode of DESIGN.md §4 and its exact integral, so the
// open-model scheduler can say how many events are due by time t and when the n-th one was due.
// Pure maths, no clock: t is seconds since the run started.
//
// A live change starts a new segment whose count starts where the old one ended, so the number of
// due events never jumps. Changing only the rate keeps the cycle's phase (a burst stays in step);
// switching mode starts the new mode's cycle at the change (a ramp starts again from 0).
//
// Not thread-safe: chaos keeps a lazily grown prefix-sum cache, so const calls of expectedCount
// and timeOfCount must be serialised by the owner. targetRatePerMin never touches that cache.
class Schedule final
{
public:
    Schedule(SimMode mode, double ratePerMin, quint64 seed);

    double targetRatePerMin(double tSeconds) const;
    // ∫0..t r(s) ds / 60: events due by t (fractional), closed form per segment.
    double expectedCount(double tSeconds) const;
    // Smallest t with expectedCount(t) >= n: when the n-th event (1-based) is due.
    double timeOfCount(double n) const;
    // Live change at atSeconds (not before the previous change); the integral stays continuous.
    void change(SimMode mode, double ratePerMin, double atSeconds);

    SimMode mode() const { return m_segments.back().mode; }
    double baseRatePerMin() const { return m_segments.back().ratePerMin; }
    quint64 seed() const { return m_seed; }

    // max r(t) / R of a mode (burst 2.5, ramp 1.5, chaos 2): sizes the client for the peak.
    static double peakFactor(SimMode mode);
    // Length of one cycle in seconds (0: steady has none).
    static double cycleSeconds(SimMode mode);

    // Chaos: the factor applied to R during 5-second slot k. A stateless hash of (seed, k), so
    // it does not depend on the order in which slots are looked at.
    static double chaosFactor(quint64 seed, qint64 slot);
    static constexpr double kChaosSlotSeconds = 5.0;

private:
    struct Segment
    {
        double start = 0; // run time at which this segment begins
        double phaseOrigin = 0; // run time at which the mode's cycle started (u = t - phaseOrigin)
        SimMode mode = SimMode::Steady;
        double ratePerMin = 0;
        double countAtStart = 0; // expectedCount(start)
        double shapeAtStart = 0; // shapeIntegral(mode, start - phaseOrigin)
    };

    // f(u): r / R at cycle time u.
    double shape(SimMode mode, double u) const;
    // G(u) = ∫0..u f(s) ds, in "seconds at rate R".
    double shapeIntegral(SimMode mode, double u) const;
    // G⁻¹(v): smallest u with G(u) >= v.
    double shapeInverse(SimMode mode, double v) const;
    const Segment &segmentAt(double tSeconds) const;
    // Makes m_chaosPrefix cover slot `slot` (prefix[k] = G over slots 0..k-1).
    void growChaosPrefix(qint64 slot) const;

    quint64 m_seed = 0;
    std::vector<Segment> m_segments;
    mutable std::vector<double> m_chaosPrefix {0.0};
};

} // namespace vigil
