#pragma once

#include "httptypes.h"

#include <QStringList>

#include <vector>

namespace vigil {

// One table of routes. Patterns are literal segments plus {name} placeholders:
// "/api/v1/queue/dead/{id}". Filled at start-up, read-only afterwards (shared by HTTP threads).
class Router final
{
public:
    // A route added with add() takes no query parameters: any is refused (400 unknown_parameter)
    // before its handler runs, since a filter that is silently ignored would show the wrong data.
    // addWithQuery(): the handler reads (and validates) the query string itself; a parameter given
    // twice is refused before it runs. addIgnoringQuery(): any query is ignored (monitoring
    // endpoints, where scrapers and probes may add their own).
    enum class Query { None, Parsed, Ignored };
    void add(const QByteArray &method, const QString &pattern, Handler handler)
    {
        addRoute(method, pattern, std::move(handler), Query::None);
    }
    void addWithQuery(const QByteArray &method, const QString &pattern, Handler handler)
    {
        addRoute(method, pattern, std::move(handler), Query::Parsed);
    }
    void addIgnoringQuery(const QByteArray &method, const QString &pattern, Handler handler)
    {
        addRoute(method, pattern, std::move(handler), Query::Ignored);
    }

    struct Match
    {
        const Handler *handler = nullptr; // null: no route for this method
        QHash<QString, QString> params;
        QByteArray endpoint; // the pattern, for metrics and logs
        Query query = Query::None;
        QByteArrayList allowed; // methods the path supports (for 405 Allow); empty: unknown path (404)
    };
    Match match(const QByteArray &method, const QString &path) const;

private:
    void addRoute(const QByteArray &method, const QString &pattern, Handler handler, Query query);
    struct Route
    {
        QByteArray method;
        QString pattern;
        QStringList segments;
        Handler handler;
        Query query;
    };
    static bool matches(const Route &route, const QStringList &segments, QHash<QString, QString> *params);
    std::vector<Route> m_routes;
};

} // namespace vigil
