// Threshold policies (DESIGN.md §5): comparison, for_count streaks, cooldown, defaults and the JSON form.

#include <QJsonArray>
#include <QJsonObject>
#include <QTest>

#include <cmath>
#include <limits>

#include "policy.h"

using namespace Qt::StringLiterals;
using vigil::CompareOp;
using vigil::Policy;
using vigil::PolicyState;

namespace {

Policy makePolicy(CompareOp op, double threshold)
{
    Policy p;
    p.name = u"test"_s;
    p.metricName = u"cpu_usage"_s;
    p.op = op;
    p.threshold = threshold;
    p.action = u"restart_service"_s;
    return p;
}

QJsonObject validJson()
{
    return QJsonObject {{u"name"_s, u"hot"_s}, {u"metric_name"_s, u"cpu_usage"_s}, {u"op"_s, u">"_s},
        {u"threshold"_s, 90}, {u"for_count"_s, 3}, {u"cooldown_s"_s, 60}, {u"action"_s, u"rollback"_s},
        {u"params"_s, QJsonObject()}, {u"enabled"_s, true}};
}

} // namespace

class TestPolicy final : public QObject
{
    Q_OBJECT

private slots:
    void parseOp_data();
    void parseOp();
    void compare_data();
    void compare();
    void disabledAndOtherMetric();
    void advanceSequence_data();
    void advanceSequence();
    void cooldownSuppressesThenAllows();
    void clockGoingBackwards();
    void defaults();
    void jsonRoundTrip_data();
    void jsonRoundTrip();
    void jsonDefaults();
    void badJson_data();
    void badJson();
};

void TestPolicy::parseOp_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<int>("op");

    QTest::newRow(">") << u">"_s << true << int(CompareOp::Gt);
    QTest::newRow(">=") << u">="_s << true << int(CompareOp::Ge);
    QTest::newRow("<") << u"<"_s << true << int(CompareOp::Lt);
    QTest::newRow("<=") << u"<="_s << true << int(CompareOp::Le);
    QTest::newRow("==") << u"=="_s << true << int(CompareOp::Eq);
    QTest::newRow("=") << u"="_s << false << 0;
    QTest::newRow("=>") << u"=>"_s << false << 0;
    QTest::newRow("!=") << u"!="_s << false << 0;
    QTest::newRow("gt") << u"gt"_s << false << 0;
    QTest::newRow("padded") << u" > "_s << false << 0;
    QTest::newRow(">>") << u">>"_s << false << 0;
    QTest::newRow("empty") << QString() << false << 0;
}

void TestPolicy::parseOp()
{
    QFETCH(QString, text);
    QFETCH(bool, valid);
    QFETCH(int, op);

    CompareOp parsed = CompareOp::Lt;
    QCOMPARE(vigil::parseCompareOp(text, &parsed), valid);
    if (valid) {
        QCOMPARE(int(parsed), op);
        QCOMPARE(vigil::compareOpText(parsed), text);
    } else {
        QCOMPARE(parsed, CompareOp::Lt); // untouched on failure
    }
}

void TestPolicy::compare_data()
{
    QTest::addColumn<QString>("op");
    QTest::addColumn<double>("threshold");
    QTest::addColumn<double>("value");
    QTest::addColumn<bool>("expected");

    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    QTest::newRow("> above") << u">"_s << 90.0 << 90.5 << true;
    QTest::newRow("> equal") << u">"_s << 90.0 << 90.0 << false;
    QTest::newRow("> below") << u">"_s << 90.0 << 89.9 << false;
    QTest::newRow("> negative threshold") << u">"_s << -5.0 << -4.0 << true;
    QTest::newRow(">= equal") << u">="_s << 90.0 << 90.0 << true;
    QTest::newRow(">= below") << u">="_s << 90.0 << 89.999 << false;
    QTest::newRow(">= rounding below") << u">="_s << 0.3 << 0.1 + 0.2 - 1e-16 << true;
    QTest::newRow("< below") << u"<"_s << 10.0 << 9.0 << true;
    QTest::newRow("< equal") << u"<"_s << 10.0 << 10.0 << false;
    QTest::newRow("<= equal") << u"<="_s << 10.0 << 10.0 << true;
    QTest::newRow("<= above") << u"<="_s << 10.0 << 10.5 << false;
    QTest::newRow("== exact") << u"=="_s << 42.0 << 42.0 << true;
    QTest::newRow("== 0.1+0.2 vs 0.3") << u"=="_s << 0.3 << 0.1 + 0.2 << true;
    QTest::newRow("== relative 1e-10 off") << u"=="_s << 1e6 << 1e6 * (1 + 1e-10) << true;
    QTest::newRow("== relative 1e-8 off") << u"=="_s << 1e6 << 1e6 * (1 + 1e-8) << false;
    QTest::newRow("== different") << u"=="_s << 0.3 << 0.3001 << false;
    QTest::newRow("== zero threshold, rounding") << u"=="_s << 0.0 << 1e-13 << true;
    QTest::newRow("== zero threshold, small value") << u"=="_s << 0.0 << 1e-6 << false;
    QTest::newRow("== negative") << u"=="_s << -2.5 << -2.5 << true;
    QTest::newRow("> NaN never breaches") << u">"_s << 0.0 << nan << false;
    QTest::newRow("< NaN never breaches") << u"<"_s << 0.0 << nan << false;
    QTest::newRow("== NaN never breaches") << u"=="_s << 0.0 << nan << false;
    QTest::newRow("> infinity") << u">"_s << 1e300 << inf << true;
}

