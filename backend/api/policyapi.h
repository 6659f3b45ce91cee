#pragma once

namespace vigil {

class Reader;
class Router;
class Writer;

// Threshold policies (DESIGN.md §5, docs/API.md):
//   GET    /api/v1/policies        every policy with a summary of its state, by id (reader thread)
//   GET    /api/v1/policies/{id}   one policy
//   POST   /api/v1/policies        create → 201, Location: /api/v1/policies/{id}
//   PUT    /api/v1/policies/{id}   replace every field (the body is a whole policy, as for POST)
//   PATCH  /api/v1/policies/{id}   change only the fields sent
//   DELETE /api/v1/policies/{id}   delete a policy no action refers to (else 409 policy_in_use: disable it)
// Mutations go through the writer (one transaction with their audit entry: actor, remote address, before/after);
// workers evaluate with the new set from the commit on. Unknown id → 404 not_found; a name another policy has →
// 409 duplicate_name; body errors → 400 naming the field.
void registerPolicyRoutes(Router &router, Writer &writer, Reader &reader);

} // namespace vigil
