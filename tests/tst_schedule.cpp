// The simulator's rate schedule (DESIGN.md §4): r(t) per mode, its exact integral and inverse.
#include "sim/schedule.h"

#include <QtTest>

#include <cmath>

using namespace vigil;

Q_DECLARE_METATYPE(vigil::SimMode)

namespace {

constexpr double kR = 600; // events per minute: 10 per second

// Midpoint integration of r(t)/60 with a fine step: exact on the linear ramp legs, and the step
// edges (whole seconds, 5 s chaos slots) never fall on a sample.
double integrate(const Schedule &s, double from, double to, double step = 0.001)
{
    const auto steps = static_cast<int>(std::llround((to - from) / step));
    const double h = (to - from) / steps;
    double sum = 0;
    for (int i = 0; i < steps; ++i)
        sum += s.targetRatePerMin(from + (i + 0.5) * h);
    return sum * h / 60.0;
}

} // namespace

class TestSchedule final : public QObject
{
    Q_OBJECT

private slots:
    void modeNames();
    void rateAtKeyPoints_data();
    void rateAtKeyPoints();
    void countMatchesIntegration_data();
    void countMatchesIntegration();
    void inverse_data();
    void inverse();
    void meanOverCycle();
    void chaosReproducible();
    void liveChangeKeepsIntegralContinuous_data();
    void liveChangeKeepsIntegralContinuous();
    void sameModeChangeKeepsPhase();
    void changeAtZeroReplacesSchedule();
};

void TestSchedule::modeNames()
{
    for (SimMode m : {SimMode::Steady, SimMode::Burst, SimMode::Ramp, SimMode::Chaos}) {
        SimMode parsed = SimMode::Steady;
        QVERIFY(parseSimMode(simModeName(m), &parsed));
        QCOMPARE(parsed, m);
    }
    SimMode parsed = SimMode::Ramp;
    QVERIFY(parseSimMode(QStringLiteral("BURST"), &parsed));
    QCOMPARE(parsed, SimMode::Burst);
    QVERIFY(!parseSimMode(QStringLiteral("spike"), &parsed));
    QVERIFY(!parseSimMode(QString(), &parsed));
    QCOMPARE(parsed, SimMode::Burst); // untouched on failure
}

void TestSchedule::rateAtKeyPoints_data()
{
    QTest::addColumn<SimMode>("mode");
    QTest::addColumn<double>("t");
    QTest::addColumn<double>("factor"); // expected r(t) / R

    QTest::newRow("steady 0") << SimMode::Steady << 0.0 << 1.0;
    QTest::newRow("steady 1h") << SimMode::Steady << 3600.0 << 1.0;

    QTest::newRow("burst start") << SimMode::Burst << 0.0 << 2.5;
    QTest::newRow("burst 14.9 s") << SimMode::Burst << 14.9 << 2.5;
    QTest::newRow("burst 15 s") << SimMode::Burst << 15.0 << 0.5;
    QTest::newRow("burst 59.9 s") << SimMode::Burst << 59.9 << 0.5;
    QTest::newRow("burst next cycle") << SimMode::Burst << 60.0 << 2.5;
    QTest::newRow("burst 2nd cycle low") << SimMode::Burst << 80.0 << 0.5;

    QTest::newRow("ramp 0") << SimMode::Ramp << 0.0 << 0.0;
    QTest::newRow("ramp 1 min") << SimMode::Ramp << 60.0 << 0.25;
    QTest::newRow("ramp 2 min") << SimMode::Ramp << 120.0 << 0.5;
    QTest::newRow("ramp 3 min") << SimMode::Ramp << 180.0 << 0.75;
    QTest::newRow("ramp 4 min") << SimMode::Ramp << 240.0 << 1.0;
    QTest::newRow("ramp 5 min") << SimMode::Ramp << 300.0 << 1.25;
    QTest::newRow("ramp 6 min (peak)") << SimMode::Ramp << 360.0 << 1.5;
    QTest::newRow("ramp 7 min") << SimMode::Ramp << 420.0 << 0.75;
    QTest::newRow("ramp 8 min (cycle end)") << SimMode::Ramp << 480.0 << 0.0;
    QTest::newRow("ramp 2nd cycle 2 min") << SimMode::Ramp << 600.0 << 0.5;
}

void TestSchedule::rateAtKeyPoints()
{
    QFETCH(SimMode, mode);
    QFETCH(double, t);
    QFETCH(double, factor);
    const Schedule s(mode, kR, 1);
    QVERIFY2(std::abs(s.targetRatePerMin(t) - factor * kR) < 1e-9,
        qPrintable(QStringLiteral("r(%1) = %2, want %3").arg(t).arg(s.targetRatePerMin(t)).arg(factor * kR)));
}

