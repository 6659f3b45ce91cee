#pragma once

#include <QJsonObject>
#include <QString>

#include <functional>

namespace vigil {

class Router;
class Simulator;

// The simulator controller (seed contract, DESIGN.md §4):
//   POST /api/v1/ui/simulator/start?rate=&mode=&failure_rate=&timeout_rate=&malformed_rate=&duration=
//        &seed=&target=&client_timeout_ms=&metrics=&sources=
//        → 200 with the status object. While running, absent parameters keep the running values
//          and the change applies live; when idle they take the defaults (600/min, steady, no faults).
//        → 400 invalid_parameter naming the parameter (out of range, not a number, unknown, repeated).
//   POST /api/v1/ui/simulator/stop → 200 with the final status once requests in flight have ended.
//   GET  /api/v1/ui/simulator/status → 200 {ok, timestamp, simulator:{running, started_at,
//        runtime_seconds, run_id, configuration{…}, metrics{…}}}.
// Start and stop are operator calls: once applied, each is handed to `audit` (actor, kind, subject,
// details with the remote address and the parameters) for the audit trail.
// `simulator` must outlive the router.
using AuditSink = std::function<void(
    const QString &actor, const QString &kind, const QString &subject, const QJsonObject &details)>;
void registerSimulatorRoutes(Router &router, Simulator &simulator, AuditSink audit = {});

} // namespace vigil
