#include "httptypes.h"

#include <QJsonDocument>

namespace vigil {

QByteArray HttpRequest::header(const QByteArray &name) const
{
    for (const auto &[key, value] : headers)
        if (key.compare(name, Qt::CaseInsensitive) == 0)
            return value;
    return {};
}

HttpResponse HttpResponse::json(int status, const QJsonObject &object)
{
    HttpResponse r;
    r.status = status;
    r.body = QJsonDocument(object).toJson(QJsonDocument::Compact);
    return r;
}

HttpResponse HttpResponse::raw(int status, const QByteArray &contentType, const QByteArray &body)
{
    HttpResponse r;
    r.status = status;
    r.contentType = contentType;
    r.body = body;
    return r;
}

HttpResponse HttpResponse::error(int status, const QString &code, const QString &message, const QString &field)
{
    QJsonObject err {{QStringLiteral("code"), code}, {QStringLiteral("message"), message}};
    if (!field.isEmpty())
        err.insert(QStringLiteral("field"), field);
    return json(status, QJsonObject {{QStringLiteral("ok"), false}, {QStringLiteral("error"), err}});
}

} // namespace vigil
