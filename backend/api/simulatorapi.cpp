#include "simulatorapi.h"

#include "actor.h"
#include "http/router.h"
#include "sim/simulator.h"

namespace vigil {

namespace {
QJsonObject auditDetails(const HttpRequest &request, const QJsonObject &status)
{
    const QJsonObject sim = status.value(QStringLiteral("simulator")).toObject();
    return {{QStringLiteral("remote_address"), request.remoteAddress.toString()},
        {QStringLiteral("parameters"), request.query.toString(QUrl::FullyDecoded)},
        {QStringLiteral("run_id"), sim.value(QStringLiteral("run_id"))},
        {QStringLiteral("configuration"), sim.value(QStringLiteral("configuration"))}};
}
} // namespace

void registerSimulatorRoutes(Router &router, Simulator &simulator, AuditSink audit)
{
    router.addWithQuery("POST", QStringLiteral("/api/v1/ui/simulator/start"),
        [&simulator, audit](const HttpRequest &request, Reply reply) {
            // A JSON body would be silently ignored and the run started with defaults: refuse it instead.
            if (!request.body.trimmed().isEmpty()) {
                reply.send(HttpResponse::error(400, QStringLiteral("unexpected_body"),
                    QStringLiteral("simulator start takes its parameters in the query string "
                                   "(e.g. ?rate=1000&mode=burst), not in a request body; send it without a body")));
                return;
            }
            // While running, a start is a live change of the running configuration.
            SimConfig config = simulator.isRunning() ? simulator.configuration() : SimConfig {};
            if (const auto error = parseSimConfig(request.query, &config)) {
                reply.send(HttpResponse::error(400,
                    error->unknown ? QStringLiteral("unknown_parameter") : QStringLiteral("invalid_parameter"),
                    error->message, error->field));
                return;
            }
            if (config.target.isEmpty() && simulator.defaultTarget().isEmpty()) {
                reply.send(HttpResponse::error(400, QStringLiteral("invalid_parameter"),
                    QStringLiteral("no embedded server to target: give target=<base URL>"), QStringLiteral("target")));
                return;
            }
            const bool wasRunning = simulator.isRunning();
            // Answered from the simulator thread once applied (Reply::send is thread-safe).
            simulator.requestStart(config, [reply, audit, request, wasRunning](const QJsonObject &status) {
                if (audit)
                    audit(actorOf(request),
                        wasRunning ? QStringLiteral("simulator_changed") : QStringLiteral("simulator_started"),
                        QStringLiteral("simulator"), auditDetails(request, status));
                reply.send(HttpResponse::json(200, status));
            });
        });
    router.add("POST", QStringLiteral("/api/v1/ui/simulator/stop"),
        [&simulator, audit](const HttpRequest &request, Reply reply) {
            simulator.requestStop([reply, audit, request](const QJsonObject &status) {
                if (audit)
                    audit(actorOf(request), QStringLiteral("simulator_stopped"), QStringLiteral("simulator"),
                        auditDetails(request, status));
                reply.send(HttpResponse::json(200, status));
            });
        });
    router.add("GET", QStringLiteral("/api/v1/ui/simulator/status"),
        [&simulator](const HttpRequest &, Reply reply) { reply.send(HttpResponse::json(200, simulator.status())); });
}

} // namespace vigil
