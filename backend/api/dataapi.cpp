#include "dataapi.h"

#include "http/router.h"
#include "reader.h"
#include "util.h"
#include "validation.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSqlError>
#include <QSqlQuery>

namespace vigil {

namespace {
HttpResponse badParameter(const QString &field, const QString &message)
{
    return HttpResponse::error(400, QStringLiteral("invalid_parameter"), message, field);
}

HttpResponse unknownParameter(const QString &key, const QString &known)
{
    return HttpResponse::error(400, QStringLiteral("unknown_parameter"),
        QStringLiteral("unknown query parameter '%1' (known: %2)").arg(key, known), key);
}

QJsonValue nullableMs(const QVariant &v)
{
    return v.isNull() ? QJsonValue() : QJsonValue(isoUtc(v.toLongLong(), true));
}

QJsonValue nullableText(const QVariant &v)
{
    return v.isNull() ? QJsonValue() : QJsonValue(v.toString());
}

struct Page
{
    int limit = 100;
    qint64 before = 0; // id; 0 = newest
};

// limit and before; returns false (and answers) on a bad value.
bool pageParameter(const QString &key, const QString &value, Page *page, const Reply &reply)
{
    bool ok = false;
    if (key == QLatin1String("limit")) {
        page->limit = value.toInt(&ok);
        if (!ok || page->limit < 1 || page->limit > 1000) {
            reply.send(badParameter(key, QStringLiteral("limit must be an integer in 1..1000")));
            return false;
        }
    } else {
        page->before = value.toLongLong(&ok);
        if (!ok || page->before < 1) {
            reply.send(
                badParameter(key, QStringLiteral("before must be a positive id (next_before of the previous page)")));
            return false;
        }
    }
    return true;
}

const char *kActionColumns
    = "a.id, a.event_id, a.policy_id, p.name, a.type, a.idempotency_key, a.status, a.attempts, a.result, "
      "a.deliveries, a.executions, a.executed_at, a.executed_by, a.created_at, a.updated_at, a.finished_at";

QJsonObject actionJson(const QSqlQuery &q)
{
    return {
        {QStringLiteral("id"), q.value(0).toLongLong()},
        {QStringLiteral("event_id"), q.value(1).toLongLong()},
        {QStringLiteral("policy_id"), q.value(2).toLongLong()},
        {QStringLiteral("policy"), nullableText(q.value(3))},
        {QStringLiteral("type"), q.value(4).toString()},
        {QStringLiteral("idempotency_key"), q.value(5).toString()},
        {QStringLiteral("status"), q.value(6).toString()},
        {QStringLiteral("attempts"), q.value(7).toInt()},
        {QStringLiteral("result"), nullableText(q.value(8))},
        {QStringLiteral("deliveries"), q.value(9).toLongLong()},
        {QStringLiteral("executions"), q.value(10).toLongLong()},
        {QStringLiteral("executed_at"), nullableMs(q.value(11))},
        {QStringLiteral("executed_by"), nullableText(q.value(12))},
        {QStringLiteral("created_at"), nullableMs(q.value(13))},
        {QStringLiteral("updated_at"), nullableMs(q.value(14))},
        {QStringLiteral("finished_at"), nullableMs(q.value(15))},
    };
}
} // namespace

void registerDataRoutes(Router &router, Reader &reader)
{
    router.addWithQuery("GET", QStringLiteral("/api/v1/events"), [&reader](const HttpRequest &req, Reply reply) {
        Page page;
        QString metric, source;
        qint64 sinceMs = 0;
        for (const auto &[key, value] : req.query.queryItems(QUrl::FullyDecoded)) {
            if (key == QLatin1String("limit") || key == QLatin1String("before")) {
                if (!pageParameter(key, value, &page, reply))
                    return;
            } else if (key == QLatin1String("metric")) {
                if (!isValidMetricName(value))
                    return reply.send(
                        badParameter(key, QStringLiteral("metric must be a metric name such as cpu_usage")));
                metric = value;
            } else if (key == QLatin1String("source")) {
                source = value;
            } else if (key == QLatin1String("since")) {
                QString why;
                if (!parseRfc3339(value, &sinceMs, &why))
                    return reply.send(badParameter(key, QStringLiteral("since %1").arg(why)));
            } else {
                return reply.send(unknownParameter(key, QStringLiteral("metric, source, since, limit, before")));
            }
        }
        reader.run(
            [page, metric, source, sinceMs](QSqlDatabase &db) {
                QString sql = QStringLiteral(
                    "SELECT e.id, e.metric_name, e.value, e.source, e.labels, e.ts, e.received_at, e.idempotency_key, "
                    "t.status, t.attempts FROM events e LEFT JOIN tasks t ON t.kind = 'event' AND t.ref_id = e.id "
                    "WHERE 1=1");
                QVariantList binds;
                if (page.before > 0) {
                    sql += QStringLiteral(" AND e.id < ?");
                    binds << page.before;
                }
                if (!metric.isEmpty()) {
                    sql += QStringLiteral(" AND e.metric_name = ?");
                    binds << metric;
                }
                if (!source.isEmpty()) {
                    sql += QStringLiteral(" AND e.source = ?");
                    binds << source;
                }
                if (sinceMs > 0) {
                    sql += QStringLiteral(" AND e.ts >= ?");
                    binds << sinceMs;
                }
                sql += QStringLiteral(" ORDER BY e.id DESC LIMIT ?");
                binds << page.limit + 1;
                QSqlQuery q(db);
                q.prepare(sql);
                for (const QVariant &b : binds)
                    q.addBindValue(b);
                if (!q.exec())
                    return HttpResponse::error(503, QStringLiteral("storage_unavailable"), q.lastError().text());
                QJsonArray events;
                qint64 last = 0;
                bool more = false;
                while (q.next()) {
                    if (events.size() == page.limit) {
                        more = true;
                        break;
                    }
                    last = q.value(0).toLongLong();
                    events.append(QJsonObject {
                        {QStringLiteral("id"), last},
                        {QStringLiteral("metric_name"), q.value(1).toString()},
                        {QStringLiteral("value"), q.value(2).toDouble()},
                        {QStringLiteral("source"), nullableText(q.value(3))},
                        {QStringLiteral("labels"),
                            q.value(4).isNull()
                                ? QJsonValue(QJsonObject())
                                : QJsonValue(QJsonDocument::fromJson(q.value(4).toString().toUtf8()).object())},
                        {QStringLiteral("timestamp"), isoUtc(q.value(5).toLongLong(), true)},
                        {QStringLiteral("received_at"), isoUtc(q.value(6).toLongLong(), true)},
                        {QStringLiteral("idempotency_key"), nullableText(q.value(7))},
                        {QStringLiteral("task"),
                            QJsonObject {{QStringLiteral("status"), nullableText(q.value(8))},
                                {QStringLiteral("attempts"), q.value(9).toInt()}}},
                    });
                }
                return HttpResponse::json(200,
                    {{QStringLiteral("ok"), true}, {QStringLiteral("events"), events},
                        {QStringLiteral("next_before"), more ? QJsonValue(last) : QJsonValue()}});
            },
            reply);
    });
    router.addWithQuery("GET", QStringLiteral("/api/v1/actions"), [&reader](const HttpRequest &req, Reply reply) {
        Page page;
        QString status, type;
        for (const auto &[key, value] : req.query.queryItems(QUrl::FullyDecoded)) {
            if (key == QLatin1String("limit") || key == QLatin1String("before")) {
                if (!pageParameter(key, value, &page, reply))
                    return;
            } else if (key == QLatin1String("status")) {
                static const QStringList known {QStringLiteral("pending"), QStringLiteral("retrying"),
                    QStringLiteral("succeeded"), QStringLiteral("dead"), QStringLiteral("discarded")};
                if (!known.contains(value))
                    return reply.send(badParameter(
                        key, QStringLiteral("status must be one of %1").arg(known.join(QStringLiteral(", ")))));
                status = value;
            } else if (key == QLatin1String("type")) {
                type = value;
            } else {
                return reply.send(unknownParameter(key, QStringLiteral("status, type, limit, before")));
            }
        }
        reader.run(
            [page, status, type](QSqlDatabase &db) {
                QString sql = QStringLiteral("SELECT %1 FROM actions a LEFT JOIN policies p ON p.id = a.policy_id "
                                             "WHERE 1=1")
                                  .arg(QLatin1String(kActionColumns));
                QVariantList binds;
                if (page.before > 0) {
                    sql += QStringLiteral(" AND a.id < ?");
                    binds << page.before;
                }
                if (!status.isEmpty()) {
                    sql += QStringLiteral(" AND a.status = ?");
                    binds << status;
                }
                if (!type.isEmpty()) {
                    sql += QStringLiteral(" AND a.type = ?");
                    binds << type;
                }
                sql += QStringLiteral(" ORDER BY a.id DESC LIMIT ?");
                binds << page.limit + 1;
                QSqlQuery q(db);
                q.prepare(sql);
                for (const QVariant &b : binds)
                    q.addBindValue(b);
                if (!q.exec())
                    return HttpResponse::error(503, QStringLiteral("storage_unavailable"), q.lastError().text());
                QJsonArray actions;
                qint64 last = 0;
                bool more = false;
                while (q.next()) {
                    if (actions.size() == page.limit) {
                        more = true;
                        break;
                    }
                    last = q.value(0).toLongLong();
                    actions.append(actionJson(q));
                }
                return HttpResponse::json(200,
                    {{QStringLiteral("ok"), true}, {QStringLiteral("actions"), actions},
                        {QStringLiteral("next_before"), more ? QJsonValue(last) : QJsonValue()}});
            },
            reply);
    });
    router.add("GET", QStringLiteral("/api/v1/actions/{id}"), [&reader](const HttpRequest &req, Reply reply) {
        bool ok = false;
        const QString text = req.pathParams.value(QStringLiteral("id"));
        const qint64 id = text.toLongLong(&ok);
        if (!ok || id < 1)
            return reply.send(HttpResponse::error(404, QStringLiteral("not_found"),
                QStringLiteral("no action with id '%1' (action ids are positive integers)").arg(text),
                QStringLiteral("id")));
        reader.run(
            [id](QSqlDatabase &db) {
                QSqlQuery q(db);
                q.prepare(QStringLiteral("SELECT %1 FROM actions a LEFT JOIN policies p ON p.id = a.policy_id "
                                         "WHERE a.id = ?")
                              .arg(QLatin1String(kActionColumns)));
                q.addBindValue(id);
                if (!q.exec())
                    return HttpResponse::error(503, QStringLiteral("storage_unavailable"), q.lastError().text());
                if (!q.next())
                    return HttpResponse::error(404, QStringLiteral("not_found"),
                        QStringLiteral("no action with id %1").arg(id), QStringLiteral("id"));
                QJsonObject action = actionJson(q);
                q.finish();
                QSqlQuery at(db);
                at.prepare(QStringLiteral("SELECT attempt, outcome, error, duration_ms, finished_at, node FROM "
                                          "action_attempts WHERE action_id = ? ORDER BY attempt"));
                at.addBindValue(id);
                if (!at.exec())
                    return HttpResponse::error(503, QStringLiteral("storage_unavailable"), at.lastError().text());
                QJsonArray attempts;
                while (at.next())
                    attempts.append(QJsonObject {{QStringLiteral("attempt"), at.value(0).toInt()},
                        {QStringLiteral("outcome"), at.value(1).toString()},
                        {QStringLiteral("error"), nullableText(at.value(2))},
                        {QStringLiteral("duration_ms"), at.value(3).toDouble()},
                        {QStringLiteral("finished_at"), nullableMs(at.value(4))},
                        {QStringLiteral("worker"), nullableText(at.value(5))}});
                action.insert(QStringLiteral("attempt_log"), attempts);
                return HttpResponse::json(200, {{QStringLiteral("ok"), true}, {QStringLiteral("action"), action}});
            },
            reply);
    });
}

} // namespace vigil
