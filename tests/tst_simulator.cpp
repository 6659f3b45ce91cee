// The simulator end to end against a small fake Vigil (a QTcpServer speaking just enough HTTP/1.1):
// accounting reconciles, faults are injected and recovered from, timeouts are retried with the
// same idempotency key, and a target that ignores fault markers is reported.
#include "metrics.h"
#include "sim/simulator.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QMutex>
#include <QMutexLocker>
#include <QPointer>
#include <QSet>
#include <QTcpServer>
#include <QTcpSocket>
#include <QThread>
#include <QTimer>
#include <QtTest>

#include <cmath>
#include <memory>

using namespace vigil;

namespace {

// Answers POST /api/v1/ingest like the real server would, as far as the simulator can tell.
class FakeVigil final : public QTcpServer
{
public:
    bool honourFaults = true;
    int rateLimitFirst = 0; // answer the first n requests 429 with Retry-After: 0

    int requests = 0;
    int injectedErrors = 0;
    int delayed = 0;
    int rejected = 0;
    int duplicates = 0;
    QSet<QByteArray> stored; // idempotency keys of stored events
    QByteArrayList authorizations;

    explicit FakeVigil(QObject *parent = nullptr)
        : QTcpServer(parent)
    {
        connect(this, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket *socket = nextPendingConnection()) {
                connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
                connect(socket, &QTcpSocket::readyRead, this, [this, socket] { onReadyRead(socket); });
            }
        });
    }

private:
    struct Request
    {
        QHash<QByteArray, QByteArray> headers; // lower-case names
        QByteArray body;
    };

    void onReadyRead(QTcpSocket *socket)
    {
        QByteArray &buffer = m_buffers[socket];
        buffer += socket->readAll();
        for (;;) {
            const qsizetype end = buffer.indexOf("\r\n\r\n");
            if (end < 0)
                return;
            Request request;
            const QList<QByteArray> lines = buffer.left(end).split('\n');
            for (qsizetype i = 1; i < lines.size(); ++i) {
                const QByteArray line = lines.at(i).trimmed();
                const qsizetype colon = line.indexOf(':');
                if (colon > 0)
                    request.headers.insert(line.left(colon).trimmed().toLower(), line.mid(colon + 1).trimmed());
            }
            const qsizetype length = request.headers.value("content-length").toLongLong();
            if (buffer.size() < end + 4 + length)
                return;
            request.body = buffer.mid(end + 4, length);
            buffer.remove(0, end + 4 + length);
            handle(socket, request);
        }
    }

    static void answer(QTcpSocket *socket, int status, const QByteArray &body, const QByteArray &extra = {})
    {
        if (!socket || socket->state() != QAbstractSocket::ConnectedState)
            return;
        socket->write("HTTP/1.1 " + QByteArray::number(status) + " X\r\nContent-Type: application/json\r\n"
            + "Content-Length: " + QByteArray::number(body.size()) + "\r\n" + extra + "\r\n" + body);
    }

    void handle(QTcpSocket *socket, const Request &request)
    {
        ++requests;
        authorizations.append(request.headers.value("authorization"));
        if (requests <= rateLimitFirst) {
            answer(socket, 429, R"({"ok":false})", "Retry-After: 0\r\n");
            return;
        }
        const QByteArray fault = honourFaults ? request.headers.value("x-vigil-fault") : QByteArray();
        if (fault == "error") {
            ++injectedErrors;
            answer(socket, 500, R"({"ok":false,"error":{"code":"injected_fault"}})", "X-Vigil-Injected: error\r\n");
            return;
        }
        QJsonParseError error;
        const QJsonDocument doc = QJsonDocument::fromJson(request.body, &error);
        const QJsonObject o = doc.object();
        static const QStringList allowed {QStringLiteral("metric_name"), QStringLiteral("value"),
            QStringLiteral("source"), QStringLiteral("timestamp"), QStringLiteral("labels"),
            QStringLiteral("idempotency_key")};
        bool valid = error.error == QJsonParseError::NoError && doc.isObject() && o.value(u"value").isDouble()
            && std::isfinite(o.value(u"value").toDouble()) && o.value(u"metric_name").isString()
            && !o.value(u"metric_name").toString().isEmpty() && o.value(u"metric_name").toString().size() <= 128;
        for (auto it = o.begin(); valid && it != o.end(); ++it)
            valid = allowed.contains(it.key());
        if (!valid) {
            ++rejected;
            answer(socket, 400, R"({"ok":false})");
            return;
        }
        const QByteArray key = o.value(u"idempotency_key").toString().toUtf8();
        const bool duplicate = stored.contains(key);
        stored.insert(key);
        if (duplicate)
            ++duplicates;
        const int status = duplicate ? 200 : 202;
        if (fault.startsWith("delay=")) {
            // Stored, then the answer is held: the client gives up first and retries with the same key.
            ++delayed;
            QPointer<QTcpSocket> guard(socket);
            QTimer::singleShot(fault.mid(6).toInt(), this,
                [guard, status] { answer(guard, status, R"({"ok":true,"id":1})", "X-Vigil-Injected: delay\r\n"); });
            return;
        }
        answer(socket, status, R"({"ok":true,"id":1})");
    }

    QHash<QTcpSocket *, QByteArray> m_buffers;
};

