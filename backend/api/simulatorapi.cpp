#include "simulatorapi.h"

#include "http/router.h"
#include "sim/simulator.h"

namespace vigil {

void registerSimulatorRoutes(Router &router, Simulator &simulator)
{
    router.add(
        "POST", QStringLiteral("/api/v1/ui/simulator/start"), [&simulator](const HttpRequest &request, Reply reply) {
            // While running, a start is a live change of the running configuration.
            SimConfig config = simulator.isRunning() ? simulator.configuration() : SimConfig {};
            if (const auto error = parseSimConfig(request.query, &config)) {
                reply.send(HttpResponse::error(400, QStringLiteral("invalid_parameter"), error->message, error->field));
                return;
            }
            if (config.target.isEmpty() && simulator.defaultTarget().isEmpty()) {
                reply.send(HttpResponse::error(400, QStringLiteral("invalid_parameter"),
                    QStringLiteral("no embedded server to target: give target=<base URL>"), QStringLiteral("target")));
                return;
            }
            // Answered from the simulator thread once applied (Reply::send is thread-safe).
            simulator.requestStart(
                config, [reply](const QJsonObject &status) { reply.send(HttpResponse::json(200, status)); });
        });
    router.add("POST", QStringLiteral("/api/v1/ui/simulator/stop"), [&simulator](const HttpRequest &, Reply reply) {
        simulator.requestStop([reply](const QJsonObject &status) { reply.send(HttpResponse::json(200, status)); });
    });
    router.add("GET", QStringLiteral("/api/v1/ui/simulator/status"),
        [&simulator](const HttpRequest &, Reply reply) { reply.send(HttpResponse::json(200, simulator.status())); });
}

} // namespace vigil
