// bench/queue: queue throughput of the real server code (Backend: writer, workers, HTTP).
//
//   burn-down:    pause the queue, pre-insert N events over POST /api/v1/ingest/batch (1000 per
//                 request), resume, and time until the workers have finished all N tasks.
//   steady state: the built-in simulator sends events over HTTP at a fixed rate while the workers
//                 drain; reports tasks finished per second and the backlog left at the end.
//
// Prints the settings used and a Markdown table row per phase. Not a test: nothing here passes
// or fails on a number.
//
//   queue [--db PATH] [--tasks 100000] [--workers 2] [--claim-batch 64] [--durability normal|full]
//         [--steady-seconds 10] [--steady-rate 300000] [--skip-steady]
// --db: a SQLite file (default: a fresh temporary file), or a postgresql:// URL (one node; for
// several nodes on one database see bench/pg-burndown.sh). It must not exist or be empty of events:
// the burn-down counts the tasks it inserts.
#include "backend.h"
#include "metrics.h"
#include "sqldialect.h"
#include "sim/simulator.h"
#include "util.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTimer>

#include <cstdio>
#include <functional>

using namespace vigil;

namespace {

// Runs the event loop until `done` holds (checked every few ms) or the timeout passes.
bool waitUntil(const std::function<bool()> &done, int timeoutMs)
{
    QElapsedTimer t;
    t.start();
    while (!done()) {
        if (t.elapsed() > timeoutMs)
            return false;
        QEventLoop loop;
        QTimer::singleShot(2, &loop, &QEventLoop::quit);
        loop.exec();
    }
    return true;
}

int post(QNetworkAccessManager &nam, const QUrl &url, const QByteArray &body)
{
    QNetworkRequest req(url);
    req.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
    req.setTransferTimeout(120000);
    QNetworkReply *reply = nam.post(req, body);
    waitUntil([reply] { return reply->isFinished(); }, 120000);
    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    reply->deleteLater();
    return status;
}

QString pragma(const QString &path, const char *name)
{
    if (DatabaseLocation::isPostgresUrl(path))
        return QStringLiteral("n/a(postgresql)"); // one node on PostgreSQL; several: bench/pg-burndown.sh
    const QString conn = QStringLiteral("bench-probe");
    QString value;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), conn);
        db.setDatabaseName(path);
        if (db.open()) {
            QSqlQuery q(db);
            if (q.exec(QStringLiteral("PRAGMA %1").arg(QLatin1String(name))) && q.next())
                value = q.value(0).toString();
        }
    }
    QSqlDatabase::removeDatabase(conn);
    return value;
}