void TestSchedule::countMatchesIntegration_data()
{
    QTest::addColumn<SimMode>("mode");
    QTest::addColumn<double>("t");
    for (SimMode m : {SimMode::Steady, SimMode::Burst, SimMode::Ramp, SimMode::Chaos}) {
        for (double t : {0.5, 7.3, 15.0, 61.7, 200.0, 517.25}) {
            const QByteArray name = simModeName(m).toLatin1() + " t=" + QByteArray::number(t);
            QTest::newRow(name.constData()) << m << t;
        }
    }
}

void TestSchedule::countMatchesIntegration()
{
    QFETCH(SimMode, mode);
    QFETCH(double, t);
    const Schedule s(mode, kR, 42);
    const double exact = s.expectedCount(t);
    const double numeric = integrate(s, 0, t);
    QVERIFY2(std::abs(exact - numeric) < 1e-3 * std::max(1.0, numeric),
        qPrintable(QStringLiteral("closed form %1 vs numeric %2").arg(exact, 0, 'f', 6).arg(numeric, 0, 'f', 6)));
    QCOMPARE(s.expectedCount(0), 0.0);
    QCOMPARE(s.expectedCount(-5), 0.0);
}

void TestSchedule::inverse_data()
{
    countMatchesIntegration_data();
}

void TestSchedule::inverse()
{
    QFETCH(SimMode, mode);
    QFETCH(double, t);
    const Schedule s(mode, kR, 7);
    // Where r(t) > 0 the count is strictly increasing, so the inverse gives t back.
    QVERIFY(s.targetRatePerMin(t) > 0 || mode == SimMode::Ramp);
    const double n = s.expectedCount(t);
    QVERIFY2(std::abs(s.timeOfCount(n) - t) < 1e-6,
        qPrintable(QStringLiteral("timeOfCount(%1) = %2, want %3").arg(n).arg(s.timeOfCount(n)).arg(t)));
    // Every whole event: due exactly when the integral reaches it, in order.
    double previous = 0;
    for (int k = 1; k <= static_cast<int>(n); ++k) {
        const double due = s.timeOfCount(k);
        QVERIFY(due >= previous);
        QVERIFY2(std::abs(s.expectedCount(due) - k) < 1e-6, qPrintable(QStringLiteral("event %1").arg(k)));
        previous = due;
    }
    QCOMPARE(s.timeOfCount(0), 0.0);
}

void TestSchedule::meanOverCycle()
{
    // Mean rate over whole cycles (count × 60 / seconds).
    const Schedule steady(SimMode::Steady, kR, 1);
    QCOMPARE(steady.expectedCount(60), 10.0 * 60);

    const Schedule burst(SimMode::Burst, kR, 1);
    QVERIFY(std::abs(burst.expectedCount(60) * 60 / 60 - kR) < 1e-9);
    QVERIFY(std::abs(burst.expectedCount(600) * 60 / 600 - kR) < 1e-9);
    QVERIFY(std::abs(burst.expectedCount(15) - 2.5 * 10 * 15) < 1e-9); // the burst itself

    const Schedule ramp(SimMode::Ramp, kR, 1);
    QVERIFY(std::abs(ramp.expectedCount(480) * 60 / 480 - 0.75 * kR) < 1e-9);
    QVERIFY(std::abs(ramp.expectedCount(2 * 480) * 60 / (2 * 480) - 0.75 * kR) < 1e-9);
    QVERIFY(std::abs(ramp.expectedCount(120) - 0.25 * 10 * 120) < 1e-9); // first leg: mean 0.25 R

    const Schedule chaos(SimMode::Chaos, kR, 1234);
    const double mean = chaos.expectedCount(3600) * 60 / 3600;
    QVERIFY2(mean >= 0.25 * kR && mean <= 2.0 * kR, qPrintable(QString::number(mean)));
    // Over 720 independent slots the mean factor is close to (0.25 + 2) / 2.
    QVERIFY2(std::abs(mean / kR - 1.125) < 0.1, qPrintable(QString::number(mean / kR)));
    for (int slot = 0; slot < 720; ++slot) {
        const double r = chaos.targetRatePerMin(slot * 5.0 + 2.5);
        QVERIFY(r >= 0.25 * kR && r <= 2.0 * kR);
        // Constant inside a 5 s slot.
        QCOMPARE(chaos.targetRatePerMin(slot * 5.0 + 0.01), r);
        QCOMPARE(chaos.targetRatePerMin(slot * 5.0 + 4.99), r);
    }
}

