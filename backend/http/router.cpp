#include "router.h"

namespace vigil {

void Router::addRoute(const QByteArray &method, const QString &pattern, Handler handler, Query query)
{
    m_routes.push_back(
        Route {method, pattern, pattern.split(QLatin1Char('/'), Qt::SkipEmptyParts), std::move(handler), query});
}

bool Router::matches(const Route &route, const QStringList &segments, QHash<QString, QString> *params)
{
    if (route.segments.size() != segments.size())
        return false;
    for (qsizetype i = 0; i < segments.size(); ++i) {
        const QString &want = route.segments.at(i);
        if (want.startsWith(QLatin1Char('{')) && want.endsWith(QLatin1Char('}'))) {
            if (segments.at(i).isEmpty())
                return false;
            if (params)
                params->insert(want.mid(1, want.size() - 2), segments.at(i));
        } else if (want != segments.at(i)) {
            return false;
        }
    }
    return true;
}

Router::Match Router::match(const QByteArray &method, const QString &path) const
{
    Match result;
    // A trailing slash is a different resource; "/api/v1/queue/" is a 404 like elsewhere.
    if (path.size() > 1 && path.endsWith(QLatin1Char('/')))
        return result;
    const QStringList segments = path.split(QLatin1Char('/'), Qt::SkipEmptyParts);
    for (const Route &route : m_routes) {
        QHash<QString, QString> params;
        if (!matches(route, segments, &params))
            continue;
        if (!result.allowed.contains(route.method))
            result.allowed.append(route.method);
        // HEAD is served by the GET handler (the dispatcher strips the body).
        const bool methodOk = route.method == method || (method == "HEAD" && route.method == "GET");
        if (methodOk && !result.handler) {
            result.handler = &route.handler;
            result.params = std::move(params);
            result.endpoint = route.pattern.toUtf8();
            result.query = route.query;
        }
    }
    if (result.allowed.contains("GET") && !result.allowed.contains("HEAD"))
        result.allowed.append("HEAD");
    return result;
}

} // namespace vigil