std::uint64_t tasksDone(MetricsRegistry &m)
{
    return m.counterTotal("worker_tasks_total");
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCommandLineParser p;
    p.setApplicationDescription(QStringLiteral("Queue burn-down and steady-state throughput of Vigil's queue."));
    p.addHelpOption();
    p.addOptions({
        {QStringLiteral("db"), QStringLiteral("SQLite file (default: a fresh temporary file)."), QStringLiteral("path")},
        {QStringLiteral("tasks"), QStringLiteral("Tasks to pre-insert for the burn-down (default 100000)."),
            QStringLiteral("n"), QStringLiteral("100000")},
        {QStringLiteral("workers"), QStringLiteral("Workers (default 2)."), QStringLiteral("n"), QStringLiteral("2")},
        {QStringLiteral("claim-batch"), QStringLiteral("Tasks per claim (default 64)."), QStringLiteral("n"),
            QStringLiteral("64")},
        {QStringLiteral("durability"), QStringLiteral("normal or full (default normal)."), QStringLiteral("mode"),
            QStringLiteral("normal")},
        {QStringLiteral("steady-seconds"), QStringLiteral("Length of the steady-state phase (default 10)."),
            QStringLiteral("s"), QStringLiteral("10")},
        {QStringLiteral("steady-rate"), QStringLiteral("Simulator rate, events/min (default 300000)."),
            QStringLiteral("per-min"), QStringLiteral("300000")},
        {QStringLiteral("skip-steady"), QStringLiteral("Only the burn-down.")},
    });
    p.process(app);
    const QString dbArg = p.value(QStringLiteral("db"));
    QTemporaryDir tmp;
    ServerConfig config;
    config.port = 0;
    config.databasePath = dbArg.isEmpty() ? tmp.filePath(QStringLiteral("bench.db")) : dbArg;
    config.workers = p.value(QStringLiteral("workers")).toInt();
    config.claimBatch = p.value(QStringLiteral("claim-batch")).toInt();
    config.durability = p.value(QStringLiteral("durability")) == QLatin1String("full") ? Durability::Full
                                                                                        : Durability::Normal;
    config.remediator.latencyMs = 1;
    config.faultInjection = false;
    const int tasks = p.value(QStringLiteral("tasks")).toInt();

    Backend backend(config);
    QString error;
    if (!backend.start(&error)) {
        std::fprintf(stderr, "queue: cannot start: %s\n", qPrintable(error));
        return 1;
    }
    QNetworkAccessManager nam;
    const QString base = backend.baseUrl().toString();
    MetricsRegistry &metrics = backend.metrics();

    std::printf("settings: db=%s journal_mode=%s synchronous=%s workers=%d claim_batch=%d in_flight_per_worker=%d "
                "writer_batch<=%d ops outcome_batch=per event-loop pass (<= in flight) lease=%ds\n",
        qPrintable(backend.databasePath()), qPrintable(pragma(backend.databasePath(), "journal_mode")),
        config.durability == Durability::Full ? "FULL" : "NORMAL", config.workers, config.claimBatch,
        config.claimBatch * 2, 512, config.leaseSeconds);
    std::fflush(stdout);

    // Burn-down: pause, pre-insert, resume, drain.
    if (post(nam, QUrl(base + QStringLiteral("/api/v1/queue/pause")), {}) != 200) {
        std::fprintf(stderr, "queue: pause failed\n");
        return 1;
    }
    QElapsedTimer insert;
    insert.start();
    const QString runTag = QString::number(wallNowMs());
    for (int done = 0; done < tasks;) {
        const int n = std::min(1000, tasks - done);
        QJsonArray events;
        for (int i = 0; i < n; ++i)
            events.append(QJsonObject {{QStringLiteral("metric_name"), QStringLiteral("memory_usage")},
                {QStringLiteral("value"), 10 + (done + i) % 50}, // below every threshold: event tasks only
                {QStringLiteral("source"), QStringLiteral("bench-%1").arg((done + i) % 100)},
                {QStringLiteral("idempotency_key"), QStringLiteral("bench-%1-%2").arg(runTag).arg(done + i)}});
        const int status = post(nam, QUrl(base + QStringLiteral("/api/v1/ingest/batch")),
            QJsonDocument(QJsonObject {{QStringLiteral("events"), events}}).toJson(QJsonDocument::Compact));
        if (status != 202) {
            std::fprintf(stderr, "queue: batch ingest answered %d\n", status);
            return 1;
        }
        done += n;
    }
    const double insertS = double(insert.nsecsElapsed()) / 1e9;
    const std::uint64_t before = tasksDone(metrics);
    QElapsedTimer drain;
    drain.start();
    post(nam, QUrl(base + QStringLiteral("/api/v1/queue/resume")), {});
    const bool drained = waitUntil([&] { return tasksDone(metrics) - before >= std::uint64_t(tasks); }, 600000);
    const double drainS = double(drain.nsecsElapsed()) / 1e9;
    std::printf("\n| phase | tasks | seconds | tasks/s |\n|---|---|---|---|\n");
    std::printf("| pre-insert (batch ingest over HTTP, 1000/request) | %d | %.2f | %.0f |\n", tasks, insertS,
        tasks / insertS);
    std::printf("| burn-down (%d workers drain) | %llu | %.2f | %.0f |%s\n", config.workers,
        static_cast<unsigned long long>(tasksDone(metrics) - before), drainS, double(tasksDone(metrics) - before) / drainS,
        drained ? "" : " (timed out)");
    std::fflush(stdout);

    if (!p.isSet(QStringLiteral("skip-steady"))) {
        // Steady state: the simulator over HTTP, workers draining at the same time.
        SimConfig sim;
        sim.ratePerMin = p.value(QStringLiteral("steady-rate")).toDouble();
        sim.durationSeconds = p.value(QStringLiteral("steady-seconds")).toDouble();
        sim.seed = 1;
        sim.seedGiven = true;
        sim.metrics = {QStringLiteral("memory_usage")}; // the simulator's values rarely breach; keep it event tasks
        bool started = false;
        backend.simulator().requestStart(sim, [&](const QJsonObject &) { started = true; });
        waitUntil([&] { return started; }, 10000);
        const std::uint64_t done0 = tasksDone(metrics);
        const std::uint64_t in0 = metrics.counterTotal("ingest_total");
        QElapsedTimer t;
        t.start();
        waitUntil([&] { return !backend.simulator().isRunning(); }, int(sim.durationSeconds * 1000) + 30000);
        const double s = double(t.nsecsElapsed()) / 1e9;
        const std::uint64_t processed = tasksDone(metrics) - done0;
        const std::uint64_t ingested = metrics.counterTotal("ingest_total") - in0;
        const QJsonObject m = backend.simulator().status()[QStringLiteral("simulator")][QStringLiteral("metrics")].toObject();
        std::printf("| steady state (simulator %.0f/min over HTTP, workers draining) | %llu ingested, %llu processed "
                    "| %.2f | %.0f processed/s, %.0f ingested/s; client p99 %.1f ms; dropped %lld |\n",
            sim.ratePerMin, static_cast<unsigned long long>(ingested), static_cast<unsigned long long>(processed), s,
            double(processed) / s, double(ingested) / s, m[QStringLiteral("latency_ms")][QStringLiteral("p99")].toDouble(),
            m[QStringLiteral("events_dropped")].toInteger());
    }
    std::fflush(stdout);
    backend.stop();
    return 0;
}
