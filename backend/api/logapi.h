#pragma once

namespace vigil {

class Router;
namespace logging {
class LogRing;
}

// GET /api/v1/logs: recent log lines from the logger's in-memory ring (answered inline, no SQL),
// so the window's log panel works for the embedded server and a remote one alike.
void registerLogRoutes(Router &router, const logging::LogRing &ring);

} // namespace vigil
