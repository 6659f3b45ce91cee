// Simulator start parameters (DESIGN.md §4): what parseSimConfig accepts, and which parameter
// an error names.
#include "sim/simulator.h"

#include <QUrlQuery>
#include <QtTest>

using namespace vigil;

class TestSimConfig final : public QObject
{
    Q_OBJECT

private slots:
    void parse_data();
    void parse();
    void values();
    void chaosDefaults();
    void absentKeepBase();
    void errorLeavesConfigUntouched();
};

void TestSimConfig::parse_data()
{
    QTest::addColumn<QString>("query");
    QTest::addColumn<QString>("field"); // empty: valid

    // Valid.
    QTest::newRow("empty") << QString() << QString();
    QTest::newRow("seed example") << QStringLiteral(
        "rate=500&mode=burst&failure_rate=0.05&timeout_rate=0.02&malformed_rate=0.01")
                                  << QString();
    QTest::newRow("rate min") << QStringLiteral("rate=1") << QString();
    QTest::newRow("rate max") << QStringLiteral("rate=1000000") << QString();
    QTest::newRow("rate fractional") << QStringLiteral("rate=0.5e2") << QString();
    QTest::newRow("mode upper case") << QStringLiteral("mode=RAMP") << QString();
    QTest::newRow("shares at bounds") << QStringLiteral("failure_rate=0&timeout_rate=1") << QString();
    QTest::newRow("shares sum to 1") << QStringLiteral("failure_rate=0.5&timeout_rate=0.25&malformed_rate=0.25")
                                     << QString();
    QTest::newRow("duration seconds") << QStringLiteral("duration=90") << QString();
    QTest::newRow("duration minutes") << QStringLiteral("duration=5m") << QString();
    QTest::newRow("duration zero") << QStringLiteral("duration=0") << QString();
    QTest::newRow("seed") << QStringLiteral("seed=42") << QString();
    QTest::newRow("seed 2^53-1") << QStringLiteral("seed=9007199254740991") << QString();
    QTest::newRow("target") << QStringLiteral("target=http%3A%2F%2F127.0.0.1%3A9000") << QString();
    QTest::newRow("target https with path") << QStringLiteral("target=https://vigil.example:8443/base") << QString();
    QTest::newRow("target empty = embedded") << QStringLiteral("target=") << QString();
    QTest::newRow("client timeout") << QStringLiteral("client_timeout_ms=500") << QString();
    QTest::newRow("metrics") << QStringLiteral("metrics=cpu_usage,disk_usage") << QString();
    QTest::newRow("sources") << QStringLiteral("sources=10") << QString();

    // Invalid: the error names the parameter.
    QTest::newRow("rate zero") << QStringLiteral("rate=0") << QStringLiteral("rate");
    QTest::newRow("rate too high") << QStringLiteral("rate=1000001") << QStringLiteral("rate");
    QTest::newRow("rate negative") << QStringLiteral("rate=-5") << QStringLiteral("rate");
    QTest::newRow("rate not a number") << QStringLiteral("rate=fast") << QStringLiteral("rate");
    QTest::newRow("rate empty") << QStringLiteral("rate=") << QStringLiteral("rate");
    QTest::newRow("rate NaN") << QStringLiteral("rate=nan") << QStringLiteral("rate");
    QTest::newRow("rate inf") << QStringLiteral("rate=inf") << QStringLiteral("rate");
    QTest::newRow("rate trailing junk") << QStringLiteral("rate=10x") << QStringLiteral("rate");
    QTest::newRow("mode unknown") << QStringLiteral("mode=spike") << QStringLiteral("mode");
    QTest::newRow("mode empty") << QStringLiteral("mode=") << QStringLiteral("mode");
    QTest::newRow("failure_rate > 1") << QStringLiteral("failure_rate=1.5") << QStringLiteral("failure_rate");
    QTest::newRow("failure_rate negative") << QStringLiteral("failure_rate=-0.1") << QStringLiteral("failure_rate");
    QTest::newRow("timeout_rate NaN") << QStringLiteral("timeout_rate=NaN") << QStringLiteral("timeout_rate");
    QTest::newRow("malformed_rate text") << QStringLiteral("malformed_rate=some") << QStringLiteral("malformed_rate");
    QTest::newRow("shares sum > 1") << QStringLiteral("failure_rate=0.6&timeout_rate=0.5")
                                    << QStringLiteral("timeout_rate");
    QTest::newRow("duration negative") << QStringLiteral("duration=-1") << QStringLiteral("duration");
    QTest::newRow("duration unit") << QStringLiteral("duration=5d") << QStringLiteral("duration");
    QTest::newRow("duration too long") << QStringLiteral("duration=1000h") << QStringLiteral("duration");
    QTest::newRow("seed negative") << QStringLiteral("seed=-1") << QStringLiteral("seed");
    QTest::newRow("seed fractional") << QStringLiteral("seed=1.5") << QStringLiteral("seed");
    QTest::newRow("seed 2^53") << QStringLiteral("seed=9007199254740992") << QStringLiteral("seed");
    QTest::newRow("target ftp") << QStringLiteral("target=ftp://host/") << QStringLiteral("target");
    QTest::newRow("target no host") << QStringLiteral("target=http://") << QStringLiteral("target");
    QTest::newRow("target relative") << QStringLiteral("target=localhost:8000") << QStringLiteral("target");
    QTest::newRow("client timeout too small")
        << QStringLiteral("client_timeout_ms=10") << QStringLiteral("client_timeout_ms");
    QTest::newRow("client timeout text") << QStringLiteral("client_timeout_ms=2s")
                                         << QStringLiteral("client_timeout_ms");
    QTest::newRow("metrics bad name") << QStringLiteral("metrics=cpu usage") << QStringLiteral("metrics");
    QTest::newRow("metrics empty item") << QStringLiteral("metrics=cpu_usage,,disk_usage") << QStringLiteral("metrics");
    QTest::newRow("sources zero") << QStringLiteral("sources=0") << QStringLiteral("sources");
    QTest::newRow("unknown parameter") << QStringLiteral("rate=10&colour=blue") << QStringLiteral("colour");
    QTest::newRow("typo of a parameter") << QStringLiteral("failure-rate=0.1") << QStringLiteral("failure-rate");
    QTest::newRow("repeated parameter") << QStringLiteral("rate=10&rate=20") << QStringLiteral("rate");
}

