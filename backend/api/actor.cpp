#include "actor.h"

#include "http/httptypes.h"

namespace vigil {

QString actorOf(const HttpRequest &request)
{
    // No tokens yet (DESIGN.md §3): the caller is named by address only.
    return QStringLiteral("anonymous@") + request.remoteAddress.toString();
}

} // namespace vigil