// Results handed back from the simulator thread.
struct Callback
{
    QMutex mutex;
    bool called = false;
    QJsonObject status;

    Simulator::StatusCallback make()
    {
        return [this](const QJsonObject &s) {
            QMutexLocker lock(&mutex);
            called = true;
            status = s;
        };
    }
    bool wasCalled()
    {
        QMutexLocker lock(&mutex);
        return called;
    }
};

QJsonObject metricsOf(const QJsonObject &status)
{
    return status.value(u"simulator").toObject().value(u"metrics").toObject();
}

qint64 count(const QJsonObject &status, const char *key)
{
    return metricsOf(status).value(QLatin1String(key)).toInteger(-1);
}

bool reconciles(const QJsonObject &s)
{
    return count(s, "events_generated")
        == count(s, "events_succeeded") + count(s, "events_failed") + count(s, "events_dropped")
        + count(s, "events_in_flight");
}

} // namespace

class TestSimulator final : public QObject
{
    Q_OBJECT

private slots:
    void init();
    void cleanup();
    void statusBeforeAnyRun();
    void faultsRecoverAndReconcile();
    void ignoredMarkersAreReported();
    void rateLimitedIsRetried();
    void stopDrainsAndLiveChange();

private:
    SimConfig baseConfig() const;
    bool idle() const { return !m_sim->isRunning() && count(m_sim->status(), "events_in_flight") == 0; }

    std::unique_ptr<MetricsRegistry> m_metrics;
    std::unique_ptr<FakeVigil> m_server;
    std::unique_ptr<QThread> m_thread;
    std::unique_ptr<Simulator> m_sim;
};

void TestSimulator::init()
{
    m_metrics = std::make_unique<MetricsRegistry>();
    m_server = std::make_unique<FakeVigil>();
    QVERIFY(m_server->listen(QHostAddress::LocalHost, 0));
    // Like Backend: the simulator lives on its own thread.
    m_thread = std::make_unique<QThread>();
    m_sim = std::make_unique<Simulator>(*m_metrics);
    m_sim->moveToThread(m_thread.get());
    m_thread->start();
    m_sim->setDefaultTarget(QUrl(QStringLiteral("http://127.0.0.1:%1").arg(m_server->serverPort())));
}

void TestSimulator::cleanup()
{
    m_sim->shutdown(3000);
    QVERIFY(!m_sim->isRunning());
    QCOMPARE(count(m_sim->status(), "events_in_flight"), 0);
    m_thread->quit();
    QVERIFY(m_thread->wait(5000));
    m_sim.reset();
    m_thread.reset();
    m_server.reset();
    m_metrics.reset();
}

SimConfig TestSimulator::baseConfig() const
{
    SimConfig c;
    c.ratePerMin = 6000; // 100 per second
    c.durationSeconds = 1.5;
    c.seed = 42;
    c.seedGiven = true;
    c.clientTimeoutMs = 1000; // generous: sanitizer and valgrind runs are slow
    return c;
}

