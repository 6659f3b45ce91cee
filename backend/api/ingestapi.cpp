#include "ingestapi.h"

#include "http/router.h"
#include "metrics.h"
#include "util.h"
#include "validation.h"
#include "writer.h"

#include <QJsonArray>
#include <QJsonDocument>
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

    // POST /api/v1/ingest/batch: {"events":[…]} with 1..kMaxBatchEvents items, each validated like a single
    // ingest; the valid ones are committed in one writer operation (one transaction), then answered with one
    // result per item, in order.
    void ingestBatch(const HttpRequest &req, const Reply &reply)
    {
        const QByteArray contentType = req.header("Content-Type").toLower();
        if (!contentType.isEmpty() && !contentType.startsWith("application/json") && !contentType.contains("+json")) {
            reject("unsupported_media_type");
            reply.send(HttpResponse::error(415, QStringLiteral("unsupported_media_type"),
                QStringLiteral("send the batch as JSON with Content-Type: application/json (got %1)")
                    .arg(QString::fromLatin1(contentType))));
            return;
        }
        const auto refuse = [this, &reply](int status, const char *code, const QString &message, const QString &field) {
            reject(code);
            reply.send(HttpResponse::error(status, QString::fromLatin1(code), message, field));
        };
        // The same body rules as a single ingest (strict JSON numbers and strings, UTF-8, a duplicate
        // top-level key is duplicate_field), then the batch's own shape.
        QJsonObject root;
        if (const auto e = parseJsonObjectBody(req.body, QStringLiteral("a batch"),
                QStringLiteral("{\"events\": [{\"metric_name\": \"cpu_usage\", \"value\": 93.5}]}"), &root)) {
            reject(e->code.toLatin1());
            reply.send(HttpResponse::error(400, e->code, e->message, e->field));
            return;
        }
        for (auto it = root.begin(); it != root.end(); ++it)
            if (it.key() != QLatin1String("events"))
                return refuse(400, "unknown_field",
                    QStringLiteral("unknown field '%1' (a batch has only \"events\")").arg(it.key()), it.key());
        const QString field = QStringLiteral("events");
        if (!root.contains(field))
            return refuse(
                400, "missing_field", QStringLiteral("events is required: {\"events\": [ {...}, ... ]}"), field);
        if (!root.value(field).isArray())
            return refuse(400, "invalid_type",
                QStringLiteral("events must be an array (got %1)").arg(jsonTypeName(root.value(field))), field);
        const QJsonArray items = root.value(field).toArray();
        if (items.isEmpty())
            return refuse(
                400, "invalid_value", QStringLiteral("events is empty: send 1..%1 events").arg(kMaxBatchEvents), field);
        if (items.size() > kMaxBatchEvents)
            return refuse(413, "too_many_events",
                QStringLiteral("a batch holds at most %1 events (got %2); split it")
                    .arg(kMaxBatchEvents)
                    .arg(items.size()),
                field);

        // Results in item order; valid items go to the writer, whose results fill their positions.
        const qint64 now = wallNowMs();
        auto results = std::make_shared<QJsonArray>();
        QList<IngestEvent> valid;
        QList<int> positions; // results index of each valid event
        for (qsizetype i = 0; i < items.size(); ++i) {
            const QJsonValue item = items.at(i);
            IngestEvent e;
            std::optional<ValidationError> err;
            if (!item.isObject())
                err = ValidationError {QStringLiteral("invalid_type"),
                    QStringLiteral("each event must be a JSON object (got %1)").arg(jsonTypeName(item)), {}};
            else
                err = validateIngestObject(item.toObject(), now, &e);
            if (err) {
                reject(err->code.toUtf8());
                QJsonObject error {{QStringLiteral("code"), err->code}, {QStringLiteral("message"), err->message}};
                if (!err->field.isEmpty())
                    error.insert(QStringLiteral("field"), err->field);
                results->append(QJsonObject {
                    {QStringLiteral("index"), i}, {QStringLiteral("ok"), false}, {QStringLiteral("error"), error}});
                continue;
            }
            positions.append(int(results->size()));
            results->append(QJsonObject {{QStringLiteral("index"), i}, {QStringLiteral("ok"), false}});
            valid.append(std::move(e));
        }
        const int rejected = int(items.size() - valid.size());
        const auto finish = [reply, results, rejected](int accepted, int duplicates) {
            // 202: at least one new event committed; 200: every valid item was a duplicate;
            // 400: no item was valid (nothing stored). The body is the same shape in every case.
            const int status = accepted > 0 ? 202 : duplicates > 0 ? 200 : 400;
            QJsonObject body {{QStringLiteral("ok"), status != 400}, {QStringLiteral("accepted"), accepted},
                {QStringLiteral("duplicates"), duplicates}, {QStringLiteral("rejected"), rejected},
                {QStringLiteral("results"), *results}};
            if (status == 400)
                body.insert(QStringLiteral("error"),
                    QJsonObject {{QStringLiteral("code"), QStringLiteral("no_valid_events")},
                        {QStringLiteral("message"), QStringLiteral("no event of the batch is valid; see results")},
                        {QStringLiteral("field"), QStringLiteral("events")}});
            reply.send(HttpResponse::json(status, body));
        };
        if (valid.isEmpty())
            return finish(0, 0);
        m_writer.submitIngestBatch(
            std::move(valid), [reply, results, positions, finish](const QList<IngestResult> &rs) {
                int accepted = 0, duplicates = 0;
                for (qsizetype k = 0; k < rs.size() && k < positions.size(); ++k) {
                    const IngestResult &r = rs[k];
                    if (r.status == IngestResult::Status::Failed) {
                        // One transaction: if it failed, nothing of the batch was stored.
                        reply.send(HttpResponse::error(503, QStringLiteral("storage_unavailable"),
                            QStringLiteral("the batch could not be committed; nothing was stored, retry later"))
                                       .withHeader("Retry-After", "1"));
                        return;
                    }
                    QJsonObject o = (*results)[positions[k]].toObject();
                    o.insert(QStringLiteral("ok"), true);
                    o.insert(QStringLiteral("id"), r.id);
                    if (r.status == IngestResult::Status::Duplicate) {
                        o.insert(QStringLiteral("duplicate"), true);
                        ++duplicates;
                    } else {
                        ++accepted;
                    }
                    (*results)[positions[k]] = o;
                }
                finish(accepted, duplicates);
            });
    }

    static constexpr int kMaxBatchEvents = 1000;

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
    router.add("POST", QStringLiteral("/api/v1/ingest/batch"),
        [controller](const HttpRequest &req, Reply reply) { controller->ingestBatch(req, reply); });
}

} // namespace vigil
