#pragma once

#include <QString>

namespace vigil {

struct HttpRequest;

// Who made an operator call, for its audit entry: one function for every audited route.
// "<principal>@<remote address>", the principal being what the admission check recognised from the
// bearer token: "operator@10.0.0.7", or "anonymous@127.0.0.1" when no tokens are configured.
QString actorOf(const HttpRequest &request);

} // namespace vigil