void TestSimConfig::parse()
{
    QFETCH(QString, query);
    QFETCH(QString, field);
    SimConfig config;
    const auto error = parseSimConfig(QUrlQuery(query), &config);
    if (field.isEmpty()) {
        QVERIFY2(!error, qPrintable(error ? error->field + QStringLiteral(": ") + error->message : QString()));
    } else {
        QVERIFY(error);
        QCOMPARE(error->field, field);
        QVERIFY(!error->message.isEmpty());
    }
}

void TestSimConfig::values()
{
    SimConfig c;
    QVERIFY(!parseSimConfig(QUrlQuery(QStringLiteral("rate=500&mode=burst&failure_rate=0.05&timeout_rate=0.02&"
                                                     "malformed_rate=0.01&duration=2m&seed=7&target=http://h:1&"
                                                     "client_timeout_ms=750&metrics=cpu_usage&sources=3")),
        &c));
    QCOMPARE(c.ratePerMin, 500.0);
    QCOMPARE(c.mode, SimMode::Burst);
    QCOMPARE(c.failureRate, 0.05);
    QCOMPARE(c.timeoutRate, 0.02);
    QCOMPARE(c.malformedRate, 0.01);
    QCOMPARE(c.durationSeconds, 120.0);
    QCOMPARE(c.seed, quint64(7));
    QVERIFY(c.seedGiven);
    QCOMPARE(c.target, QUrl(QStringLiteral("http://h:1")));
    QCOMPARE(c.clientTimeoutMs, 750);
    QCOMPARE(c.metrics, QStringList {QStringLiteral("cpu_usage")});
    QCOMPARE(c.sources, 3);

    // An empty target goes back to the embedded server.
    QVERIFY(!parseSimConfig(QUrlQuery(QStringLiteral("target=")), &c));
    QVERIFY(c.target.isEmpty());
}

void TestSimConfig::chaosDefaults()
{
    SimConfig c;
    QVERIFY(!parseSimConfig(QUrlQuery(QStringLiteral("mode=chaos")), &c));
    QCOMPARE(c.mode, SimMode::Chaos);
    QCOMPARE(c.failureRate, 0.10);
    QCOMPARE(c.timeoutRate, 0.05);
    QCOMPARE(c.malformedRate, 0.02);

    // Given shares win over the chaos defaults.
    SimConfig d;
    QVERIFY(!parseSimConfig(QUrlQuery(QStringLiteral("mode=chaos&failure_rate=0.3&malformed_rate=0")), &d));
    QCOMPARE(d.failureRate, 0.3);
    QCOMPARE(d.timeoutRate, 0.05);
    QCOMPARE(d.malformedRate, 0.0);

    // Already in chaos (a live change): the running shares stay.
    QVERIFY(!parseSimConfig(QUrlQuery(QStringLiteral("mode=chaos&rate=1200")), &d));
    QCOMPARE(d.failureRate, 0.3);
    QCOMPARE(d.ratePerMin, 1200.0);
}

void TestSimConfig::absentKeepBase()
{
    SimConfig base;
    base.ratePerMin = 1234;
    base.mode = SimMode::Ramp;
    base.failureRate = 0.2;
    base.durationSeconds = 60;
    base.seed = 9;
    base.seedGiven = true;
    SimConfig c = base;
    QVERIFY(!parseSimConfig(QUrlQuery(QStringLiteral("rate=99")), &c));
    QCOMPARE(c.ratePerMin, 99.0);
    QCOMPARE(c.mode, SimMode::Ramp);
    QCOMPARE(c.failureRate, 0.2);
    QCOMPARE(c.durationSeconds, 60.0);
    QCOMPARE(c.seed, quint64(9));
    QVERIFY(c.seedGiven);
}

void TestSimConfig::errorLeavesConfigUntouched()
{
    SimConfig c;
    c.ratePerMin = 77;
    QVERIFY(parseSimConfig(QUrlQuery(QStringLiteral("rate=10&mode=nope")), &c));
    QCOMPARE(c.ratePerMin, 77.0);
    QCOMPARE(c.mode, SimMode::Steady);
}

QTEST_APPLESS_MAIN(TestSimConfig)
#include "tst_simconfig.moc"
