#include "apiclient.h"

#include <QJsonDocument>
#include <QNetworkAccessManager>
#include <QNetworkProxy>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QUrlQuery>

namespace vigil {

namespace {

constexpr auto generationProperty = "_vigil_generation";
constexpr auto replacedProperty = "_vigil_replaced"; // aborted because a newer request replaced it

// The backend's error shape is {"ok":false,"error":{"code","message","field"}}; anything else
// (a proxy's HTML page, an empty body) falls back to the HTTP reason phrase.
QJsonObject errorObject(const QByteArray &body)
{
    const QJsonDocument doc = QJsonDocument::fromJson(body);
    return doc.object().value(QLatin1String("error")).toObject();
}

} // namespace

ApiClient::ApiClient(const QUrl &baseUrl, QObject *parent)
    : QObject(parent)
    , m_nam(new QNetworkAccessManager(this))
    , m_baseUrl(baseUrl)
{
    // Answers carry the query they answer; registered so queued connections and QSignalSpy take it.
    qRegisterMetaType<QUrlQuery>();
    // Requests to the embedded backend must not be routed through an environment proxy.
    m_nam->setProxy(QNetworkProxy::NoProxy);
    m_pollTimer.setTimerType(Qt::CoarseTimer);
    connect(&m_pollTimer, &QTimer::timeout, this, &ApiClient::pollNow);
}

ApiClient::~ApiClient()
{
    // Replies are children of the manager; make sure none reports into a half-destroyed object.
    ++m_generation;
    abortAll();
}

QString ApiClient::describe(Kind kind)
{
    switch (kind) {
    case Kind::Status:
        return QStringLiteral("simulator status");
    case Kind::Queue:
        return QStringLiteral("queue");
    case Kind::Samples:
        return QStringLiteral("time series");
    case Kind::Start:
        return QStringLiteral("simulator start");
    case Kind::Stop:
        return QStringLiteral("simulator stop");
    case Kind::Audit:
        return QStringLiteral("audit trail");
    case Kind::AuditVerify:
        return QStringLiteral("audit verify");
    case Kind::Logs:
        return QStringLiteral("log");
    }
    return QString();
}

void ApiClient::setBaseUrl(const QUrl &baseUrl)
{
    if (baseUrl == m_baseUrl)
        return;
    ++m_generation;
    abortAll();
    m_baseUrl = baseUrl;
    m_lastSampleMs = -1;
    if (m_connection == ConnectionState::Up)
        emit connectionChanged(false);
    m_connection = ConnectionState::Unknown;
    emit baseUrlChanged(m_baseUrl);
    if (m_pollTimer.isActive())
        pollNow();
}

void ApiClient::setToken(const QString &bearer)
{
    m_authorization = bearer.isEmpty() ? QByteArray() : QByteArray("Bearer ") + bearer.toUtf8();
}

void ApiClient::startSimulator(const QUrlQuery &params)
{
    post(QStringLiteral("/api/v1/ui/simulator/start"), params, Kind::Start);
}

void ApiClient::stopSimulator()
{
    post(QStringLiteral("/api/v1/ui/simulator/stop"), QUrlQuery(), Kind::Stop);
}

bool ApiClient::fetchLatest(QPointer<QNetworkReply> &slot, const QString &path, const QUrlQuery &query, Kind kind)
{
    if (slot) {
        if (QUrlQuery(slot->request().url()).toString(QUrl::FullyDecoded) == query.toString(QUrl::FullyDecoded))
            return false;
        slot->setProperty(replacedProperty, true);
        slot->abort();
    }
    slot = get(path, query, kind);
    return true;
}

bool ApiClient::fetchAudit(const QUrlQuery &query)
{
    return fetchLatest(m_auditReply, QStringLiteral("/api/v1/audit"), query, Kind::Audit);
}

void ApiClient::verifyAudit()
{
    if (!m_verifyReply)
        m_verifyReply = get(QStringLiteral("/api/v1/audit/verify"), QUrlQuery(), Kind::AuditVerify);
}

bool ApiClient::fetchLogs(const QUrlQuery &query)
{
    return fetchLatest(m_logsReply, QStringLiteral("/api/v1/logs"), query, Kind::Logs);
}

void ApiClient::startPolling(int intervalMs)
{
    m_pollTimer.start(qMax(100, intervalMs));
    pollNow();
}

void ApiClient::stopPolling()
{
    m_pollTimer.stop();
}

void ApiClient::pollNow()
{
    // Skip a kind whose previous request has not answered yet (at most one in flight each).
    if (!m_statusReply)
        m_statusReply = get(QStringLiteral("/api/v1/ui/simulator/status"), QUrlQuery(), Kind::Status);
    if (!m_queueReply)
        m_queueReply = get(QStringLiteral("/api/v1/queue"), QUrlQuery(), Kind::Queue);
    if (!m_samplesReply) {
        QUrlQuery query;
        query.addQueryItem(QStringLiteral("window"), QString::number(historySeconds));
        if (m_lastSampleMs >= 0)
            query.addQueryItem(QStringLiteral("since"), QString::number(m_lastSampleMs));
        m_samplesReply = get(QStringLiteral("/api/v1/stats/timeseries"), query, Kind::Samples);
    }
}

QNetworkRequest ApiClient::makeRequest(const QString &path, const QUrlQuery &query) const
{
    QUrl url = m_baseUrl;
    QString basePath = url.path();
    while (basePath.endsWith(QLatin1Char('/')))
        basePath.chop(1);
    url.setPath(basePath + path);
    url.setQuery(query);
    QNetworkRequest request(url);
    request.setRawHeader("Accept", "application/json");
    if (!m_authorization.isEmpty())
        request.setRawHeader("Authorization", m_authorization);
    request.setTransferTimeout(requestTimeoutMs);
    return request;
}

QNetworkReply *ApiClient::get(const QString &path, const QUrlQuery &query, Kind kind)
{
    QNetworkReply *reply = m_nam->get(makeRequest(path, query));
    track(reply, kind);
    return reply;
}

QNetworkReply *ApiClient::post(const QString &path, const QUrlQuery &query, Kind kind)
{
    // Parameters travel in the query string (REST contract); the body stays empty.
    QNetworkRequest request = makeRequest(path, query);
    request.setHeader(QNetworkRequest::ContentTypeHeader, QStringLiteral("application/json"));
    QNetworkReply *reply = m_nam->post(request, QByteArray());
    track(reply, kind);
    return reply;
}

void ApiClient::track(QNetworkReply *reply, Kind kind)
{
    reply->setProperty(generationProperty, m_generation);
    connect(reply, &QNetworkReply::finished, this, [this, reply, kind] {
        reply->deleteLater();
        if (reply->property(generationProperty).toULongLong() != m_generation
            || reply->property(replacedProperty).toBool())
            return; // aborted by setBaseUrl(), destruction or a newer request, or an answer from the old server
        const bool ok = handleReply(reply, kind);
        if (kind == Kind::Start || kind == Kind::Stop)
            emit simulatorCommandFinished(ok);
    });
}

bool ApiClient::handleReply(QNetworkReply *reply, Kind kind)
{
    const QVariant statusAttr = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute);
    if (!statusAttr.isValid()) {
        // No HTTP answer at all: refused, reset, timed out, DNS...
        QString message = reply->errorString();
        if (reply->error() == QNetworkReply::OperationCanceledError || reply->error() == QNetworkReply::TimeoutError)
            message = tr("no answer within %1 s").arg(requestTimeoutMs / 1000);
        setConnected(false);
        reportFailure(reply, kind, message);
        return false;
    }

