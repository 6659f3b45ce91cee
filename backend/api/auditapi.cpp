#include "auditapi.h"

#include "audit.h"
#include "database.h"
#include "http/router.h"
#include "reader.h"
#include "util.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QSqlError>
#include <QSqlQuery>

namespace vigil {

namespace {
struct AuditFilter
{
    int limit = 100;
    qint64 before = 0; // seq; 0 = newest
    QString kind, actor, subject;
    QString text; // substring of actor, kind, subject or details (ASCII case-insensitive)
};

HttpResponse badParameter(const QString &field, const QString &message)
{
    return HttpResponse::error(400, QStringLiteral("invalid_parameter"), message, field);
}
} // namespace

void registerAuditRoutes(Router &router, Reader &reader)
{
    router.addWithQuery("GET", QStringLiteral("/api/v1/audit"), [&reader](const HttpRequest &req, Reply reply) {
        AuditFilter f;
        for (const auto &[key, value] : req.query.queryItems(QUrl::FullyDecoded)) {
            bool ok = true;
            if (key == QLatin1String("limit")) {
                f.limit = value.toInt(&ok);
                if (!ok || f.limit < 1 || f.limit > 1000)
                    return reply.send(badParameter(key, QStringLiteral("limit must be an integer in 1..1000")));
            } else if (key == QLatin1String("before")) {
                f.before = value.toLongLong(&ok);
                if (!ok || f.before < 1)
                    return reply.send(badParameter(key, QStringLiteral("before must be a positive sequence number")));
            } else if (key == QLatin1String("kind")) {
                f.kind = value;
            } else if (key == QLatin1String("actor")) {
                f.actor = value;
            } else if (key == QLatin1String("subject")) {
                f.subject = value;
            } else if (key == QLatin1String("text")) {
                if (value.isEmpty() || value.size() > 200)
                    return reply.send(badParameter(key, QStringLiteral("text must be 1 to 200 characters")));
                f.text = value;
            } else {
                return reply.send(HttpResponse::error(400, QStringLiteral("unknown_parameter"),
                    QStringLiteral("unknown query parameter '%1' (known: limit, before, kind, actor, subject, text)")
                        .arg(key),
                    key));
            }
        }
        reader.run(
            [f](QSqlDatabase &db) {
                QString sql = QStringLiteral(
                    "SELECT seq, ts, actor, kind, subject, details, prev_hash, hash FROM audit_log WHERE 1=1");
                QVariantList binds;
                if (f.before > 0) {
                    sql += QStringLiteral(" AND seq < ?");
                    binds << f.before;
                }
                if (!f.kind.isEmpty()) {
                    sql += QStringLiteral(" AND kind = ?");
                    binds << f.kind;
                }
                if (!f.actor.isEmpty()) {
                    sql += QStringLiteral(" AND actor = ?");
                    binds << f.actor;
                }
                if (!f.subject.isEmpty()) {
                    sql += QStringLiteral(" AND subject = ?");
                    binds << f.subject;
                }
                if (!f.text.isEmpty()) {
                    // SQLite's lower() folds ASCII only; the needle is folded the same way.
                    const SqlDialect dialect = database::dialectOf(db);
                    const QString nl = sqldialect::newline(dialect);
                    sql += QStringLiteral(" AND ")
                        + sqldialect::containsFolded(dialect,
                            QStringLiteral("actor") + nl + QStringLiteral("kind") + nl + QStringLiteral("subject") + nl
                                + QStringLiteral("details"));
                    binds << f.text;
                }
                sql += QStringLiteral(" ORDER BY seq DESC LIMIT ?");
                binds << f.limit + 1;
                QSqlQuery q(db);
                q.prepare(sql);
                for (const QVariant &b : binds)
                    q.addBindValue(b);
                if (!q.exec())
                    return HttpResponse::error(503, QStringLiteral("storage_unavailable"), q.lastError().text());
                QJsonArray entries;
                qint64 lastSeq = 0;
                bool more = false;
                while (q.next()) {
                    if (entries.size() == f.limit) {
                        more = true;
                        break;
                    }
                    lastSeq = q.value(0).toLongLong();
                    entries.append(QJsonObject {
                        {QStringLiteral("seq"), lastSeq},
                        {QStringLiteral("ts"), isoUtc(q.value(1).toLongLong(), true)},
                        {QStringLiteral("actor"), q.value(2).toString()},
                        {QStringLiteral("kind"), q.value(3).toString()},
                        {QStringLiteral("subject"), q.value(4).toString()},
                        {QStringLiteral("details"), QJsonDocument::fromJson(q.value(5).toString().toUtf8()).object()},
                        {QStringLiteral("prev_hash"), q.value(6).toString()},
                        {QStringLiteral("hash"), q.value(7).toString()},
                    });
                }
                return HttpResponse::json(200,
                    {{QStringLiteral("ok"), true}, {QStringLiteral("entries"), entries},
                        {QStringLiteral("next_before"), more ? QJsonValue(lastSeq) : QJsonValue(QJsonValue::Null)}});
            },
            reply);
    });
    router.add("GET", QStringLiteral("/api/v1/audit/verify"), [&reader](const HttpRequest &, Reply reply) {
        reader.run(
            [](QSqlDatabase &db) {
                const audit::VerifyResult r = audit::verify(db);
                QJsonObject body {{QStringLiteral("ok"), true}, {QStringLiteral("valid"), r.ok},
                    {QStringLiteral("entries_checked"), r.entries}};
                if (!r.ok) {
                    body.insert(QStringLiteral("first_bad_seq"), r.firstBadSeq);
                    body.insert(QStringLiteral("problem"), r.problem);
                }
                return HttpResponse::json(200, body);
            },
            reply);
    });
}

} // namespace vigil