void TestSchedule::chaosReproducible()
{
    const Schedule a(SimMode::Chaos, kR, 99);
    const Schedule b(SimMode::Chaos, kR, 99);
    const Schedule other(SimMode::Chaos, kR, 100);
    // Read b backwards: the factors must not depend on the order of look-ups.
    for (int slot = 199; slot >= 0; --slot)
        QVERIFY(b.targetRatePerMin(slot * 5.0 + 1) > 0);
    QCOMPARE(a.expectedCount(1000), b.expectedCount(1000));
    int differing = 0;
    for (int slot = 0; slot < 200; ++slot) {
        QCOMPARE(a.targetRatePerMin(slot * 5.0 + 1), b.targetRatePerMin(slot * 5.0 + 1));
        if (a.targetRatePerMin(slot * 5.0 + 1) != other.targetRatePerMin(slot * 5.0 + 1))
            ++differing;
    }
    QVERIFY(differing > 190);
    QVERIFY(a.expectedCount(1000) != other.expectedCount(1000));
}

void TestSchedule::liveChangeKeepsIntegralContinuous_data()
{
    QTest::addColumn<SimMode>("from");
    QTest::addColumn<SimMode>("to");
    QTest::addColumn<double>("at");
    QTest::addColumn<double>("newRate");
    const SimMode modes[] = {SimMode::Steady, SimMode::Burst, SimMode::Ramp, SimMode::Chaos};
    for (SimMode from : modes)
        for (SimMode to : modes) {
            const QByteArray name = simModeName(from).toLatin1() + "->" + simModeName(to).toLatin1();
            QTest::newRow(name.constData()) << from << to << 37.3 << 1800.0;
        }
}

void TestSchedule::liveChangeKeepsIntegralContinuous()
{
    QFETCH(SimMode, from);
    QFETCH(SimMode, to);
    QFETCH(double, at);
    QFETCH(double, newRate);
    Schedule s(from, kR, 5);
    const Schedule before(from, kR, 5);
    s.change(to, newRate, at);

    QCOMPARE(s.mode(), to);
    QCOMPARE(s.baseRatePerMin(), newRate);
    // Before the change nothing moved.
    QCOMPARE(s.expectedCount(at / 2), before.expectedCount(at / 2));
    QCOMPARE(s.expectedCount(at), before.expectedCount(at));
    // Continuous at the change.
    QVERIFY(std::abs(s.expectedCount(at + 1e-6) - before.expectedCount(at)) < 1e-3);
    // After it, the count grows with the new rate: exactly the integral of the new r(t).
    const double later = at + 95.5;
    const double numeric = before.expectedCount(at) + integrate(s, at, later);
    QVERIFY2(std::abs(s.expectedCount(later) - numeric) < 1e-3 * numeric,
        qPrintable(QStringLiteral("%1 vs %2").arg(s.expectedCount(later)).arg(numeric)));
    // The inverse is consistent across the change as well.
    for (double t : {at - 10, at + 0.5, at + 30, later}) {
        if (s.targetRatePerMin(t) <= 0)
            continue;
        QVERIFY2(std::abs(s.timeOfCount(s.expectedCount(t)) - t) < 1e-6, qPrintable(QString::number(t)));
    }
    if (from != to && to == SimMode::Ramp)
        QCOMPARE(s.targetRatePerMin(at), 0.0); // a new mode starts its cycle at the change
    if (from != to && to == SimMode::Burst)
        QCOMPARE(s.targetRatePerMin(at + 1), 2.5 * newRate);
}

void TestSchedule::sameModeChangeKeepsPhase()
{
    Schedule s(SimMode::Burst, kR, 1);
    s.change(SimMode::Burst, 2 * kR, 80); // in the low phase of the second cycle
    QCOMPARE(s.targetRatePerMin(80), 0.5 * 2 * kR);
    QCOMPARE(s.targetRatePerMin(120.5), 2.5 * 2 * kR); // the next burst still starts at 120 s
    const double c1 = s.expectedCount(80);
    s.change(SimMode::Burst, kR, 80); // a second change at the same instant replaces the first
    QCOMPARE(s.expectedCount(80), c1);
    QCOMPARE(s.targetRatePerMin(100), 0.5 * kR);
    // A change dated before the last one is clamped to it (events already sent never move).
    s.change(SimMode::Steady, kR, 10);
    QCOMPARE(s.expectedCount(80), c1);
    QCOMPARE(s.targetRatePerMin(79), 0.5 * kR);
}

void TestSchedule::changeAtZeroReplacesSchedule()
{
    Schedule s(SimMode::Steady, kR, 1);
    s.change(SimMode::Ramp, kR, 0);
    const Schedule ramp(SimMode::Ramp, kR, 1);
    QCOMPARE(s.expectedCount(300), ramp.expectedCount(300));
    QCOMPARE(s.timeOfCount(100), ramp.timeOfCount(100));
}

QTEST_APPLESS_MAIN(TestSchedule)
#include "tst_schedule.moc"
