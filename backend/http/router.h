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
    void add(const QByteArray &method, const QString &pattern, Handler handler);

    struct Match
    {
        const Handler *handler = nullptr; // null: no route for this method
        QHash<QString, QString> params;
        QByteArray endpoint; // the pattern, for metrics and logs
        QByteArrayList allowed; // methods the path supports (for 405 Allow); empty: unknown path (404)
    };
    Match match(const QByteArray &method, const QString &path) const;

private:
    struct Route
    {
        QByteArray method;
        QString pattern;
        QStringList segments;
        Handler handler;
    };
    static bool matches(const Route &route, const QStringList &segments, QHash<QString, QString> *params);
    std::vector<Route> m_routes;
};

} // namespace vigil
