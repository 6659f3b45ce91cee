// Retry schedule (DESIGN.md §2): min(cap, base·2^(attempt-1)) ± jitter, dead letter after maxAttempts.

#include <QTest>

#include <cmath>
#include <limits>

#include "config.h"
#include "retry.h"

using namespace Qt::StringLiterals;
using vigil::RetryPolicy;

class TestRetry final : public QObject
{
    Q_OBJECT

private slots:
    void exponentialUntilCap_data();
    void exponentialUntilCap();
    void jitterBounds_data();
    void jitterBounds();
    void hugeAttempts_data();
    void hugeAttempts();
    void brokenInputsStaySafe();
    void exhaustedBoundary_data();
    void exhaustedBoundary();
    void validatePolicy_data();
    void validatePolicy();
};

void TestRetry::exponentialUntilCap_data()
{
    QTest::addColumn<int>("attempt");
    QTest::addColumn<double>("expected");

    // Defaults: base 1 s, cap 300 s. u = 0.5 makes the jitter factor exactly 1.
    const double expected[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300};
    for (int attempt = 1; attempt <= 12; ++attempt)
        QTest::addRow("attempt %d", attempt) << attempt << expected[attempt - 1];
}

void TestRetry::exponentialUntilCap()
{
    QFETCH(int, attempt);
    QFETCH(double, expected);

    const RetryPolicy policy;
    QCOMPARE(vigil::retryDelaySeconds(policy, attempt, 0.5), expected);

    // Same shape with another base and cap: 0.25·2^(n-1), capped at 10.
    RetryPolicy quick;
    quick.baseSeconds = 0.25;
    quick.capSeconds = 10;
    QCOMPARE(vigil::retryDelaySeconds(quick, attempt, 0.5), std::min(10.0, std::ldexp(0.25, attempt - 1)));
}

void TestRetry::jitterBounds_data()
{
    QTest::addColumn<int>("attempt");
    QTest::addColumn<double>("unjittered");

    QTest::newRow("first") << 1 << 1.0;
    QTest::newRow("fifth") << 5 << 16.0;
    QTest::newRow("capped") << 20 << 300.0;
}

void TestRetry::jitterBounds()
{
    QFETCH(int, attempt);
    QFETCH(double, unjittered);

    const RetryPolicy policy; // jitter 0.2
    const double lowest = vigil::retryDelaySeconds(policy, attempt, 0.0);
    QVERIFY(qFuzzyCompare(lowest, unjittered * 0.8));

    const double almostOne = std::nextafter(1.0, 0.0);
    const double highest = vigil::retryDelaySeconds(policy, attempt, almostOne);
    QVERIFY(highest <= unjittered * 1.2); // u < 1, but 1 + 0.2·(1 - 2^-52) rounds to 1.2
    QVERIFY(qFuzzyCompare(highest, unjittered * 1.2));

    // Monotonic in u, and every draw stays inside the band.
    double previous = -1;
    for (int i = 0; i <= 100; ++i) {
        const double u = std::min(i / 100.0, almostOne);
        const double d = vigil::retryDelaySeconds(policy, attempt, u);
        QVERIFY(d >= previous);
        QVERIFY(d >= unjittered * 0.8 - 1e-12);
        QVERIFY(d <= policy.capSeconds * (1 + policy.jitter));
        previous = d;
    }

    // Out-of-range u is clamped, NaN is neutral.
    QCOMPARE(vigil::retryDelaySeconds(policy, attempt, -3.0), lowest);
    QCOMPARE(vigil::retryDelaySeconds(policy, attempt, 7.0), highest);
    QCOMPARE(vigil::retryDelaySeconds(policy, attempt, std::numeric_limits<double>::quiet_NaN()), unjittered);
}

void TestRetry::hugeAttempts_data()
{
    QTest::addColumn<int>("attempt");

    QTest::newRow("64 (past a 64-bit shift)") << 64;
    QTest::newRow("1000 (2^999 still finite)") << 1000;
    QTest::newRow("1025 (2^1024 overflows a double)") << 1025;
    QTest::newRow("100000") << 100000;
    QTest::newRow("INT_MAX") << std::numeric_limits<int>::max();
}

void TestRetry::hugeAttempts()
{
    QFETCH(int, attempt);

    const RetryPolicy policy;
    QCOMPARE(vigil::retryDelaySeconds(policy, attempt, 0.5), 300.0);
    const double high = vigil::retryDelaySeconds(policy, attempt, std::nextafter(1.0, 0.0));
    QVERIFY(std::isfinite(high));
    QVERIFY(high <= 300.0 * 1.2);
    QVERIFY(qFuzzyCompare(vigil::retryDelaySeconds(policy, attempt, 0.0), 240.0));
}

