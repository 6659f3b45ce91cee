#pragma once

#include <QtGlobal>

#include <functional>

namespace vigil {

class MetricsRegistry;
class Router;
class TimeSeries;
class Writer;

struct SystemContext
{
    Writer &writer;
    TimeSeries &series;
    MetricsRegistry &metrics;
    qint64 startedAtMs;
    std::function<bool()> workersAlive; // thread-safe
};

// GET /healthz, /readyz, /metrics, /api/v1/queue, /api/v1/stats/timeseries — all answered from
// memory (writer snapshot, metrics, the sample ring): no SQL on the request path.
void registerSystemRoutes(Router &router, const SystemContext &context);

} // namespace vigil
