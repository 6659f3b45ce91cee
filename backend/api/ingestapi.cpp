#include "ingestapi.h"

#include "http/router.h"
#include "metrics.h"
#include "util.h"
#include "validation.h"
#include "writer.h"

#include <QTimer>

namespace vigil {

namespace {
constexpr int kMaxInjectedDelayMs = 60'000;

class IngestController
{
public:
    IngestController(Writer &writer, MetricsRegistry &metrics, const ServerConfig &config)
        : m_writer(writer)
        , m_metrics(metrics)
        , m_config(config)
    { }

    void ingest(const HttpRequest &req, const Reply &reply)
    {
        const QByteArray contentType = req.header("Content-Type").toLower();
        if (!contentType.isEmpty() && !contentType.startsWith("application/json") && !contentType.contains("+json")) {
            reject("unsupported_media_type");
            reply.send(HttpResponse::error(415, QStringLiteral("unsupported_media_type"),
                QStringLiteral("send the event as JSON with Content-Type: application/json (got %1)")
                    .arg(QString::fromLatin1(contentType))));
            return;
        }
        int delayMs = 0;
        const QByteArray fault = req.header("X-Vigil-Fault").trimmed().toLower();
        if (!fault.isEmpty() && m_config.faultInjection) {
            if (fault == "error") {
                reject("injected_fault");
                reply.send(HttpResponse::error(500, QStringLiteral("injected_fault"),
                    QStringLiteral("fault injected on request (X-Vigil-Fault: error); nothing was stored"))
                               .withHeader("X-Vigil-Injected", "error"));
                return;
            }
            if (fault.startsWith("delay=")) {
                bool ok = false;
                delayMs = fault.mid(6).toInt(&ok);
                if (!ok || delayMs < 0 || delayMs > kMaxInjectedDelayMs) {
                    reject("invalid_header");
                    reply.send(HttpResponse::error(400, QStringLiteral("invalid_header"),
                        QStringLiteral("X-Vigil-Fault delay must be 0..%1 ms").arg(kMaxInjectedDelayMs),
                        QStringLiteral("X-Vigil-Fault")));
                    return;
                }
            } else {
                reject("invalid_header");
                reply.send(HttpResponse::error(400, QStringLiteral("invalid_header"),
                    QStringLiteral("X-Vigil-Fault must be 'error' or 'delay=<ms>'"), QStringLiteral("X-Vigil-Fault")));
                return;
            }
        }
        IngestEvent event;
        if (const auto err = parseIngest(req.body, wallNowMs(), &event)) {
            reject(err->code.toUtf8());
            reply.send(HttpResponse::error(400, err->code, err->message, err->field));
            return;
        }
        m_writer.submitIngest(std::move(event), [reply, delayMs](const IngestResult &r) {
            HttpResponse response;
            switch (r.status) {
            case IngestResult::Status::Created:
                response = HttpResponse::json(202, {{QStringLiteral("ok"), true}, {QStringLiteral("id"), r.id}});
                break;
            case IngestResult::Status::Duplicate:
                response = HttpResponse::json(200,
                    {{QStringLiteral("ok"), true}, {QStringLiteral("id"), r.id}, {QStringLiteral("duplicate"), true}});
                break;
            case IngestResult::Status::Failed:
                response = HttpResponse::error(503, QStringLiteral("storage_unavailable"),
                    QStringLiteral("the event could not be committed; nothing was stored, retry later"))
                               .withHeader("Retry-After", "1");
                break;
            }
            if (delayMs > 0 && r.status != IngestResult::Status::Failed) {
                // Committed; hold the answer so the client times out and retries with the same key.
                response.withHeader("X-Vigil-Injected", "delay");
                QTimer::singleShot(delayMs, [reply, response] { reply.send(response); });
                return;
            }
            reply.send(std::move(response));
        });
    }

private:
    void reject(const QByteArray &reason)
    {
        m_metrics.counter("ingest_rejected_total", "Ingest requests refused, by reason", {{"reason", reason}}).inc();
    }

    Writer &m_writer;
    MetricsRegistry &m_metrics;
    ServerConfig m_config;
};
} // namespace

void registerIngestRoutes(Router &router, Writer &writer, MetricsRegistry &metrics, const ServerConfig &config)
{
    auto controller = std::make_shared<IngestController>(writer, metrics, config);
    router.add("POST", QStringLiteral("/api/v1/ingest"),
        [controller](const HttpRequest &req, Reply reply) { controller->ingest(req, reply); });
}

} // namespace vigil
