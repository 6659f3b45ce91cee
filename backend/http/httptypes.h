#pragma once

#include <QByteArray>
#include <QHash>
#include <QHostAddress>
#include <QJsonObject>
#include <QList>
#include <QPair>
#include <QString>
#include <QUrlQuery>

#include <functional>
#include <memory>

namespace vigil {

using HeaderList = QList<QPair<QByteArray, QByteArray>>;

// A request copied out of Qt's per-connection QHttpServerRequest (which 6.4 reuses for the next
// request on the same connection), so handlers may keep it as long as they like.
struct HttpRequest
{
    QByteArray method; // upper case: GET, POST, ...
    QString path; // percent-decoded
    QUrlQuery query;
    HeaderList headers;
    QByteArray body;
    QHostAddress remoteAddress;
    QHash<QString, QString> pathParams; // {name} segments of the matched route
    QByteArray endpoint; // the matched route template, e.g. "/api/v1/ingest" (metrics label)
    qint64 receivedAtNs = 0; // steady clock, for latency
    // Who the admission check recognised: "operator", "viewer" or "anonymous" (no tokens configured,
    // or an open read). Set before the handler runs; audited routes name the caller with actorOf()
    // (api/actor.h).
    QString principal = QStringLiteral("anonymous");

    // First header with that name, case-insensitive; empty when absent.
    QByteArray header(const QByteArray &name) const;
    QString queryValue(const QString &key) const { return query.queryItemValue(key, QUrl::FullyDecoded); }
    bool hasQuery(const QString &key) const { return query.hasQueryItem(key); }
};

struct HttpResponse
{
    int status = 200;
    QByteArray contentType = "application/json";
    QByteArray body;
    HeaderList headers;

    HttpResponse &withHeader(const QByteArray &name, const QByteArray &value)
    {
        headers.append({name, value});
        return *this;
    }

    static HttpResponse json(int status, const QJsonObject &object);
    static HttpResponse raw(int status, const QByteArray &contentType, const QByteArray &body);
    // The one error shape of the API: {"ok":false,"error":{"code","message","field"?}}.
    static HttpResponse error(int status, const QString &code, const QString &message, const QString &field = {});
};

namespace detail {
struct ReplySlot;
}

// The answer to one request. Call send() exactly once, from any thread: the bytes are written on the
// connection's own thread, and answers on one connection leave in request order. If the client went
// away meanwhile, send() is a harmless no-op. Copyable: copies share the same slot.
class Reply
{
public:
    Reply() = default;
    explicit Reply(std::shared_ptr<detail::ReplySlot> slot)
        : m_slot(std::move(slot))
    { }

    void send(HttpResponse response) const;
    // True while the client is still connected (best effort, any thread).
    bool clientConnected() const;

private:
    std::shared_ptr<detail::ReplySlot> m_slot;
};

using Handler = std::function<void(const HttpRequest &, Reply)>;

} // namespace vigil
