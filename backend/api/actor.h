#pragma once

#include <QString>

namespace vigil {

struct HttpRequest;

// Who made an operator call, for its audit entry: one function for every audited route, so the
// day tokens arrive (viewer/operator) they change here only. Today: "anonymous@<remote address>".
QString actorOf(const HttpRequest &request);

} // namespace vigil
