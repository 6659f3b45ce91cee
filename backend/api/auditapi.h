#pragma once

namespace vigil {

class Reader;
class Router;

// GET /api/v1/audit (paged, filterable) and GET /api/v1/audit/verify (the whole hash chain).
// Both read through the Reader thread.
void registerAuditRoutes(Router &router, Reader &reader);

} // namespace vigil