    setConnected(true);
    const int status = statusAttr.toInt();
    const QByteArray body = reply->readAll();
    if (status < 200 || status > 299) {
        const QJsonObject error = errorObject(body);
        QString message = error.value(QLatin1String("message")).toString();
        if (message.isEmpty())
            message = reply->attribute(QNetworkRequest::HttpReasonPhraseAttribute).toString();
        message = tr("%1 (HTTP %2)").arg(message).arg(status);
        const QString field = error.value(QLatin1String("field")).toString();
        if (kind == Kind::Start && status == 400 && !field.isEmpty())
            emit parameterRejected(field, error.value(QLatin1String("message")).toString());
        reportFailure(reply, kind, message);
        return false;
    }

    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(body, &parseError);
    if (parseError.error != QJsonParseError::NoError || !doc.isObject()) {
        reportFailure(reply, kind, tr("the answer is not a JSON object"));
        return false;
    }
    const QJsonObject object = doc.object();

    switch (kind) {
    case Kind::Status:
    case Kind::Start:
    case Kind::Stop:
        emit statusReceived(object);
        break;
    case Kind::Queue:
        emit queueReceived(object);
        break;
    case Kind::Samples: {
        const QJsonArray all = object.value(QLatin1String("samples")).toArray();
        QJsonArray fresh;
        for (const QJsonValue value : all) {
            const qint64 t = value.toObject().value(QLatin1String("t")).toInteger(-1);
            if (t > m_lastSampleMs) {
                fresh.append(value);
                m_lastSampleMs = t;
            }
        }
        if (!fresh.isEmpty())
            emit samplesReceived(fresh);
        break;
    }
    case Kind::Audit:
        emit auditReceived(object, QUrlQuery(reply->request().url()));
        break;
    case Kind::AuditVerify:
        emit auditVerified(object);
        break;
    case Kind::Logs:
        emit logsReceived(object, QUrlQuery(reply->request().url()));
        break;
    }
    return true;
}

void ApiClient::reportFailure(QNetworkReply *reply, Kind kind, const QString &message)
{
    switch (kind) {
    case Kind::Audit:
        emit auditFailed(QUrlQuery(reply->request().url()), message);
        break;
    case Kind::AuditVerify:
        emit auditVerifyFailed(message);
        break;
    case Kind::Logs:
        emit logsFailed(QUrlQuery(reply->request().url()), message);
        break;
    default:
        break;
    }
    emit requestFailed(describe(kind), message);
}

void ApiClient::setConnected(bool connected)
{
    // From Unknown, a first failure is reported too, so the window can say "cannot reach" at once.
    const ConnectionState state = connected ? ConnectionState::Up : ConnectionState::Down;
    if (state == m_connection)
        return;
    m_connection = state;
    emit connectionChanged(connected);
}

void ApiClient::abortAll()
{
    const auto replies = m_nam->findChildren<QNetworkReply *>();
    for (QNetworkReply *reply : replies)
        reply->abort();
    // Aborted replies are deleted later; forget them now so the next poll is not skipped.
    m_statusReply.clear();
    m_queueReply.clear();
    m_samplesReply.clear();
    m_auditReply.clear();
    m_verifyReply.clear();
    m_logsReply.clear();
}

} // namespace vigil
