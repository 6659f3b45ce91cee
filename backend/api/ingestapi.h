#pragma once

#include "config.h"

namespace vigil {

class MetricsRegistry;
class Router;
class Writer;

// POST /api/v1/ingest: validate, hand to the writer, answer 202 only after the commit.
// Honours X-Vigil-Fault markers when fault injection is enabled (DESIGN.md §4).
void registerIngestRoutes(Router &router, Writer &writer, MetricsRegistry &metrics, const ServerConfig &config);

} // namespace vigil
