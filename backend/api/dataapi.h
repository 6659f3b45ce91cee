#pragma once

namespace vigil {

class Reader;
class Router;

// Read-only views of what the pipeline stored, on the reader thread (docs/API.md):
//   GET /api/v1/events?metric=&source=&since=&limit=&before=   recent events, newest first
//   GET /api/v1/actions?status=&type=&limit=&before=           triggered actions, newest first
//   GET /api/v1/actions/{id}                                   one action with its attempts
void registerDataRoutes(Router &router, Reader &reader);

} // namespace vigil
