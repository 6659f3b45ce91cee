// Issue #4, limits: token-bucket rate limiting (unit maths and over real HTTP), ingest
// backpressure with hysteresis on a real SQLite queue, bearer-token auth, the audit actor, the
// start-up refusal of an unauthenticated non-loopback bind, and the simulator's 429 accounting.
#include "backend.h"
#include "http/admission.h"
#include "http/httpserver.h"
#include "http/router.h"
#include "api/actor.h"
#include "api/ingestapi.h"
#include "metrics.h"
#include "util.h"
#include "writer.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkProxy>
#include <QNetworkReply>
#include <QSqlQuery>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QtTest>

using namespace vigil;

namespace {
constexpr qint64 kSecond = 1'000'000'000;

const QString kViewer = QStringLiteral("viewer-0123456789abcdef");
const QString kOperator = QStringLiteral("operator-fedcba9876543210");

struct Answer
{
    int status = 0;
    QByteArray body;
    QHash<QByteArray, QByteArray> headers; // lower-case names
    QJsonObject json() const { return QJsonDocument::fromJson(body).object(); }
    QString code() const { return json().value(QStringLiteral("error")).toObject().value(QStringLiteral("code")).toString(); }
    QByteArray header(const QByteArray &name) const { return headers.value(name.toLower()); }
};

QByteArray eventBody(int n)
{
    return QJsonDocument(QJsonObject {{QStringLiteral("metric_name"), QStringLiteral("limits_test")},
                             {QStringLiteral("value"), n}, {QStringLiteral("source"), QStringLiteral("tst_limits")}})
        .toJson(QJsonDocument::Compact);
}

// First value of a metric line (exact name and labels) in a Prometheus exposition; -1 if absent.
double metricValue(const QByteArray &exposition, const QByteArray &series)
{
    for (const QByteArray &line : exposition.split('\n'))
        if (line.startsWith(QByteArray(series + ' ')))
            return line.mid(series.size() + 1).toDouble();
    return -1;
}
} // namespace

class TestLimits : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QNetworkAccessManager m_nam;
    int m_serial = 0;
    std::unique_ptr<Backend> m_authBackend;

    ServerConfig baseConfig()
    {
        ServerConfig c;
        c.port = 0;
        c.databasePath = m_dir.filePath(QStringLiteral("limits-%1.db").arg(++m_serial));
        c.workers = 1;
        c.httpThreads = 2;
        c.remediator.latencyMs = 1;
        c.remediator.failureRate = 0;
        return c;
    }

    // Async client on this thread; waits by spinning the event loop (the writer may live here too).
    Answer send(const QByteArray &method, const QUrl &url, const QByteArray &body = {},
        const QList<QPair<QByteArray, QByteArray>> &headers = {})
    {
        QNetworkRequest request(url);
        if (!body.isEmpty() || method == "POST")
            request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
        for (const auto &[name, value] : headers)
            request.setRawHeader(name, value);
        // HEAD through head(): a custom HEAD would wait for a body that never comes.
        QNetworkReply *reply
            = method == "HEAD" ? m_nam.head(request) : m_nam.sendCustomRequest(request, method, body);
        const bool finished = QTest::qWaitFor([reply] { return reply->isFinished(); }, 15000);
        Answer a;
        if (!finished) {
            reply->abort();
            reply->deleteLater();
            return a;
        }
        a.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        a.body = reply->readAll();
        for (const auto &[name, value] : reply->rawHeaderPairs())
            a.headers.insert(name.toLower(), value);
        reply->deleteLater();
        return a;
    }

    static QList<QPair<QByteArray, QByteArray>> bearer(const QString &token)
    {
        return {{"Authorization", "Bearer " + token.toUtf8()}};
    }

    // A raw HTTP/1.1 request from a chosen local address (Linux accepts any 127/8 source), so two
    // clients with different addresses can be told apart over real loopback.
    static int rawStatusFrom(const QHostAddress &from, quint16 port, const QByteArray &request)
    {
        QTcpSocket socket;
        if (!socket.bind(from, 0))
            return -1;
        socket.connectToHost(QHostAddress::LocalHost, port);
        if (!socket.waitForConnected(5000))
            return -2;
        socket.write(request);
        QByteArray got;
        QDeadlineTimer deadline(10000);
        while (!got.contains("\r\n\r\n") && !deadline.hasExpired())
            if (socket.waitForReadyRead(int(std::max<qint64>(1, deadline.remainingTime()))))
                got += socket.readAll();
        const QList<QByteArray> statusLine = got.left(got.indexOf("\r\n")).split(' ');
        return statusLine.size() >= 2 ? statusLine.at(1).toInt() : -3;
    }