void TestPolicy::compare()
{
    QFETCH(QString, op);
    QFETCH(double, threshold);
    QFETCH(double, value);
    QFETCH(bool, expected);

    CompareOp parsed {};
    QVERIFY(vigil::parseCompareOp(op, &parsed));
    const Policy p = makePolicy(parsed, threshold);
    QCOMPARE(vigil::breaches(p, u"cpu_usage"_s, value), expected);
}

void TestPolicy::disabledAndOtherMetric()
{
    Policy p = makePolicy(CompareOp::Gt, 90);
    QVERIFY(vigil::breaches(p, u"cpu_usage"_s, 95));
    QVERIFY(!vigil::breaches(p, u"memory_usage"_s, 95));
    QVERIFY(!vigil::breaches(p, u"CPU_USAGE"_s, 95)); // metric names are case-sensitive, as in Prometheus
    QVERIFY(!vigil::breaches(p, QString(), 95));
    p.enabled = false;
    QVERIFY(!vigil::breaches(p, u"cpu_usage"_s, 95));
}

void TestPolicy::advanceSequence_data()
{
    QTest::addColumn<int>("forCount");
    QTest::addColumn<int>("cooldownSeconds");
    QTest::addColumn<int>("stepMs");
    QTest::addColumn<QString>("evaluations"); // 'B' breach, '.' no breach; one per step
    QTest::addColumn<QString>("expected"); // 'F' fires, '-' does not

    QTest::newRow("for 1, no cooldown") << 1 << 0 << 1000 << u"BBB"_s << u"FFF"_s;
    QTest::newRow("for 3") << 3 << 0 << 1000 << u"BBB"_s << u"--F"_s;
    QTest::newRow("for 3, reset in between") << 3 << 0 << 1000 << u"BB.BBB"_s << u"-----F"_s;
    QTest::newRow("for 3, reset just before") << 3 << 0 << 1000 << u"BB.B.BBB"_s << u"-------F"_s;
    QTest::newRow("for 3, firing restarts the streak") << 3 << 0 << 1000 << u"BBBBBBB"_s << u"--F--F-"_s;
    QTest::newRow("for 1, cooldown 3 s") << 1 << 3 << 1000 << u"BBBBBB"_s << u"F--F--"_s;
    QTest::newRow("for 2, cooldown 3 s, streak held") << 2 << 3 << 1000 << u"BBBBBBBB"_s << u"-F--F--F"_s;
    QTest::newRow("for 1, cooldown 5 s, gaps") << 1 << 5 << 1000 << u"B.B.B.B"_s << u"F-----F"_s;
    QTest::newRow("for 2, non-breach in cooldown resets") << 2 << 3 << 1000 << u"BBB.BBB"_s << u"-F---F-"_s;
    QTest::newRow("default cooldown 30 s, 10 s steps") << 1 << 30 << 10000 << u"BBBBB"_s << u"F--F-"_s;
    QTest::newRow("for_count 0 acts as 1") << 0 << 0 << 1000 << u"B.B"_s << u"F-F"_s;
    QTest::newRow("never breached") << 1 << 0 << 1000 << u"...."_s << u"----"_s;
}