void TestRetry::brokenInputsStaySafe()
{
    // Attempt counts below 1 are treated as the first retry.
    const RetryPolicy policy;
    QCOMPARE(vigil::retryDelaySeconds(policy, 0, 0.5), 1.0);
    QCOMPARE(vigil::retryDelaySeconds(policy, -5, 0.5), 1.0);
    QCOMPARE(vigil::retryDelaySeconds(policy, std::numeric_limits<int>::min(), 0.5), 1.0);

    // A policy that validateRetryPolicy would refuse still never yields a negative, NaN or infinite delay.
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    RetryPolicy broken;
    for (const double base : {-1.0, 0.0, nan, inf}) {
        for (const double cap : {-1.0, nan, inf, 5.0}) {
            for (const double jitter : {-0.5, 1.5, nan}) {
                broken.baseSeconds = base;
                broken.capSeconds = cap;
                broken.jitter = jitter;
                for (const int attempt : {1, 3, 2000}) {
                    const double d = vigil::retryDelaySeconds(broken, attempt, 0.99);
                    QVERIFY2(std::isfinite(d) && d >= 0,
                        qPrintable(u"base %1 cap %2 jitter %3 → %4"_s.arg(base).arg(cap).arg(jitter).arg(d)));
                }
            }
        }
    }
}

void TestRetry::exhaustedBoundary_data()
{
    QTest::addColumn<int>("maxAttempts");
    QTest::addColumn<int>("attempts");
    QTest::addColumn<bool>("expected");

    QTest::newRow("default, 0 attempts") << 8 << 0 << false;
    QTest::newRow("default, 7 attempts") << 8 << 7 << false;
    QTest::newRow("default, 8 attempts") << 8 << 8 << true;
    QTest::newRow("default, 9 attempts (redelivered)") << 8 << 9 << true;
    QTest::newRow("single attempt, 0") << 1 << 0 << false;
    QTest::newRow("single attempt, 1") << 1 << 1 << true;
    QTest::newRow("invalid max 0 allows one attempt") << 0 << 0 << false;
    QTest::newRow("invalid max 0, 1 attempt") << 0 << 1 << true;
    QTest::newRow("huge max") << std::numeric_limits<int>::max() << std::numeric_limits<int>::max() - 1 << false;
    QTest::newRow("huge max reached") << std::numeric_limits<int>::max() << std::numeric_limits<int>::max() << true;
}

void TestRetry::exhaustedBoundary()
{
    QFETCH(int, maxAttempts);
    QFETCH(int, attempts);
    QFETCH(bool, expected);

    RetryPolicy policy;
    policy.maxAttempts = maxAttempts;
    QCOMPARE(vigil::exhausted(policy, attempts), expected);
}

void TestRetry::validatePolicy_data()
{
    QTest::addColumn<double>("base");
    QTest::addColumn<double>("cap");
    QTest::addColumn<double>("jitter");
    QTest::addColumn<int>("maxAttempts");
    QTest::addColumn<QString>("messageHas"); // empty: valid

    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    QTest::newRow("defaults") << 1.0 << 300.0 << 0.2 << 8 << QString();
    QTest::newRow("cap equals base") << 2.0 << 2.0 << 0.0 << 1 << QString();
    QTest::newRow("tiny base") << 0.001 << 0.001 << 0.999 << 100 << QString();
    QTest::newRow("cap one year") << 1.0 << 365.0 * 86400 << 0.2 << 8 << QString();
    QTest::newRow("base zero") << 0.0 << 300.0 << 0.2 << 8 << u"base"_s;
    QTest::newRow("base negative") << -1.0 << 300.0 << 0.2 << 8 << u"base"_s;
    QTest::newRow("base NaN") << nan << 300.0 << 0.2 << 8 << u"base"_s;
    QTest::newRow("base infinite") << inf << inf << 0.2 << 8 << u"base"_s;
    QTest::newRow("cap below base") << 10.0 << 5.0 << 0.2 << 8 << u"cap"_s;
    QTest::newRow("cap NaN") << 1.0 << nan << 0.2 << 8 << u"cap"_s;
    QTest::newRow("cap infinite") << 1.0 << inf << 0.2 << 8 << u"cap"_s;
    QTest::newRow("cap above one year") << 1.0 << 365.0 * 86400 + 1 << 0.2 << 8 << u"cap"_s;
    QTest::newRow("jitter negative") << 1.0 << 300.0 << -0.1 << 8 << u"jitter"_s;
    QTest::newRow("jitter one") << 1.0 << 300.0 << 1.0 << 8 << u"jitter"_s;
    QTest::newRow("jitter NaN") << 1.0 << 300.0 << nan << 8 << u"jitter"_s;
    QTest::newRow("max attempts zero") << 1.0 << 300.0 << 0.2 << 0 << u"attempts"_s;
    QTest::newRow("max attempts negative") << 1.0 << 300.0 << 0.2 << -3 << u"attempts"_s;
}

void TestRetry::validatePolicy()
{
    QFETCH(double, base);
    QFETCH(double, cap);
    QFETCH(double, jitter);
    QFETCH(int, maxAttempts);
    QFETCH(QString, messageHas);

    RetryPolicy policy;
    policy.baseSeconds = base;
    policy.capSeconds = cap;
    policy.jitter = jitter;
    policy.maxAttempts = maxAttempts;
    const QString message = vigil::validateRetryPolicy(policy);
    if (messageHas.isEmpty()) {
        QVERIFY2(message.isEmpty(), qPrintable(message));
    } else {
        QVERIFY2(message.contains(messageHas, Qt::CaseInsensitive), qPrintable(message));
        QVERIFY(message.endsWith(u'.'));
    }
}

QTEST_APPLESS_MAIN(TestRetry)
#include "tst_retry.moc"
