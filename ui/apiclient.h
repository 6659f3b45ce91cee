#pragma once

#include <QJsonArray>
#include <QJsonObject>
#include <QObject>
#include <QPointer>
#include <QTimer>
#include <QUrl>

class QNetworkAccessManager;
class QNetworkReply;
class QNetworkRequest;
class QUrlQuery;

namespace vigil {

// The window's only way to the backend (DESIGN.md §7): a small asynchronous REST client on the
// GUI thread. It polls simulator status, queue and the 1 Hz time series once per interval and
// turns every answer into a signal. Nothing here blocks: replies arrive through the event loop,
// and a poll is skipped while the previous request of the same kind is still in flight, so a slow
// backend never piles requests up.
class ApiClient final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ApiClient)
public:
    explicit ApiClient(const QUrl &baseUrl, QObject *parent = nullptr);
    ~ApiClient() override;

    QUrl baseUrl() const { return m_baseUrl; }
    // Switching servers aborts what is in flight and starts the time series afresh.
    void setBaseUrl(const QUrl &baseUrl);
    // Sent as "Authorization: Bearer <token>" when not empty.
    void setToken(const QString &bearer);

    // POST /api/v1/ui/simulator/start?<params>. Answers with statusReceived(), or with
    // parameterRejected() + requestFailed() on a 400.
    void startSimulator(const QUrlQuery &params);
    void stopSimulator();

    // GET /api/v1/audit?<query> → auditReceived(answer, query). At most one in flight: the same
    // query again is skipped (returns false); a different one replaces the one in flight.
    bool fetchAudit(const QUrlQuery &query);
    // GET /api/v1/audit/verify → auditVerified(answer), or auditVerifyFailed(message).
    void verifyAudit();
    // GET /api/v1/logs?<query> → logsReceived(answer, query). In flight: as fetchAudit().
    bool fetchLogs(const QUrlQuery &query);

    void startPolling(int intervalMs = 1000);
    void stopPolling();
    bool isPolling() const { return m_pollTimer.isActive(); }
    // One poll round now (status, queue, new samples).
    void pollNow();

    bool isConnected() const { return m_connection == ConnectionState::Up; }
    // How much history the first time-series request asks for (seconds).
    static constexpr int historySeconds = 900;
    // Per request; a backend that does not answer in time counts as unreachable.
    static constexpr int requestTimeoutMs = 5000;

signals:
    void statusReceived(const QJsonObject &status);
    void queueReceived(const QJsonObject &queue);
    // Only samples newer than the ones already delivered, oldest first.
    void samplesReceived(const QJsonArray &samples);
    // what: a short description of the request ("simulator start"); message: a readable reason.
    void requestFailed(const QString &what, const QString &message);
    // A 400 from simulator start naming the offending parameter ("rate", "mode", ...).
    void parameterRejected(const QString &field, const QString &message);
    // A start or stop request got its answer (ok: 2xx) or failed; follows statusReceived/requestFailed.
    void simulatorCommandFinished(bool ok);
    // Whether the backend answers HTTP at all (any status); emitted on change only.
    void connectionChanged(bool connected);
    // The server changed (setBaseUrl): views should drop what they show.
    void baseUrlChanged(const QUrl &baseUrl);
    // Answers of the audit and log endpoints, with the query they answer (so stale ones can be told).
    void auditReceived(const QJsonObject &answer, const QUrlQuery &query);
    void auditVerified(const QJsonObject &answer);
    void auditVerifyFailed(const QString &message);
    void logsReceived(const QJsonObject &answer, const QUrlQuery &query);
    // The request got no usable answer (also reported through requestFailed).
    void auditFailed(const QUrlQuery &query, const QString &message);
    void logsFailed(const QUrlQuery &query, const QString &message);

private:
    enum class Kind { Status, Queue, Samples, Start, Stop, Audit, AuditVerify, Logs };
    enum class ConnectionState { Unknown, Up, Down };

    static QString describe(Kind kind);

    QNetworkReply *get(const QString &path, const QUrlQuery &query, Kind kind);
    QNetworkReply *post(const QString &path, const QUrlQuery &query, Kind kind);
    QNetworkRequest makeRequest(const QString &path, const QUrlQuery &query) const;
    void track(QNetworkReply *reply, Kind kind);
    bool handleReply(QNetworkReply *reply, Kind kind); // true: a usable 2xx answer
    void setConnected(bool connected);
    void reportFailure(QNetworkReply *reply, Kind kind, const QString &message);
    void abortAll();
    // Replaces `slot` unless it is in flight with the same query (then false).
    bool fetchLatest(QPointer<QNetworkReply> &slot, const QString &path, const QUrlQuery &query, Kind kind);

    QNetworkAccessManager *m_nam = nullptr;
    QUrl m_baseUrl;
    QByteArray m_authorization;
    QTimer m_pollTimer;
    QPointer<QNetworkReply> m_statusReply;
    QPointer<QNetworkReply> m_queueReply;
    QPointer<QNetworkReply> m_samplesReply;
    QPointer<QNetworkReply> m_auditReply;
    QPointer<QNetworkReply> m_verifyReply;
    QPointer<QNetworkReply> m_logsReply;
    qint64 m_lastSampleMs = -1; // "since" for the next time-series request; -1: none yet
    ConnectionState m_connection = ConnectionState::Unknown;
    quint64 m_generation = 0; // bumped by setBaseUrl(): answers from the old server are dropped
};

} // namespace vigil
