#include "systemapi.h"

#include "http/router.h"
#include "metrics.h"
#include "timeseries.h"
#include "util.h"
#include "writer.h"

#include <QJsonArray>

namespace vigil {

namespace {
QJsonObject queueJson(const QueueSnapshot &q, const Sample &latest)
{
    return {
        {QStringLiteral("depth"), q.depth()},
        {QStringLiteral("ready"), q.due()},
        {QStringLiteral("scheduled"), q.scheduledNow()},
        {QStringLiteral("leased"), q.leased},
        {QStringLiteral("done"), q.done},
        {QStringLiteral("dead"), q.dead},
        {QStringLiteral("oldest_ready_age_seconds"), q.oldestReadyAgeSeconds},
        {QStringLiteral("paused"), q.paused},
        {QStringLiteral("totals"),
            QJsonObject {{QStringLiteral("enqueued"), q.enqueued}, {QStringLiteral("completed"), q.completed},
                {QStringLiteral("failed"), q.failedAttempts}, {QStringLiteral("retried"), q.retried},
                {QStringLiteral("dead_lettered"), q.deadLettered}, {QStringLiteral("rescued"), q.rescued},
                {QStringLiteral("events"), q.events}, {QStringLiteral("actions"), q.actions}}},
        {QStringLiteral("rates"),
            QJsonObject {{QStringLiteral("enqueue_per_s"), latest.enqueuePerS},
                {QStringLiteral("dequeue_per_s"), latest.dequeuePerS}}},
    };
}

bool parseBoundedInt(const QString &text, qint64 lo, qint64 hi, qint64 *out)
{
    bool ok = false;
    const qint64 v = text.toLongLong(&ok);
    if (!ok || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}
} // namespace

void registerSystemRoutes(Router &router, const SystemContext &c)
{
    SystemContext ctx = c;
    router.addIgnoringQuery("GET", QStringLiteral("/healthz"), [ctx](const HttpRequest &, Reply reply) {
        reply.send(HttpResponse::json(200,
            {{QStringLiteral("ok"), true}, {QStringLiteral("status"), QStringLiteral("alive")},
                {QStringLiteral("version"), QStringLiteral(VIGIL_VERSION)},
                {QStringLiteral("uptime_seconds"), (wallNowMs() - ctx.startedAtMs) / 1000}}));
    });
    router.addIgnoringQuery("GET", QStringLiteral("/readyz"), [ctx](const HttpRequest &, Reply reply) {
        const bool db = ctx.writer.isHealthy();
        const bool workers = !ctx.workersAlive || ctx.workersAlive();
        const bool ready = db && workers;
        QJsonObject body {{QStringLiteral("ok"), ready},
            {QStringLiteral("checks"),
                QJsonObject {{QStringLiteral("database"), db}, {QStringLiteral("workers"), workers}}}};
        HttpResponse r = HttpResponse::json(ready ? 200 : 503, body);
        if (!ready)
            r.withHeader("Retry-After", "1");
        reply.send(std::move(r));
    });
    router.addIgnoringQuery("GET", QStringLiteral("/metrics"), [ctx](const HttpRequest &, Reply reply) {
        reply.send(HttpResponse::raw(200, "text/plain; version=0.0.4; charset=utf-8", ctx.metrics.exposition()));
    });
    router.add("GET", QStringLiteral("/api/v1/queue"), [ctx](const HttpRequest &, Reply reply) {
        reply.send(HttpResponse::json(200,
            {{QStringLiteral("ok"), true}, {QStringLiteral("timestamp"), isoUtc(wallNowMs())},
                {QStringLiteral("queue"), queueJson(ctx.writer.snapshot(), ctx.series.latest())}}));
    });
    router.addWithQuery("GET", QStringLiteral("/api/v1/stats/timeseries"), [ctx](const HttpRequest &req, Reply reply) {
        qint64 window = 300;
        qint64 since = 0;
        for (const auto &[key, value] : req.query.queryItems(QUrl::FullyDecoded)) {
            if (key == QLatin1String("window")) {
                if (!parseBoundedInt(value, 1, TimeSeries::kCapacity, &window)) {
                    reply.send(HttpResponse::error(400, QStringLiteral("invalid_parameter"),
                        QStringLiteral("window must be an integer number of seconds in 1..%1")
                            .arg(TimeSeries::kCapacity),
                        QStringLiteral("window")));
                    return;
                }
            } else if (key == QLatin1String("since")) {
                if (!parseBoundedInt(value, 0, std::numeric_limits<qint64>::max(), &since)) {
                    reply.send(HttpResponse::error(400, QStringLiteral("invalid_parameter"),
                        QStringLiteral("since must be a Unix time in milliseconds"), QStringLiteral("since")));
                    return;
                }
            } else {
                reply.send(HttpResponse::error(400, QStringLiteral("unknown_parameter"),
                    QStringLiteral("unknown query parameter '%1' (known: window, since)").arg(key), key));
                return;
            }
        }
        QJsonArray samples;
        for (const Sample &s : ctx.series.samples(int(window), since))
            samples.append(s.toJson());
        reply.send(HttpResponse::json(200,
            {{QStringLiteral("ok"), true}, {QStringLiteral("interval_seconds"), 1},
                {QStringLiteral("window_seconds"), window}, {QStringLiteral("samples"), samples}}));
    });
}

} // namespace vigil