void TestPolicy::advanceSequence()
{
    QFETCH(int, forCount);
    QFETCH(int, cooldownSeconds);
    QFETCH(int, stepMs);
    QFETCH(QString, evaluations);
    QFETCH(QString, expected);

    Policy p = makePolicy(CompareOp::Gt, 90);
    p.forCount = forCount;
    p.cooldownSeconds = cooldownSeconds;
    PolicyState state;
    QString fired;
    const qint64 start = 1768824000000; // a real epoch, so lastFiredMs -1 is clearly "never"
    for (qsizetype i = 0; i < evaluations.size(); ++i) {
        const bool breached = evaluations[i] == u'B';
        fired += vigil::advance(p, state, breached, start + i * stepMs) ? u'F' : u'-';
        QVERIFY(state.streak >= 0 && state.streak <= std::max(1, forCount));
    }
    QCOMPARE(fired, expected);
}

void TestPolicy::cooldownSuppressesThenAllows()
{
    Policy p = makePolicy(CompareOp::Gt, 90);
    p.forCount = 3;
    p.cooldownSeconds = 30;
    PolicyState state;

    QVERIFY(!vigil::advance(p, state, true, 0));
    QVERIFY(!vigil::advance(p, state, true, 1000));
    QVERIFY(vigil::advance(p, state, true, 2000));
    QCOMPARE(state.streak, 0);
    QCOMPARE(state.lastFiredMs, qint64(2000));

    // The incident goes on: the streak refills and then waits at forCount for the cooldown.
    for (qint64 t = 3000; t < 32000; t += 1000) {
        QVERIFY2(!vigil::advance(p, state, true, t), qPrintable(QString::number(t)));
        QVERIFY(state.streak <= 3);
    }
    QCOMPARE(state.streak, 3);
    QCOMPARE(state.lastFiredMs, qint64(2000));
    QVERIFY(vigil::advance(p, state, true, 32000)); // exactly 30 s after the last firing
    QCOMPARE(state.lastFiredMs, qint64(32000));
    QCOMPARE(state.streak, 0);
}

void TestPolicy::clockGoingBackwards()
{
    Policy p = makePolicy(CompareOp::Gt, 90);
    p.cooldownSeconds = 30;
    PolicyState state;
    QVERIFY(vigil::advance(p, state, true, 100000));
    QVERIFY(!vigil::advance(p, state, true, 50000)); // earlier than the last firing: still cooling down
    QVERIFY(vigil::advance(p, state, true, 130000));

    p.cooldownSeconds = 0; // without a cooldown the clock does not matter
    QVERIFY(vigil::advance(p, state, true, 10));
}

void TestPolicy::defaults()
{
    const QList<Policy> policies = vigil::defaultPolicies();
    QCOMPARE(policies.size(), 4);
    struct Expected
    {
        QString name, metric, action;
        double threshold;
    };
    const Expected expected[] = {
        {u"high-cpu"_s, u"cpu_usage"_s, u"restart_service"_s, 90},
        {u"high-memory"_s, u"memory_usage"_s, u"clear_cache"_s, 85},
        {u"high-error-rate"_s, u"error_rate"_s, u"rollback"_s, 5},
        {u"disk-full"_s, u"disk_usage"_s, u"expand_volume"_s, 95},
    };
    for (int i = 0; i < 4; ++i) {
        const Policy &p = policies[i];
        QCOMPARE(p.name, expected[i].name);
        QCOMPARE(p.metricName, expected[i].metric);
        QCOMPARE(p.action, expected[i].action);
        QCOMPARE(p.threshold, expected[i].threshold);
        QCOMPARE(p.op, CompareOp::Gt);
        QCOMPARE(p.forCount, 1);
        QCOMPARE(p.cooldownSeconds, 30);
        QVERIFY(p.enabled);
        QCOMPARE(p.id, qint64(0));
        QVERIFY(p.params.isEmpty());
        QVERIFY(vigil::breaches(p, p.metricName, p.threshold + 0.5));
        QVERIFY(!vigil::breaches(p, p.metricName, p.threshold));

        // Each default survives its own JSON form.
        Policy back;
        QVERIFY(!vigil::policyFromJson(vigil::policyToJson(p), &back));
        QCOMPARE(back.name, p.name);
    }
}

