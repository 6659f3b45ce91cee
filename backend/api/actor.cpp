#include "actor.h"

#include "http/httptypes.h"

namespace vigil {

QString actorOf(const HttpRequest &request)
{
    QHostAddress address = request.remoteAddress;
    bool mapped = false;
    const QHostAddress v4(address.toIPv4Address(&mapped));
    if (mapped) // ::ffff:10.0.0.7 → 10.0.0.7
        address = v4;
    return request.principal + QLatin1Char('@') + address.toString();
}

} // namespace vigil
