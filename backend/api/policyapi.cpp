#include "policyapi.h"

#include "actor.h"
#include "http/router.h"
#include "policy.h"
#include "reader.h"
#include "util.h"
#include "validation.h"
#include "writer.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSqlError>
#include <QSqlQuery>

namespace vigil {

namespace {
const QString kExample = QStringLiteral(
    "{\"name\": \"hot-cpu\", \"metric_name\": \"cpu_usage\", \"op\": \">\", \"threshold\": 95, \"action\": "
    "\"restart_service\"}");
constexpr qint64 kMaxId = qint64(1) << 53;

AuditActor who(const HttpRequest &request)
{
    return AuditActor {actorOf(request), request.remoteAddress.toString()};
}

HttpResponse notFound(const QString &id)
{
    return HttpResponse::error(
        404, QStringLiteral("not_found"), QStringLiteral("no policy with id %1").arg(id), QStringLiteral("id"));
}

HttpResponse invalid(const ValidationError &e)
{
    return HttpResponse::error(400, e.code, e.message, e.field);
}

// {id} must be a policy id: a positive integer below 2^53. Anything else cannot name a policy.
bool policyIdOf(const HttpRequest &request, qint64 *id, const Reply &reply)
{
    bool ok = false;
    const QString text = request.pathParams.value(QStringLiteral("id"));
    *id = text.toLongLong(&ok);
    if (!ok || *id < 1 || *id >= kMaxId) {
        reply.send(HttpResponse::error(404, QStringLiteral("not_found"),
            QStringLiteral("no policy with id '%1' (policy ids are positive integers)").arg(text.left(64)),
            QStringLiteral("id")));
        return false;
    }
    return true;
}

// Content type and body → a JSON object, or an answer sent.
bool bodyObject(const HttpRequest &req, const Reply &reply, QJsonObject *out)
{
    const QByteArray contentType = req.header("Content-Type").toLower();
    if (!contentType.isEmpty() && !contentType.startsWith("application/json") && !contentType.contains("+json")) {
        reply.send(HttpResponse::error(415, QStringLiteral("unsupported_media_type"),
            QStringLiteral("send the policy as JSON with Content-Type: application/json (got %1)")
                .arg(QString::fromLatin1(contentType.left(64)))));
        return false;
    }
    if (auto e = parseJsonObjectBody(req.body, QStringLiteral("one policy"), kExample, out)) {
        reply.send(invalid(*e));
        return false;
    }
    return true;
}

// `id` in a body: absent, null or (for PUT/PATCH) the id of the path. The server assigns ids.
bool bodyIdMatches(const QJsonObject &body, qint64 pathId, const Reply &reply)
{
    const QJsonValue v = body.value(QStringLiteral("id"));
    if (v.isUndefined() || v.isNull())
        return true;
    if (pathId > 0 && v.isDouble() && v.toDouble() == double(pathId))
        return true;
    reply.send(HttpResponse::error(400, QStringLiteral("invalid_value"),
        pathId > 0 ? QStringLiteral("Field 'id' must be %1, the id in the path (or be left out).").arg(pathId)
                   : QStringLiteral("Field 'id' is assigned by the server; leave it out."),
        QStringLiteral("id")));
    return false;
}

QJsonObject storedJson(const PolicyResult &r)
{
    QJsonObject o = policyToJson(r.policy);
    o.insert(QStringLiteral("created_at"), isoUtc(r.createdAtMs, true));
    o.insert(QStringLiteral("updated_at"), isoUtc(r.updatedAtMs, true));
    return o;
}

// Answers an edit once the writer has committed it (or refused it).
std::function<void(PolicyResult)> answer(Reply reply, qint64 id, int okStatus)
{
    return [reply, id, okStatus](PolicyResult r) {
        switch (r.status) {
        case PolicyResult::Status::Ok: {
            QJsonObject body {{QStringLiteral("ok"), true}};
            if (okStatus == 0) { // delete
                body.insert(QStringLiteral("deleted"), policyToJson(r.policy));
                return reply.send(HttpResponse::json(200, body));
            }
            body.insert(QStringLiteral("policy"), storedJson(r));
            if (okStatus == 201) {
                HttpResponse response = HttpResponse::json(201, body);
                response.withHeader("Location", "/api/v1/policies/" + QByteArray::number(r.policy.id));
                return reply.send(std::move(response));
            }
            body.insert(QStringLiteral("changed"), QJsonArray::fromStringList(r.changed));
            body.insert(QStringLiteral("streak_reset"), r.streakReset);
            return reply.send(HttpResponse::json(200, body));
        }
        case PolicyResult::Status::NotFound:
            return reply.send(notFound(QString::number(id)));
        case PolicyResult::Status::DuplicateName:
            return reply.send(HttpResponse::error(409, QStringLiteral("duplicate_name"),
                QStringLiteral("another policy is already named \"%1\"; policy names are unique")
                    .arg(r.policy.name.left(128)),
                QStringLiteral("name")));
        case PolicyResult::Status::InUse:
            return reply.send(HttpResponse::error(409, QStringLiteral("policy_in_use"),
                QStringLiteral("policy %1 has %2 action(s) in its history and cannot be deleted; disable it instead "
                               "(PATCH {\"enabled\": false})")
                    .arg(id)
                    .arg(r.actions),
                QStringLiteral("id")));
        case PolicyResult::Status::Invalid:
            return reply.send(invalid(r.error));
        case PolicyResult::Status::Failed:
            return reply.send(HttpResponse::error(503, QStringLiteral("storage_unavailable"),
                QStringLiteral("the change could not be committed; nothing was changed, retry later"))
                                  .withHeader("Retry-After", "1"));
        }
    };
}

const char *kSelect
    = "SELECT p.id, p.name, p.metric_name, p.op, p.threshold, p.for_count, p.cooldown_s, p.action, p.params, "
      "p.enabled, p.created_at, p.updated_at, "
      "(SELECT count(*) FROM policy_state s WHERE s.policy_id = p.id), "
      "(SELECT count(*) FROM policy_state s WHERE s.policy_id = p.id AND s.streak > 0), "
      "(SELECT max(s.last_fired_at) FROM policy_state s WHERE s.policy_id = p.id AND s.last_fired_at >= 0) "
      "FROM policies p";

QJsonObject rowJson(const QSqlQuery &q)
{
    QJsonObject o = policyToJson(policyFromRow(q)); // the first ten columns of kSelect are kPolicyColumns
    o.insert(QStringLiteral("created_at"), isoUtc(q.value(10).toLongLong(), true));
    o.insert(QStringLiteral("updated_at"), isoUtc(q.value(11).toLongLong(), true));
    // The per-source state the writer keeps (DESIGN.md §9), summed up: how many sources it has seen, how many are
    // part-way through a for_count streak, and when it last fired for any of them.
    o.insert(QStringLiteral("state"),
        QJsonObject {{QStringLiteral("sources"), q.value(12).toLongLong()},
            {QStringLiteral("sources_in_streak"), q.value(13).toLongLong()},
            {QStringLiteral("last_fired_at"),
                q.value(14).isNull() ? QJsonValue() : QJsonValue(isoUtc(q.value(14).toLongLong(), true))}});
    return o;
}

HttpResponse storageError(const QSqlQuery &q)
{
    return HttpResponse::error(503, QStringLiteral("storage_unavailable"), q.lastError().text());
}
} // namespace

void registerPolicyRoutes(Router &router, Writer &writer, Reader &reader)
{
    router.add("GET", QStringLiteral("/api/v1/policies"), [&reader](const HttpRequest &, Reply reply) {
        reader.run(
            [](QSqlDatabase &db) {
                QSqlQuery q(db);
                if (!q.exec(QString::fromLatin1(kSelect) + QStringLiteral(" ORDER BY p.id")))
                    return storageError(q);
                QJsonArray items;
                while (q.next())
                    items.append(rowJson(q));
                return HttpResponse::json(200,
                    {{QStringLiteral("ok"), true}, {QStringLiteral("total"), items.size()},
                        {QStringLiteral("policies"), items},
                        {QStringLiteral("actions"), QJsonArray::fromStringList(supportedActions())}});
            },
            reply);
    });
    router.add("GET", QStringLiteral("/api/v1/policies/{id}"), [&reader](const HttpRequest &req, Reply reply) {
        qint64 id = 0;
        if (!policyIdOf(req, &id, reply))
            return;
        reader.run(
            [id](QSqlDatabase &db) {
                QSqlQuery q(db);
                q.prepare(QString::fromLatin1(kSelect) + QStringLiteral(" WHERE p.id = ?"));
                q.addBindValue(id);
                if (!q.exec())
                    return storageError(q);
                if (!q.next())
                    return notFound(QString::number(id));
                return HttpResponse::json(200, {{QStringLiteral("ok"), true}, {QStringLiteral("policy"), rowJson(q)}});
            },
            reply);
    });
    router.add("POST", QStringLiteral("/api/v1/policies"), [&writer](const HttpRequest &req, Reply reply) {
        QJsonObject body;
        Policy p;
        if (!bodyObject(req, reply, &body))
            return;
        if (auto e = validatePolicyObject(body, &p))
            return reply.send(invalid(*e));
        if (!bodyIdMatches(body, 0, reply))
            return;
        writer.submitPolicyCreate(std::move(p), who(req), answer(reply, 0, 201));
    });
    router.add("PUT", QStringLiteral("/api/v1/policies/{id}"), [&writer](const HttpRequest &req, Reply reply) {
        qint64 id = 0;
        QJsonObject body;
        Policy p;
        if (!policyIdOf(req, &id, reply) || !bodyObject(req, reply, &body))
            return;
        if (auto e = validatePolicyObject(body, &p))
            return reply.send(invalid(*e));
        if (!bodyIdMatches(body, id, reply))
            return;
        writer.submitPolicyReplace(id, std::move(p), who(req), answer(reply, id, 200));
    });
    router.add("PATCH", QStringLiteral("/api/v1/policies/{id}"), [&writer](const HttpRequest &req, Reply reply) {
        qint64 id = 0;
        QJsonObject body;
        if (!policyIdOf(req, &id, reply) || !bodyObject(req, reply, &body))
            return;
        if (body.isEmpty())
            return reply.send(HttpResponse::error(400, QStringLiteral("missing_field"),
                QStringLiteral("Send at least one field to change, e.g. {\"enabled\": false}.")));
        // Field names are checked here; values once they are merged into the stored policy (the writer).
        Policy probe;
        QJsonObject known = policyToJson(probe);
        for (auto it = body.constBegin(); it != body.constEnd(); ++it)
            if (!known.contains(it.key()))
                return reply.send(HttpResponse::error(400, QStringLiteral("unknown_field"),
                    QStringLiteral("Unknown field '%1'; allowed fields are id, name, metric_name, op, threshold, "
                                   "for_count, cooldown_s, action, params and enabled.")
                        .arg(it.key().left(64)),
                    it.key().left(64)));
        if (!bodyIdMatches(body, id, reply))
            return;
        body.remove(QStringLiteral("id"));
        writer.submitPolicyPatch(id, std::move(body), who(req), answer(reply, id, 200));
    });
    router.add("DELETE", QStringLiteral("/api/v1/policies/{id}"), [&writer](const HttpRequest &req, Reply reply) {
        qint64 id = 0;
        if (policyIdOf(req, &id, reply))
            writer.submitPolicyDelete(id, who(req), answer(reply, id, 0));
    });
}

} // namespace vigil