void TestSimulator::statusBeforeAnyRun()
{
    const QJsonObject s = m_sim->status();
    QCOMPARE(s.value(u"ok").toBool(), true);
    QVERIFY(s.value(u"timestamp").toString().endsWith(u'Z'));
    const QJsonObject sim = s.value(u"simulator").toObject();
    QCOMPARE(sim.value(u"running").toBool(true), false);
    QVERIFY(sim.value(u"started_at").isNull());
    QCOMPARE(sim.value(u"runtime_seconds").toInt(-1), 0);
    const QJsonObject config = sim.value(u"configuration").toObject();
    for (const char *key :
        {"target_rate", "mode", "failure_rate", "timeout_rate", "malformed_rate", "seed", "target", "duration_seconds"})
        QVERIFY2(config.contains(QLatin1String(key)), key);
    for (const char *key : {"events_generated", "events_succeeded", "events_failed", "events_rate_limited",
             "events_timeout", "events_malformed", "actual_rate", "events_dropped", "events_in_flight",
             "events_retried", "average_rate", "current_target_rate", "success_rate", "latency_ms", "faults_honoured"})
        QVERIFY2(metricsOf(s).contains(QLatin1String(key)), key);
    QCOMPARE(count(s, "events_generated"), 0);
}

void TestSimulator::faultsRecoverAndReconcile()
{
    SimConfig c = baseConfig();
    c.failureRate = 0.10;
    c.timeoutRate = 0.05;
    c.malformedRate = 0.10;
    // Queued to this thread (a QSignalSpy would append from the simulator thread).
    QList<bool> running;
    connect(m_sim.get(), &Simulator::runningChanged, this, [&running](bool on) { running.append(on); });
    Callback started;
    m_sim->requestStart(c, started.make());
    QTRY_VERIFY(started.wasCalled());
    QVERIFY(started.status.value(u"simulator").toObject().value(u"running").toBool());
    QVERIFY(!started.status.value(u"simulator").toObject().value(u"started_at").toString().isEmpty());

    // The duration ends the run by itself; then everything in flight settles.
    QTRY_VERIFY_WITH_TIMEOUT(idle(), 20000);
    QTRY_COMPARE(running, (QList<bool> {true, false}));
    const QJsonObject s = m_sim->status();
    const QJsonObject sim = s.value(u"simulator").toObject();
    QVERIFY(reconciles(s));
    // Exactly the integral of r(t) over the run: 100/s × 1.5 s.
    QCOMPARE(count(s, "events_generated"), 150);
    QCOMPARE(count(s, "events_failed"), 0);
    QCOMPARE(count(s, "events_succeeded") + count(s, "events_dropped"), 150);
    QVERIFY(count(s, "events_dropped") < 5);
    QVERIFY(count(s, "events_malformed") > 0);
    // Relations rather than exact counts where a slow run (valgrind, sanitizers) may add timeouts
    // of its own; on a normal run they are equalities.
    QVERIFY(m_server->rejected >= count(s, "events_malformed"));
    QVERIFY(m_server->delayed > 0);
    QVERIFY(count(s, "events_timeout") >= m_server->delayed);
    // Every injected error and every client timeout was retried, and every retry recovered.
    QVERIFY(m_server->injectedErrors > 0);
    QVERIFY(count(s, "events_retried") >= count(s, "events_timeout"));
    QVERIFY(count(s, "events_retried") <= m_server->injectedErrors + count(s, "events_timeout"));
    if (count(s, "events_timeout") == m_server->delayed) // no timeouts but the injected ones
        QCOMPARE(count(s, "events_retried"), m_server->injectedErrors + count(s, "events_timeout"));
    // Timeouts retried with the same key: answered as duplicates, each event stored once.
    QVERIFY(m_server->duplicates >= m_server->delayed);
    QVERIFY(m_server->duplicates <= count(s, "events_timeout"));
    QCOMPARE(m_server->stored.size(), count(s, "events_succeeded") - count(s, "events_malformed"));
    QCOMPARE(metricsOf(s).value(u"faults_honoured").toBool(), true);
    QCOMPARE(metricsOf(s).value(u"success_rate").toDouble(), 100.0);
    // Latency from the scheduled time: timeouts (1 s + a retry) push p99 up.
    const QJsonObject latency = metricsOf(s).value(u"latency_ms").toObject();
    QVERIFY(latency.value(u"p50").toDouble() > 0);
    QVERIFY(latency.value(u"p99").toDouble() >= 1000);
    QVERIFY(m_sim->clientLatency().snapshot().count >= 140);
    // Stopped runs keep their numbers and configuration.
    QCOMPARE(sim.value(u"running").toBool(true), false);
    QCOMPARE(sim.value(u"configuration").toObject().value(u"seed").toInteger(), 42);
    QCOMPARE(sim.value(u"configuration").toObject().value(u"mode").toString(), QStringLiteral("steady"));
    QCOMPARE(metricsOf(s).value(u"current_target_rate").toDouble(-1), 0.0);
    QVERIFY(std::abs(metricsOf(s).value(u"average_rate").toDouble() - 6000) < 600);
    // Registry counters agree with the status.
    QCOMPARE(qint64(m_metrics->counterTotal("simulator_events_total")), 150);
}

