#pragma once

#include <QJsonArray>

#include <functional>

namespace vigil {

class Reader;
class Router;
class Writer;

// Queue control and worker status (docs/API.md):
//   GET    /api/v1/queue/dead?limit=&after=   dead letters, oldest first, paged by task id (reader thread)
//   POST   /api/v1/queue/dead/{id}/retry       one dead letter back to ready with a fresh set of attempts
//   DELETE /api/v1/queue/dead/{id}             discard one dead letter
//   POST   /api/v1/queue/dead/retry            retry every dead letter
//   DELETE /api/v1/queue/dead                  purge every dead letter
//   POST   /api/v1/queue/pause | /resume       workers stop / start claiming (in-flight tasks finish)
//   GET    /api/v1/workers                     per worker: state, processed/min, success rate, avg time
// Mutations go through the writer (one transaction with their audit entry: actor, remote address).
// Unknown id → 404 not_found; a task that is not dead → 409 not_dead.
using WorkersJson = std::function<QJsonArray()>; // thread-safe
void registerQueueRoutes(Router &router, Writer &writer, Reader &reader, WorkersJson workers);

} // namespace vigil