private slots:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QVERIFY(m_dir.isValid());
        m_nam.setProxy(QNetworkProxy::NoProxy);
    }

    void cleanupTestCase() { m_authBackend.reset(); }

    // --- unit: bucket maths, classes, table bound, config checks ---------------------------------

    void bucketRefillMath()
    {
        const RateLimit limit {2.0, 4.0}; // 2 tokens/s, bursts of 4
        const qint64 t0 = 1000 * kSecond;
        TokenBucket b(limit, t0);
        QCOMPARE(b.available(limit, t0), 4.0);
        for (int i = 3; i >= 0; --i) {
            const TokenBucket::Result r = b.take(limit, t0);
            QVERIFY(r.allowed);
            QCOMPARE(r.remaining, double(i));
            QCOMPARE(r.resetSeconds, (4.0 - i) / 2.0); // seconds until full again
        }
        TokenBucket::Result refused = b.take(limit, t0);
        QVERIFY(!refused.allowed);
        QCOMPARE(refused.retryAfterSeconds, 0.5); // one token at 2/s
        QCOMPARE(refused.resetSeconds, 2.0);
        // Refused requests take nothing: a quarter second later half a token is there.
        refused = b.take(limit, t0 + kSecond / 4);
        QVERIFY(!refused.allowed);
        QCOMPARE(refused.retryAfterSeconds, 0.25);
        QVERIFY(b.take(limit, t0 + kSecond / 2).allowed);
        QVERIFY(!b.take(limit, t0 + kSecond / 2).allowed);
        // Idle for a long time: capped at the burst, never more.
        QCOMPARE(b.available(limit, t0 + 3600 * kSecond), 4.0);
        QVERIFY(b.isFull(limit, t0 + 3600 * kSecond));
        QVERIFY(!b.isFull(limit, t0 + kSecond));
        // A clock read slightly earlier on another thread adds nothing and removes nothing.
        TokenBucket c(limit, t0);
        for (int i = 0; i < 4; ++i)
            QVERIFY(c.take(limit, t0).allowed);
        QVERIFY(!c.take(limit, t0 - kSecond).allowed);
        QCOMPARE(c.available(limit, t0), 0.0);
    }

    void limiterHeadersAndRetryAfter()
    {
        LimitsConfig config;
        config.ingest = {0.2, 3}; // one every 5 s
        RateLimiter limiter(config);
        const QHostAddress a(QStringLiteral("10.0.0.1"));
        const qint64 t0 = 50 * kSecond;
        for (int remaining = 2; remaining >= 0; --remaining) {
            const RateLimiter::Decision d = limiter.take(RouteClass::Ingest, a, t0);
            QVERIFY(d.limited && d.allowed);
            QCOMPARE(d.limit, 3);
            QCOMPARE(d.remaining, remaining);
            QCOMPARE(d.resetSeconds, (3 - remaining) * 5);
        }
        const RateLimiter::Decision refused = limiter.take(RouteClass::Ingest, a, t0 + kSecond);
        QVERIFY(!refused.allowed);
        QCOMPARE(refused.remaining, 0);
        QCOMPARE(refused.retryAfterSeconds, 4); // 0.2 token there after 1 s; 0.8 more at 0.2/s
        // A class with rate 0 is not limited at all (no headers).
        config.control = {0, 0};
        RateLimiter off(config);
        QVERIFY(!off.take(RouteClass::Control, a, t0).limited);
        QVERIFY(!off.take(RouteClass::Open, a, t0).limited);
    }

    void bucketsPerClassAndPerAddress()
    {
        LimitsConfig config;
        config.ingest = {1, 2};
        config.query = {1, 2};
        config.control = {1, 2};
        RateLimiter limiter(config);
        const qint64 t = 10 * kSecond;
        const QHostAddress a(QStringLiteral("192.0.2.1"));
        const QHostAddress b(QStringLiteral("192.0.2.2"));
        for (int i = 0; i < 2; ++i)
            QVERIFY(limiter.take(RouteClass::Ingest, a, t).allowed);
        QVERIFY(!limiter.take(RouteClass::Ingest, a, t).allowed);
        // Same address, other classes: untouched. Other address, same class: untouched.
        QVERIFY(limiter.take(RouteClass::Query, a, t).allowed);
        QVERIFY(limiter.take(RouteClass::Control, a, t).allowed);
        QVERIFY(limiter.take(RouteClass::Ingest, b, t).allowed);
        // An IPv4-mapped IPv6 address is the IPv4 client; IPv6 clients share their /64.
        QVERIFY(!limiter.take(RouteClass::Ingest, QHostAddress(QStringLiteral("::ffff:192.0.2.1")), t).allowed);
        QCOMPARE(RateLimiter::clientKey(QHostAddress(QStringLiteral("2001:db8:1:2::5"))),
            RateLimiter::clientKey(QHostAddress(QStringLiteral("2001:db8:1:2:ffff::9"))));
        QVERIFY(RateLimiter::clientKey(QHostAddress(QStringLiteral("2001:db8:1:2::5")))
            != RateLimiter::clientKey(QHostAddress(QStringLiteral("2001:db8:1:3::5"))));
    }

    void bucketTableIsBounded()
    {
        LimitsConfig config;
        config.query = {10, 20};
        config.maxTrackedClients = 64;
        RateLimiter limiter(config);
        const qint64 t = 100 * kSecond;
        // 20,000 distinct clients in one second (a scan, or spoofed sources): memory stays bounded.
        for (quint32 i = 0; i < 20000; ++i)
            QVERIFY(limiter.take(RouteClass::Query, QHostAddress(0x0a000000u + i), t).allowed);
        QVERIFY2(limiter.trackedBuckets() <= 64, QByteArray::number(limiter.trackedBuckets()));
        QVERIFY(limiter.trackedBuckets() > 0);
        // Once refilled (2 s at 10/s for a burst of 20), a bucket is indistinguishable from a new one: swept.
        limiter.sweep(t + 3 * kSecond);
        QCOMPARE(limiter.trackedBuckets(), qsizetype(0));
        // A client still mid-bucket is kept (its debt must not be forgiven by a sweep).
        const QHostAddress busy(QStringLiteral("10.9.9.9"));
        for (int i = 0; i < 20; ++i)
            limiter.take(RouteClass::Query, busy, t + 3 * kSecond);
        limiter.sweep(t + 3 * kSecond + kSecond / 2);
        QCOMPARE(limiter.trackedBuckets(), qsizetype(1));
        QVERIFY(!limiter.take(RouteClass::Query, busy, t + 3 * kSecond).allowed);
    }

    void routeClasses_data()
    {
        QTest::addColumn<QByteArray>("method");
        QTest::addColumn<QString>("path");
        QTest::addColumn<int>("expected");
        const auto row = [](const char *name, const char *method, const char *path, RouteClass c) {
            QTest::newRow(name) << QByteArray(method) << QString::fromLatin1(path) << int(c);
        };
        row("ingest", "POST", "/api/v1/ingest", RouteClass::Ingest);
        row("batch ingest", "POST", "/api/v1/ingest/batch", RouteClass::Ingest);
        row("ingest lookalike", "POST", "/api/v1/ingestx", RouteClass::Control);
        row("GET ingest path", "GET", "/api/v1/ingest", RouteClass::Query);
        row("PUT ingest path", "PUT", "/api/v1/ingest", RouteClass::Control);
        row("queue", "GET", "/api/v1/queue", RouteClass::Query);
        row("HEAD", "HEAD", "/api/v1/queue", RouteClass::Query);
        row("metrics", "GET", "/metrics", RouteClass::Query);
        row("simulator start", "POST", "/api/v1/ui/simulator/start", RouteClass::Control);
        row("dead letter delete", "DELETE", "/api/v1/queue/dead/7", RouteClass::Control);
        row("policy patch", "PATCH", "/api/v1/policies/1", RouteClass::Control);
        row("healthz", "GET", "/healthz", RouteClass::Open);
        row("readyz", "GET", "/readyz", RouteClass::Open);
    }

    void routeClasses()
    {
        QFETCH(QByteArray, method);
        QFETCH(QString, path);
        QFETCH(int, expected);
        QCOMPARE(int(classifyRoute(method, path)), expected);
    }

    void tokensCompareInConstantTime()
    {
        QVERIFY(constantTimeEquals("abcdef", "abcdef"));
        QVERIFY(!constantTimeEquals("abcdef", "abcdeg"));
        QVERIFY(!constantTimeEquals("abcdef", "abcde"));
        QVERIFY(constantTimeEquals(QByteArray(), QByteArray()));
    }

    void configProblems_data()
    {
        QTest::addColumn<QString>("host");
        QTest::addColumn<QString>("viewer");
        QTest::addColumn<QString>("operatorToken");
        QTest::addColumn<QString>("problem"); // substring; empty: accepted
        QTest::newRow("loopback, no tokens") << "127.0.0.1" << "" << "" << "";
        QTest::newRow("ipv6 loopback, no tokens") << "::1" << "" << "" << "";
        QTest::newRow("any address, no token") << "0.0.0.0" << "" << "" << "without an operator token";
        QTest::newRow("LAN address, no token") << "192.168.1.5" << "" << "" << "without an operator token";
        QTest::newRow("any address, viewer only") << "0.0.0.0" << kViewer << "" << "needs an operator token";
        QTest::newRow("any address, operator") << "0.0.0.0" << "" << kOperator << "";
        QTest::newRow("same token twice") << "127.0.0.1" << kOperator << kOperator << "must differ";
        QTest::newRow("token with a space") << "127.0.0.1" << "" << "two words" << "may contain only";
        QTest::newRow("token with a quote") << "127.0.0.1" << "" << "abc\"def" << "may contain only";
        QTest::newRow("token with padding") << "127.0.0.1" << "" << "abc/def+ghi==" << "";
    }

    void configProblems()
    {
        QFETCH(QString, host);
        QFETCH(QString, viewer);
        QFETCH(QString, operatorToken);
        QFETCH(QString, problem);
        ServerConfig c;
        QVERIFY(c.host.setAddress(host));
        c.auth.viewerToken = viewer;
        c.auth.operatorToken = operatorToken;
        const QString got = configProblem(c);
        if (problem.isEmpty())
            QVERIFY2(got.isEmpty(), qPrintable(got));
        else
            QVERIFY2(got.contains(problem), qPrintable(got));
    }

    void limitConfigProblems()
    {
        ServerConfig c;
        QVERIFY(configProblem(c).isEmpty()); // the defaults are valid
        c.limits.backpressureHigh = 100;
        c.limits.backpressureLow = 100;
        QVERIFY(configProblem(c).contains(QLatin1String("low-water")));
        c.limits.backpressureLow = 50;
        QVERIFY(configProblem(c).isEmpty());
        c.limits.ingest = {5, 0.5};
        QVERIFY(configProblem(c).contains(QLatin1String("burst")));
        c.limits.ingest = {0, 0}; // off: no burst needed
        QVERIFY(configProblem(c).isEmpty());
    }

    void nonLoopbackWithoutTokenRefusedAtStart()
    {
        ServerConfig c = baseConfig();
        QVERIFY(c.host.setAddress(QStringLiteral("0.0.0.0")));
        Backend backend(c);
        QString error;
        QVERIFY(!backend.start(&error));
        QVERIFY2(error.contains(QLatin1String("operator token")), qPrintable(error));
        QVERIFY(!backend.isRunning());
    }

    // --- over real HTTP ----------------------------------------------------------------------

    void ingestBurstThen429WithHeaders()
    {
        ServerConfig c = baseConfig();
        c.limits.ingest = {1, 5};
        c.limits.query = {1000, 1000};
        c.limits.control = {1, 2};
        Backend backend(c);
        QString error;
        QVERIFY2(backend.start(&error), qPrintable(error));
        const QUrl ingest = backend.baseUrl().resolved(QUrl(QStringLiteral("/api/v1/ingest")));

        for (int i = 0; i < 5; ++i) {
            const Answer a = send("POST", ingest, eventBody(i));
            QCOMPARE(a.status, 202);
            QCOMPARE(a.header("RateLimit-Limit"), QByteArray("5"));
            // Sequential requests take a few ms each; at 1/s at most one token comes back meanwhile.
            const int remaining = a.header("RateLimit-Remaining").toInt();
            QVERIFY2(remaining >= 4 - i && remaining <= 5 - i, a.header("RateLimit-Remaining"));
            QVERIFY(a.header("RateLimit-Reset").toInt() >= 1);
        }
        // Spend whatever trickled back, then the next one is refused.
        Answer refused;
        for (int i = 0; i < 5 && refused.status != 429; ++i)
            refused = send("POST", ingest, eventBody(100 + i));
        QCOMPARE(refused.status, 429);
        QCOMPARE(refused.code(), QStringLiteral("rate_limited"));
        QVERIFY(refused.json().value(QStringLiteral("error")).toObject().value(QStringLiteral("message")).toString().contains(
            QLatin1String("ingest")));
        bool numeric = false;
        const int retryAfter = refused.header("Retry-After").toInt(&numeric);
        QVERIFY2(numeric && retryAfter >= 1 && retryAfter <= 1, refused.header("Retry-After")); // one token at 1/s
        QCOMPARE(refused.header("RateLimit-Limit"), QByteArray("5"));
        QCOMPARE(refused.header("RateLimit-Remaining"), QByteArray("0"));
        QVERIFY(refused.header("RateLimit-Reset").toInt() >= 4);

        // Other classes of the same client are untouched: reads, and a control call.
        const Answer queue = send("GET", backend.baseUrl().resolved(QUrl(QStringLiteral("/api/v1/queue"))));
        QCOMPARE(queue.status, 200);
        QCOMPARE(queue.header("RateLimit-Limit"), QByteArray("1000"));
        const Answer stop = send("POST", backend.baseUrl().resolved(QUrl(QStringLiteral("/api/v1/ui/simulator/stop"))));
        QCOMPARE(stop.status, 200);
        QCOMPARE(stop.header("RateLimit-Limit"), QByteArray("2"));
        // Probes are never limited and carry no rate-limit headers.
        const Answer health = send("GET", backend.baseUrl().resolved(QUrl(QStringLiteral("/healthz"))));
        QCOMPARE(health.status, 200);
        QVERIFY(!health.headers.contains("ratelimit-limit"));

        // The refusal is counted by route, and the 1 Hz series reports it.
        const QUrl metrics = backend.baseUrl().resolved(QUrl(QStringLiteral("/metrics")));
        const QByteArray exposition = send("GET", metrics).body;
        QVERIFY(metricValue(exposition, R"(rate_limited_total{endpoint="/api/v1/ingest"})") >= 1);
        QCOMPARE(metricValue(exposition, R"(ingest_rejected_total{reason="rate_limited"})"),
            metricValue(exposition, R"(rate_limited_total{endpoint="/api/v1/ingest"})"));
        const QUrl series = backend.baseUrl().resolved(QUrl(QStringLiteral("/api/v1/stats/timeseries?window=60")));
        auto seriesTotal = [&] {
            const QJsonArray samples = send("GET", series).json().value(QStringLiteral("samples")).toArray();
            double perSecond = 0;
            for (const QJsonValue &s : samples)
                perSecond += s.toObject().value(QStringLiteral("rate_limited_per_s")).toDouble();
            return samples.isEmpty() ? 0.0 : perSecond;
        };
        QTRY_VERIFY_WITH_TIMEOUT(seriesTotal() > 0.5, 10000);
        backend.stop();
    }

    void separateBucketsPerClientAddress()
    {
        ServerConfig c = baseConfig();
        c.limits.ingest = {0.01, 2}; // nothing refills during the test
        Backend backend(c);
        QString error;
        QVERIFY2(backend.start(&error), qPrintable(error));
        const QByteArray body = eventBody(1);
        const QByteArray request = "POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                   "Connection: close\r\nContent-Length: "
            + QByteArray::number(body.size()) + "\r\n\r\n" + body;
        const QHostAddress first(QStringLiteral("127.0.0.1"));
        const QHostAddress second(QStringLiteral("127.0.0.2"));
        QCOMPARE(rawStatusFrom(first, backend.port(), request), 202);
        QCOMPARE(rawStatusFrom(first, backend.port(), request), 202);
        QCOMPARE(rawStatusFrom(first, backend.port(), request), 429);
        // Another address has its own bucket.
        QCOMPARE(rawStatusFrom(second, backend.port(), request), 202);
        QCOMPARE(rawStatusFrom(second, backend.port(), request), 202);
        QCOMPARE(rawStatusFrom(second, backend.port(), request), 429);
        backend.stop();
    }

    void simulatorCountsEvery429()
    {
        // The built-in simulator at 20 events/s against an ingest limit of 5/s: rate limiting
        // engages, and the simulator's events_rate_limited equals the server's count of 429s.
        ServerConfig c = baseConfig();
        c.limits.ingest = {5, 5};
        Backend backend(c);
        QString error;
        QVERIFY2(backend.start(&error), qPrintable(error));
        const Answer started = send("POST",
            backend.baseUrl().resolved(
                QUrl(QStringLiteral("/api/v1/ui/simulator/start?rate=1200&mode=steady&duration=3&seed=9"))));
        QCOMPARE(started.status, 200);
        const QUrl status = backend.baseUrl().resolved(QUrl(QStringLiteral("/api/v1/ui/simulator/status")));
        auto finished = [&] {
            const QJsonObject sim = send("GET", status).json().value(QStringLiteral("simulator")).toObject();
            return !sim.value(QStringLiteral("running")).toBool()
                && sim.value(QStringLiteral("metrics")).toObject().value(QStringLiteral("events_in_flight")).toInteger() == 0;
        };
        QTRY_VERIFY_WITH_TIMEOUT(finished(), 60000);
        const QJsonObject m
            = send("GET", status).json()[QStringLiteral("simulator")][QStringLiteral("metrics")].toObject();
        const qint64 seen = m.value(QStringLiteral("events_rate_limited")).toInteger();
        const QByteArray exposition = send("GET", backend.baseUrl().resolved(QUrl(QStringLiteral("/metrics")))).body;
        const double refused = metricValue(exposition, R"(rate_limited_total{endpoint="/api/v1/ingest"})");
        QVERIFY2(seen > 0, "the simulator saw no 429 at four times the limit");
        QCOMPARE(double(seen), refused);
        // Every event still ends in exactly one outcome.
        QCOMPARE(m.value(QStringLiteral("events_generated")).toInteger(),
            m.value(QStringLiteral("events_succeeded")).toInteger() + m.value(QStringLiteral("events_failed")).toInteger()
                + m.value(QStringLiteral("events_dropped")).toInteger());
        QVERIFY(m.value(QStringLiteral("events_retried")).toInteger() > 0);
        backend.stop();
    }

    void backpressureEngagesAndReleasesLosingNothing()
    {
        // A real writer and SQLite file with no workers, so ready tasks stay until this test claims
        // them: ingest is refused above the high-water mark and accepted again only below the low one.
        MetricsRegistry metrics;
        ServerConfig c = baseConfig();
        c.nodeId = QStringLiteral("bp-test");
        c.limits.ingest = {0, 0};
        c.limits.backpressureHigh = 10;
        c.limits.backpressureLow = 4;
        const QString dbPath = c.databasePath;
        Writer writer(c, metrics); // on this thread: the event loop spun while waiting drives it
        QString error;
        QVERIFY2(writer.open(dbPath, &error), qPrintable(error));
        Router router;
        registerIngestRoutes(router, writer, metrics, c);
        Admission admission(c, metrics, {[&writer] { return writer.snapshot().due(); }, [] { return 2.0; }});
        HttpServer http(router, metrics, c);
        http.setAdmission(&admission);
        QVERIFY2(http.listen(QHostAddress::LocalHost, 0, &error), qPrintable(error));
        QUrl ingest(QStringLiteral("http://127.0.0.1/api/v1/ingest"));
        ingest.setPort(http.port());

        QList<qint64> accepted;
        int n = 0;
        for (; n < 10; ++n) {
            const Answer a = send("POST", ingest, eventBody(n));
            QCOMPARE(a.status, 202);
            accepted.append(a.json().value(QStringLiteral("id")).toInteger());
        }
        QCOMPARE(writer.snapshot().due(), qint64(10));
        Answer refused = send("POST", ingest, eventBody(n));
        QCOMPARE(refused.status, 503);
        QCOMPARE(refused.code(), QStringLiteral("backpressure"));
        bool numeric = false;
        const int retryAfter = refused.header("Retry-After").toInt(&numeric);
        QVERIFY2(numeric && retryAfter >= 1 && retryAfter <= 30, refused.header("Retry-After"));
        QVERIFY(admission.backpressureActive());

        auto claim = [&writer](int max) {
            bool done = false;
            writer.submitClaim(QStringLiteral("bp-test/w0"), max, [&done](const QList<TaskItem> &) { done = true; });
            return QTest::qWaitFor([&done] { return done; }, 5000);
        };
        // Between the marks (6 ready): still refused — hysteresis, not flapping at the high mark.
        QVERIFY(claim(4));
        QCOMPARE(writer.snapshot().due(), qint64(6));
        QCOMPARE(send("POST", ingest, eventBody(n)).status, 503);
        // Below the low-water mark (3 ready): accepted again.
        QVERIFY(claim(3));
        QCOMPARE(writer.snapshot().due(), qint64(3));
        const Answer again = send("POST", ingest, eventBody(n));
        QCOMPARE(again.status, 202);
        accepted.append(again.json().value(QStringLiteral("id")).toInteger());
        QVERIFY(!admission.backpressureActive());

        const QByteArray exposition = metrics.exposition();
        QCOMPARE(metricValue(exposition, "ingest_backpressure_total"), 2.0);
        QCOMPARE(metricValue(exposition, R"(ingest_rejected_total{reason="backpressure"})"), 2.0);
        http.shutdown();
        writer.close();

        // Nothing accepted was dropped: every 202 id is stored with its task, and only those.
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), QStringLiteral("bp-probe"));
        db.setDatabaseName(dbPath);
        QVERIFY(db.open());
        {
            QSqlQuery q(db);
            QVERIFY(q.exec(QStringLiteral("SELECT id FROM events ORDER BY id")));
            QList<qint64> stored;
            while (q.next())
                stored.append(q.value(0).toLongLong());
            QCOMPARE(stored, accepted);
            QVERIFY(q.exec(QStringLiteral("SELECT count(*) FROM tasks WHERE kind = 'event'")));
            QVERIFY(q.next());
            QCOMPARE(q.value(0).toLongLong(), qint64(accepted.size()));
        }
        db.close();
        db = QSqlDatabase();
        QSqlDatabase::removeDatabase(QStringLiteral("bp-probe"));
    }

    void authMatrix_data()
    {
        QTest::addColumn<QByteArray>("method");
        QTest::addColumn<QString>("path");
        QTest::addColumn<QByteArray>("authorization"); // empty: none
        QTest::addColumn<int>("status");
        QTest::addColumn<QString>("code");
        const QByteArray viewer = "Bearer " + kViewer.toUtf8();
        const QByteArray op = "Bearer " + kOperator.toUtf8();
        const QByteArray bad = "Bearer not-a-valid-token";
        const QByteArray basic = "Basic dXNlcjpwYXNz";
        const QString queue = QStringLiteral("/api/v1/queue");
        const QString ingest = QStringLiteral("/api/v1/ingest");
        const QString stop = QStringLiteral("/api/v1/ui/simulator/stop");
        QTest::newRow("healthz, none") << QByteArray("GET") << "/healthz" << QByteArray() << 200 << "";
        QTest::newRow("healthz, bad token") << QByteArray("GET") << "/healthz" << bad << 200 << "";
        QTest::newRow("readyz, none") << QByteArray("GET") << "/readyz" << QByteArray() << 200 << "";
        QTest::newRow("GET, none") << QByteArray("GET") << queue << QByteArray() << 401 << "unauthorized";
        QTest::newRow("GET, bad token") << QByteArray("GET") << queue << bad << 401 << "unauthorized";
        QTest::newRow("GET, Basic") << QByteArray("GET") << queue << basic << 401 << "unauthorized";
        QTest::newRow("GET, Bearer without token") << QByteArray("GET") << queue << QByteArray("Bearer ") << 401
                                                   << "unauthorized";
        QTest::newRow("GET, viewer") << QByteArray("GET") << queue << viewer << 200 << "";
        QTest::newRow("GET, viewer, lower-case scheme")
            << QByteArray("GET") << queue << ("bearer " + kViewer.toUtf8()) << 200 << "";
        QTest::newRow("GET, operator") << QByteArray("GET") << queue << op << 200 << "";
        QTest::newRow("HEAD, viewer") << QByteArray("HEAD") << queue << viewer << 200 << "";
        QTest::newRow("metrics, none") << QByteArray("GET") << "/metrics" << QByteArray() << 401 << "unauthorized";
        QTest::newRow("POST ingest, none") << QByteArray("POST") << ingest << QByteArray() << 401 << "unauthorized";
        QTest::newRow("POST ingest, bad token") << QByteArray("POST") << ingest << bad << 401 << "unauthorized";
        QTest::newRow("POST ingest, viewer") << QByteArray("POST") << ingest << viewer << 403 << "forbidden";
        QTest::newRow("POST ingest, operator") << QByteArray("POST") << ingest << op << 202 << "";
        QTest::newRow("POST stop, none") << QByteArray("POST") << stop << QByteArray() << 401 << "unauthorized";
        QTest::newRow("POST stop, viewer") << QByteArray("POST") << stop << viewer << 403 << "forbidden";
        QTest::newRow("POST stop, operator") << QByteArray("POST") << stop << op << 200 << "";
        QTest::newRow("POST unknown path, none") << QByteArray("POST") << "/api/v1/nope" << QByteArray() << 401
                                                 << "unauthorized";
        QTest::newRow("GET unknown path, viewer") << QByteArray("GET") << "/api/v1/nope" << viewer << 404
                                                  << "not_found";
    }

    void authMatrix()
    {
        QFETCH(QByteArray, method);
        QFETCH(QString, path);
        QFETCH(QByteArray, authorization);
        QFETCH(int, status);
        QFETCH(QString, code);
        std::unique_ptr<Backend> &backend = m_authBackend; // one server for every row
        if (!backend) {
            ServerConfig c = baseConfig();
            c.auth.viewerToken = kViewer;
            c.auth.operatorToken = kOperator;
            backend = std::make_unique<Backend>(c);
            QString error;
            QVERIFY2(backend->start(&error), qPrintable(error));
        }
        QList<QPair<QByteArray, QByteArray>> headers;
        if (!authorization.isEmpty())
            headers.append({"Authorization", authorization});
        const Answer a = send(method, backend->baseUrl().resolved(QUrl(path)),
            method == "POST" && path.endsWith(QLatin1String("ingest")) ? eventBody(7) : QByteArray(), headers);
        QCOMPARE(a.status, status);
        if (method != "HEAD")
            QCOMPARE(a.code(), code);
        if (status == 401) {
            QVERIFY(a.header("WWW-Authenticate").startsWith("Bearer"));
            QCOMPARE(a.json()[QStringLiteral("error")][QStringLiteral("field")].toString(), QStringLiteral("Authorization"));
        } else {
            QVERIFY(!a.headers.contains("www-authenticate"));
        }
        if (authorization.contains("not-a-valid"))
            QVERIFY(a.status == 200 || a.header("WWW-Authenticate").contains("invalid_token"));
    }

    void operatorTokenOnlyLeavesReadsOpen()
    {
        ServerConfig c = baseConfig();
        c.auth.operatorToken = kOperator;
        Backend backend(c);
        QString error;
        QVERIFY2(backend.start(&error), qPrintable(error));
        const QUrl queue = backend.baseUrl().resolved(QUrl(QStringLiteral("/api/v1/queue")));
        const QUrl ingest = backend.baseUrl().resolved(QUrl(QStringLiteral("/api/v1/ingest")));
        QCOMPARE(send("GET", queue).status, 200);
        QCOMPARE(send("POST", ingest, eventBody(1)).status, 401);
        QCOMPARE(send("POST", ingest, eventBody(1), bearer(kOperator)).status, 202);
        // A token presented but wrong is an error even where none is needed: a misconfigured client learns early.
        QCOMPARE(send("GET", queue, {}, bearer(QStringLiteral("wrong"))).status, 401);
        backend.stop();
    }

    void noTokensConfiguredIgnoresAuthorization()
    {
        Backend backend(baseConfig());
        QString error;
        QVERIFY2(backend.start(&error), qPrintable(error));
        const QUrl ingest = backend.baseUrl().resolved(QUrl(QStringLiteral("/api/v1/ingest")));
        QCOMPARE(send("POST", ingest, eventBody(1), bearer(QStringLiteral("anything"))).status, 202);
        QCOMPARE(send("POST", ingest, eventBody(2), {{"Authorization", "garbage"}}).status, 202);
        backend.stop();
    }

    void auditActorNamesTheOperator()
    {
        ServerConfig c = baseConfig();
        c.auth.operatorToken = kOperator;
        Backend backend(c);
        QString error;
        QVERIFY2(backend.start(&error), qPrintable(error));
        const Answer stop = send("POST", backend.baseUrl().resolved(QUrl(QStringLiteral("/api/v1/ui/simulator/stop"))),
            {}, bearer(kOperator));
        QCOMPARE(stop.status, 200);
        const QUrl audit
            = backend.baseUrl().resolved(QUrl(QStringLiteral("/api/v1/audit?kind=simulator_stopped")));
        auto actor = [&] {
            const QJsonArray entries = send("GET", audit).json().value(QStringLiteral("entries")).toArray();
            return entries.isEmpty() ? QString()
                                     : entries.first().toObject().value(QStringLiteral("actor")).toString();
        };
        QTRY_COMPARE_WITH_TIMEOUT(actor(), QStringLiteral("operator@127.0.0.1"), 10000);
        backend.stop();
    }

    void actorHelper()
    {
        HttpRequest r;
        r.remoteAddress = QHostAddress(QStringLiteral("::ffff:10.1.2.3"));
        QCOMPARE(actorOf(r), QStringLiteral("anonymous@10.1.2.3"));
        r.principal = QStringLiteral("operator");
        r.remoteAddress = QHostAddress(QStringLiteral("2001:db8::1"));
        QCOMPARE(actorOf(r), QStringLiteral("operator@2001:db8::1"));
    }
};

QTEST_GUILESS_MAIN(TestLimits)
#include "tst_limits.moc"
