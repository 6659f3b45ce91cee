#include "logapi.h"

#include "http/router.h"
#include "logger.h"
#include "util.h"

#include <QJsonArray>

namespace vigil {

namespace {
HttpResponse badParameter(const QString &field, const QString &message)
{
    return HttpResponse::error(400, QStringLiteral("invalid_parameter"), message, field);
}
} // namespace

void registerLogRoutes(Router &router, const logging::LogRing &ring)
{
    router.addWithQuery("GET", QStringLiteral("/api/v1/logs"), [&ring](const HttpRequest &req, Reply reply) {
        QtMsgType level = QtDebugMsg;
        int limit = 200;
        qint64 after = 0;
        QString event;
        for (const auto &[key, value] : req.query.queryItems(QUrl::FullyDecoded)) {
            bool ok = true;
            if (key == QLatin1String("level")) {
                if (!logging::parseLevel(value, &level))
                    return reply.send(badParameter(key, QStringLiteral("level must be debug, info, warning or error")));
            } else if (key == QLatin1String("limit")) {
                limit = value.toInt(&ok);
                if (!ok || limit < 1 || limit > ring.capacity())
                    return reply.send(
                        badParameter(key, QStringLiteral("limit must be an integer in 1..%1").arg(ring.capacity())));
            } else if (key == QLatin1String("after")) {
                after = value.toLongLong(&ok);
                if (!ok || after < 0)
                    return reply.send(badParameter(key, QStringLiteral("after must be a line number (seq) >= 0")));
            } else if (key == QLatin1String("event")) {
                event = value;
            } else {
                return reply.send(HttpResponse::error(400, QStringLiteral("unknown_parameter"),
                    QStringLiteral("unknown query parameter '%1' (known: level, limit, after, event)").arg(key), key));
            }
        }
        const logging::LogRing::Page page = ring.lines(level, limit, after, event);
        QJsonArray lines;
        for (const logging::LogLine &line : page.lines)
            lines.append(line.toJson());
        reply.send(HttpResponse::json(200,
            {{QStringLiteral("ok"), true}, {QStringLiteral("lines"), lines}, {QStringLiteral("last_seq"), page.lastSeq},
                {QStringLiteral("truncated"), page.truncated}, {QStringLiteral("capacity"), ring.capacity()},
                {QStringLiteral("timestamp"), isoUtc(wallNowMs())}}));
    });
}

} // namespace vigil
