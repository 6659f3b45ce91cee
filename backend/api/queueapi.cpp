#include "queueapi.h"

#include "actor.h"
#include "http/router.h"
#include "reader.h"
#include "util.h"
#include "writer.h"

#include <QJsonObject>
#include <QSqlError>
#include <QSqlQuery>

namespace vigil {

namespace {
HttpResponse badParameter(const QString &field, const QString &message)
{
    return HttpResponse::error(400, QStringLiteral("invalid_parameter"), message, field);
}

HttpResponse storageFailed()
{
    return HttpResponse::error(503, QStringLiteral("storage_unavailable"),
        QStringLiteral("the change could not be committed; nothing was changed, retry later"))
        .withHeader("Retry-After", "1");
}

AuditActor who(const HttpRequest &request)
{
    return AuditActor {actorOf(request), request.remoteAddress.toString()};
}

// Answers a dead-letter or pause operation once the writer has committed it.
std::function<void(QueueAdminResult)> answer(Reply reply, qint64 taskId, const QString &what)
{
    return [reply, taskId, what](QueueAdminResult r) {
        switch (r.status) {
        case QueueAdminResult::Status::Ok:
            reply.send(HttpResponse::json(200, {{QStringLiteral("ok"), true}, {what, r.count}}));
            return;
        case QueueAdminResult::Status::NotFound:
            reply.send(HttpResponse::error(404, QStringLiteral("not_found"),
                QStringLiteral("no task with id %1").arg(taskId), QStringLiteral("id")));
            return;
        case QueueAdminResult::Status::NotDead:
            reply.send(HttpResponse::error(409, QStringLiteral("not_dead"),
                QStringLiteral("task %1 is not a dead letter (only dead tasks can be retried or discarded)")
                    .arg(taskId),
                QStringLiteral("id")));
            return;
        case QueueAdminResult::Status::Failed:
            reply.send(storageFailed());
            return;
        }
    };
}

// {id} must be a task id: a positive integer below 2^53. Anything else cannot name a task.
bool taskIdOf(const HttpRequest &request, qint64 *id, const Reply &reply)
{
    bool ok = false;
    const QString text = request.pathParams.value(QStringLiteral("id"));
    *id = text.toLongLong(&ok);
    if (!ok || *id < 1 || *id >= (qint64(1) << 53)) {
        reply.send(HttpResponse::error(404, QStringLiteral("not_found"),
            QStringLiteral("no task with id '%1' (task ids are positive integers)").arg(text), QStringLiteral("id")));
        return false;
    }
    return true;
}

HttpResponse listDead(QSqlDatabase &db, int limit, qint64 after)
{
    QSqlQuery q(db);
    q.prepare(QStringLiteral(
        "SELECT t.id, t.kind, t.ref_id, t.attempts, t.max_attempts, t.last_error, t.finished_at, t.created_at, "
        "a.id, a.type, a.idempotency_key, a.policy_id, a.executions, a.deliveries, e.id, e.metric_name, e.source "
        "FROM tasks t "
        "LEFT JOIN actions a ON t.kind = 'action' AND a.id = t.ref_id "
        "LEFT JOIN events e ON e.id = (CASE WHEN t.kind = 'event' THEN t.ref_id ELSE a.event_id END) "
        "WHERE t.status = 'dead' AND t.id > ? ORDER BY t.id LIMIT ?"));
    q.addBindValue(after);
    q.addBindValue(limit + 1);
    if (!q.exec())
        return HttpResponse::error(503, QStringLiteral("storage_unavailable"), q.lastError().text());
    QJsonArray items;
    qint64 last = 0;
    bool more = false;
    while (q.next()) {
        if (items.size() == limit) {
            more = true;
            break;
        }
        last = q.value(0).toLongLong();
        const auto nullable
            = [&](int i) { return q.value(i).isNull() ? QJsonValue() : QJsonValue(q.value(i).toLongLong()); };
        QJsonObject item {
            {QStringLiteral("task_id"), last},
            {QStringLiteral("kind"), q.value(1).toString()},
            {QStringLiteral("ref_id"), q.value(2).toLongLong()},
            {QStringLiteral("attempts"), q.value(3).toInt()},
            {QStringLiteral("max_attempts"), q.value(4).toInt()},
            {QStringLiteral("last_error"), q.value(5).isNull() ? QJsonValue() : QJsonValue(q.value(5).toString())},
            {QStringLiteral("finished_at"),
                q.value(6).isNull() ? QJsonValue() : QJsonValue(isoUtc(q.value(6).toLongLong(), true))},
            {QStringLiteral("created_at"), isoUtc(q.value(7).toLongLong(), true)},
        };
        if (!q.value(8).isNull())
            item.insert(QStringLiteral("action"),
                QJsonObject {{QStringLiteral("id"), q.value(8).toLongLong()},
                    {QStringLiteral("type"), q.value(9).toString()},
                    {QStringLiteral("idempotency_key"), q.value(10).toString()},
                    {QStringLiteral("policy_id"), nullable(11)}, {QStringLiteral("executions"), nullable(12)},
                    {QStringLiteral("deliveries"), nullable(13)}});
        if (!q.value(14).isNull())
            item.insert(QStringLiteral("event"),
                QJsonObject {{QStringLiteral("id"), q.value(14).toLongLong()},
                    {QStringLiteral("metric_name"), q.value(15).toString()},
                    {QStringLiteral("source"),
                        q.value(16).isNull() ? QJsonValue() : QJsonValue(q.value(16).toString())}});
        items.append(item);
    }
    q.finish();
    QSqlQuery count(db);
    qint64 total = 0;
    if (count.exec(QStringLiteral("SELECT count(*) FROM tasks WHERE status = 'dead'")) && count.next())
        total = count.value(0).toLongLong();
    return HttpResponse::json(200,
        {{QStringLiteral("ok"), true}, {QStringLiteral("total"), total}, {QStringLiteral("dead"), items},
            {QStringLiteral("next_after"), more ? QJsonValue(last) : QJsonValue()}});
}
} // namespace

void registerQueueRoutes(Router &router, Writer &writer, Reader &reader, WorkersJson workers)
{
    router.addWithQuery("GET", QStringLiteral("/api/v1/queue/dead"), [&reader](const HttpRequest &req, Reply reply) {
        int limit = 100;
        qint64 after = 0;
        for (const auto &[key, value] : req.query.queryItems(QUrl::FullyDecoded)) {
            bool ok = false;
            if (key == QLatin1String("limit")) {
                limit = value.toInt(&ok);
                if (!ok || limit < 1 || limit > 1000)
                    return reply.send(badParameter(key, QStringLiteral("limit must be an integer in 1..1000")));
            } else if (key == QLatin1String("after")) {
                after = value.toLongLong(&ok);
                if (!ok || after < 0)
                    return reply.send(
                        badParameter(key, QStringLiteral("after must be a task id (next_after of the previous page)")));
            } else {
                return reply.send(HttpResponse::error(400, QStringLiteral("unknown_parameter"),
                    QStringLiteral("unknown query parameter '%1' (known: limit, after)").arg(key), key));
            }
        }
        reader.run([limit, after](QSqlDatabase &db) { return listDead(db, limit, after); }, reply);
    });
    // Literal routes before {id} routes: the router takes the first match.
    router.add("POST", QStringLiteral("/api/v1/queue/dead/retry"), [&writer](const HttpRequest &req, Reply reply) {
        writer.submitDeadLetter(Writer::DeadAction::Retry, 0, who(req), answer(reply, 0, QStringLiteral("retried")));
    });
    router.add("DELETE", QStringLiteral("/api/v1/queue/dead"), [&writer](const HttpRequest &req, Reply reply) {
        writer.submitDeadLetter(Writer::DeadAction::Discard, 0, who(req), answer(reply, 0, QStringLiteral("purged")));
    });
    router.add("POST", QStringLiteral("/api/v1/queue/dead/{id}/retry"), [&writer](const HttpRequest &req, Reply reply) {
        qint64 id = 0;
        if (taskIdOf(req, &id, reply))
            writer.submitDeadLetter(
                Writer::DeadAction::Retry, id, who(req), answer(reply, id, QStringLiteral("retried")));
    });
    router.add("DELETE", QStringLiteral("/api/v1/queue/dead/{id}"), [&writer](const HttpRequest &req, Reply reply) {
        qint64 id = 0;
        if (taskIdOf(req, &id, reply))
            writer.submitDeadLetter(
                Writer::DeadAction::Discard, id, who(req), answer(reply, id, QStringLiteral("discarded")));
    });
    for (const bool pause : {true, false}) {
        router.add("POST", pause ? QStringLiteral("/api/v1/queue/pause") : QStringLiteral("/api/v1/queue/resume"),
            [&writer, pause](const HttpRequest &req, Reply reply) {
                writer.submitPause(pause, who(req), [reply, pause](QueueAdminResult r) {
                    if (r.status != QueueAdminResult::Status::Ok)
                        return reply.send(storageFailed());
                    reply.send(HttpResponse::json(200,
                        {{QStringLiteral("ok"), true}, {QStringLiteral("paused"), pause},
                            {QStringLiteral("changed"), r.count > 0}}));
                });
            });
    }
    router.add("GET", QStringLiteral("/api/v1/workers"), [workers](const HttpRequest &, Reply reply) {
        reply.send(HttpResponse::json(200,
            {{QStringLiteral("ok"), true}, {QStringLiteral("timestamp"), isoUtc(wallNowMs())},
                {QStringLiteral("workers"), workers ? workers() : QJsonArray()}}));
    });
}

} // namespace vigil