void TestSimulator::ignoredMarkersAreReported()
{
    m_server->honourFaults = false;
    SimConfig c = baseConfig();
    c.durationSeconds = 0.5;
    c.failureRate = 0.5;
    Callback started;
    m_sim->requestStart(c, started.make());
    QTRY_VERIFY(started.wasCalled()); // idle() is true until the start has been applied
    QTRY_VERIFY_WITH_TIMEOUT(idle(), 20000);
    const QJsonObject s = m_sim->status();
    QVERIFY(reconciles(s));
    QCOMPARE(metricsOf(s).value(u"faults_honoured").toBool(true), false);
    QCOMPARE(count(s, "events_retried"), 0); // nothing failed, so nothing to retry
    QCOMPARE(count(s, "events_failed"), 0);
}

void TestSimulator::rateLimitedIsRetried()
{
    m_server->rateLimitFirst = 5;
    SimConfig c = baseConfig();
    c.durationSeconds = 0.5;
    Callback started;
    m_sim->requestStart(c, started.make());
    QTRY_VERIFY(started.wasCalled()); // idle() is true until the start has been applied
    QTRY_VERIFY_WITH_TIMEOUT(idle(), 20000);
    const QJsonObject s = m_sim->status();
    QVERIFY(reconciles(s));
    QCOMPARE(count(s, "events_rate_limited"), 5);
    QCOMPARE(count(s, "events_retried"), 5);
    QCOMPARE(count(s, "events_failed"), 0);
}

void TestSimulator::stopDrainsAndLiveChange()
{
    SimConfig c = baseConfig();
    c.durationSeconds = 0; // until stopped
    c.ratePerMin = 1200;
    c.timeoutRate = 0.2;
    c.clientTimeoutMs = 1000;
    m_sim->requestStart(c);
    QTRY_VERIFY(count(m_sim->status(), "events_generated") >= 10);
    QVERIFY(m_sim->isRunning());

    // Live change: same run, counters kept, new rate and mode.
    const qint64 before = count(m_sim->status(), "events_generated");
    SimConfig faster = c;
    faster.ratePerMin = 3000;
    faster.mode = SimMode::Burst;
    Callback changed;
    m_sim->requestStart(faster, changed.make());
    QTRY_VERIFY(changed.wasCalled());
    const QJsonObject sim = changed.status.value(u"simulator").toObject();
    QVERIFY(sim.value(u"running").toBool());
    QCOMPARE(sim.value(u"configuration").toObject().value(u"target_rate").toDouble(), 3000.0);
    QCOMPARE(sim.value(u"configuration").toObject().value(u"mode").toString(), QStringLiteral("burst"));
    QVERIFY(count(changed.status, "events_generated") >= before);
    QCOMPARE(metricsOf(changed.status).value(u"current_target_rate").toDouble(), 7500.0); // burst phase: 2.5 R

    // The run goes on at the new rate (burst: 125 events/s).
    QTRY_VERIFY(count(m_sim->status(), "events_generated") >= before + 25);

    // Stop answers once in-flight requests (some held by the delay fault) have ended.
    QTRY_VERIFY(count(m_sim->status(), "events_in_flight") > 0);
    Callback stopped;
    m_sim->requestStop(stopped.make());
    QTRY_VERIFY_WITH_TIMEOUT(stopped.wasCalled(), 10000);
    QVERIFY(!stopped.status.value(u"simulator").toObject().value(u"running").toBool(true));
    QCOMPARE(count(stopped.status, "events_in_flight"), 0);
    QVERIFY(reconciles(stopped.status));
    QVERIFY(count(stopped.status, "events_generated") > before);
    // Stopping again is harmless and answers at once.
    Callback again;
    m_sim->requestStop(again.make());
    QTRY_VERIFY(again.wasCalled());
    QCOMPARE(count(again.status, "events_generated"), count(stopped.status, "events_generated"));
}

QTEST_GUILESS_MAIN(TestSimulator)
#include "tst_simulator.moc"