void TestPolicy::jsonRoundTrip_data()
{
    QTest::addColumn<qint64>("id");
    QTest::addColumn<int>("op");
    QTest::addColumn<double>("threshold");
    QTest::addColumn<int>("forCount");
    QTest::addColumn<int>("cooldown");
    QTest::addColumn<bool>("enabled");
    QTest::addColumn<QJsonObject>("params");

    QTest::newRow("plain") << qint64(1) << int(CompareOp::Gt) << 90.0 << 1 << 30 << true << QJsonObject();
    QTest::newRow("eq, disabled, params")
        << qint64(42) << int(CompareOp::Eq) << 0.3 << 5 << 0 << false
        << QJsonObject {{u"service"_s, u"api"_s}, {u"timeout_ms"_s, 2000}, {u"args"_s, QJsonArray {u"-f"_s}}};
    QTest::newRow("negative fractional") << qint64(7) << int(CompareOp::Le) << -12.625 << 2 << 3600 << true
                                         << QJsonObject();
    QTest::newRow("largest id") << qint64(9007199254740991) << int(CompareOp::Ge) << 1e-9 << 1000000 << 31536000 << true
                                << QJsonObject();
    QTest::newRow("lt") << qint64(0) << int(CompareOp::Lt) << 1e300 << 1 << 1 << true << QJsonObject();
}

void TestPolicy::jsonRoundTrip()
{
    QFETCH(qint64, id);
    QFETCH(int, op);
    QFETCH(double, threshold);
    QFETCH(int, forCount);
    QFETCH(int, cooldown);
    QFETCH(bool, enabled);
    QFETCH(QJsonObject, params);

    Policy p;
    p.id = id;
    p.name = u"Disk nearly full (eu-west) ✓"_s;
    p.metricName = u"node:disk_usage.percent"_s;
    p.op = static_cast<CompareOp>(op);
    p.threshold = threshold;
    p.forCount = forCount;
    p.cooldownSeconds = cooldown;
    p.action = u"expand_volume"_s;
    p.params = params;
    p.enabled = enabled;

    const QJsonObject json = vigil::policyToJson(p);
    QStringList keys = json.keys();
    keys.sort();
    QCOMPARE(keys,
        QStringList({u"action"_s, u"cooldown_s"_s, u"enabled"_s, u"for_count"_s, u"id"_s, u"metric_name"_s, u"name"_s,
            u"op"_s, u"params"_s, u"threshold"_s}));
    QCOMPARE(json.value(u"op"_s).toString(), vigil::compareOpText(p.op));

    Policy back;
    const auto error = vigil::policyFromJson(json, &back);
    QVERIFY2(!error, error ? qPrintable(*error) : "");
    QCOMPARE(back.id, p.id);
    QCOMPARE(back.name, p.name);
    QCOMPARE(back.metricName, p.metricName);
    QCOMPARE(back.op, p.op);
    QCOMPARE(back.threshold, p.threshold);
    QCOMPARE(back.forCount, p.forCount);
    QCOMPARE(back.cooldownSeconds, p.cooldownSeconds);
    QCOMPARE(back.action, p.action);
    QCOMPARE(back.params, p.params);
    QCOMPARE(back.enabled, p.enabled);
}

void TestPolicy::jsonDefaults()
{
    const QJsonObject minimal {
        {u"name"_s, u"n"_s}, {u"metric_name"_s, u"m"_s}, {u"op"_s, u"<"_s}, {u"threshold"_s, 1}, {u"action"_s, u"a"_s}};
    Policy p;
    QVERIFY(!vigil::policyFromJson(minimal, &p));
    QCOMPARE(p.id, qint64(0));
    QCOMPARE(p.forCount, 1);
    QCOMPARE(p.cooldownSeconds, 0);
    QVERIFY(p.params.isEmpty());
    QVERIFY(p.enabled);

    QJsonObject nulls = minimal;
    for (const QString &key : {u"id"_s, u"for_count"_s, u"cooldown_s"_s, u"params"_s, u"enabled"_s})
        nulls.insert(key, QJsonValue::Null);
    QVERIFY(!vigil::policyFromJson(nulls, &p));
    QCOMPARE(p.forCount, 1);
    QVERIFY(p.enabled);
}

void TestPolicy::badJson_data()
{
    QTest::addColumn<QJsonObject>("json");
    QTest::addColumn<QString>("field"); // named in the message as 'field'

    const auto change = [](const QString &key, const QJsonValue &value) {
        QJsonObject o = validJson();
        if (value.isUndefined())
            o.remove(key);
        else
            o.insert(key, value);
        return o;
    };
    const QJsonValue remove(QJsonValue::Undefined);

    QTest::newRow("unknown field") << change(u"threshhold"_s, 5) << u"threshhold"_s;
    QTest::newRow("id negative") << change(u"id"_s, -1) << u"id"_s;
    QTest::newRow("id fractional") << change(u"id"_s, 1.5) << u"id"_s;
    QTest::newRow("id 2^53") << change(u"id"_s, 9007199254740992.0) << u"id"_s;
    QTest::newRow("id string") << change(u"id"_s, u"7"_s) << u"id"_s;
    QTest::newRow("name missing") << change(u"name"_s, remove) << u"name"_s;
    QTest::newRow("name null") << change(u"name"_s, QJsonValue::Null) << u"name"_s;
    QTest::newRow("name empty") << change(u"name"_s, QString()) << u"name"_s;
    QTest::newRow("name number") << change(u"name"_s, 1) << u"name"_s;
    QTest::newRow("name newline") << change(u"name"_s, u"a\nb"_s) << u"name"_s;
    QTest::newRow("name 129") << change(u"name"_s, QString(129, u'n')) << u"name"_s;
    QTest::newRow("metric missing") << change(u"metric_name"_s, remove) << u"metric_name"_s;
    QTest::newRow("metric leading digit") << change(u"metric_name"_s, u"9cpu"_s) << u"metric_name"_s;
    QTest::newRow("metric array") << change(u"metric_name"_s, QJsonArray()) << u"metric_name"_s;
    QTest::newRow("op missing") << change(u"op"_s, remove) << u"op"_s;
    QTest::newRow("op =>") << change(u"op"_s, u"=>"_s) << u"op"_s;
    QTest::newRow("op !=") << change(u"op"_s, u"!="_s) << u"op"_s;
    QTest::newRow("op number") << change(u"op"_s, 1) << u"op"_s;
    QTest::newRow("threshold missing") << change(u"threshold"_s, remove) << u"threshold"_s;
    QTest::newRow("threshold string") << change(u"threshold"_s, u"90"_s) << u"threshold"_s;
    QTest::newRow("threshold bool") << change(u"threshold"_s, true) << u"threshold"_s;
    QTest::newRow("threshold infinite") << change(u"threshold"_s, std::numeric_limits<double>::infinity())
                                        << u"threshold"_s;
    QTest::newRow("for_count 0") << change(u"for_count"_s, 0) << u"for_count"_s;
    QTest::newRow("for_count negative") << change(u"for_count"_s, -2) << u"for_count"_s;
    QTest::newRow("for_count fractional") << change(u"for_count"_s, 1.5) << u"for_count"_s;
    QTest::newRow("for_count string") << change(u"for_count"_s, u"3"_s) << u"for_count"_s;
    QTest::newRow("for_count too large") << change(u"for_count"_s, 1000001) << u"for_count"_s;
    QTest::newRow("cooldown negative") << change(u"cooldown_s"_s, -1) << u"cooldown_s"_s;
    QTest::newRow("cooldown fractional") << change(u"cooldown_s"_s, 0.5) << u"cooldown_s"_s;
    QTest::newRow("cooldown too large") << change(u"cooldown_s"_s, 31536001) << u"cooldown_s"_s;
    QTest::newRow("cooldown bool") << change(u"cooldown_s"_s, false) << u"cooldown_s"_s;
    QTest::newRow("action missing") << change(u"action"_s, remove) << u"action"_s;
    QTest::newRow("action empty") << change(u"action"_s, QString()) << u"action"_s;
    QTest::newRow("action with space") << change(u"action"_s, u"restart service"_s) << u"action"_s;
    QTest::newRow("params array") << change(u"params"_s, QJsonArray()) << u"params"_s;
    QTest::newRow("params string") << change(u"params"_s, u"{}"_s) << u"params"_s;
    QTest::newRow("enabled string") << change(u"enabled"_s, u"true"_s) << u"enabled"_s;
    QTest::newRow("enabled number") << change(u"enabled"_s, 1) << u"enabled"_s;
}

void TestPolicy::badJson()
{
    QFETCH(QJsonObject, json);
    QFETCH(QString, field);

    Policy out;
    out.name = u"untouched"_s;
    const std::optional<QString> error = vigil::policyFromJson(json, &out);
    QVERIFY(error);
    QVERIFY2(error->contains(u"'"_s + field + u"'"_s), qPrintable(*error));
    QVERIFY2(error->endsWith(u'.'), qPrintable(*error));
    QCOMPARE(out.name, u"untouched"_s);
}

QTEST_APPLESS_MAIN(TestPolicy)
#include "tst_policy.moc"
