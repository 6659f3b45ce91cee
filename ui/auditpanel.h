#pragma once

#include <QJsonObject>
#include <QPointer>
#include <QTimer>
#include <QUrlQuery>
#include <QWidget>

class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QTableView;

namespace vigil {

class ApiClient;
class AuditModel;

// The "Audit trail" tab: the hash-chained audit log from GET /api/v1/audit, newest first, polled
// once a second while the tab is visible; a kind filter and a text filter (both applied by the
// server, so they search the whole trail, not only the rows loaded); "Load older" pages back; and
// "Verify chain" asks GET /api/v1/audit/verify and says plainly whether the chain is intact or
// where it breaks.
class AuditPanel final : public QWidget
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(AuditPanel)
public:
    enum class VerifyState { None, Running, Valid, Broken, Failed };
    static constexpr int pageSize = 200;
    static constexpr int pollIntervalMs = 1000;

    // Does not own the client.
    explicit AuditPanel(ApiClient *client, QWidget *parent = nullptr);

    AuditModel *model() const { return m_model; }
    QTableView *view() const { return m_view; }
    QComboBox *kindBox() const { return m_kind; }
    QLineEdit *filterEdit() const { return m_filter; }
    QPushButton *verifyButton() const { return m_verify; }
    QPushButton *olderButton() const { return m_older; }
    VerifyState verifyState() const { return m_verifyState; }
    QString verifyText() const;
    QString statusText() const;
    bool isPolling() const { return m_poll.isActive(); }

public slots:
    void refresh(); // fetch the newest page now
    void verify();
    void loadOlder();
    void clear();

protected:
    void showEvent(QShowEvent *event) override;
    void hideEvent(QHideEvent *event) override;

private:
    QUrlQuery filterQuery() const; // the filter in force (kind, text)
    QUrlQuery editedFilter() const; // what the controls say now (in force after a short pause)
    void applyFilter(); // start over with the current filter
    static QString signature(const QUrlQuery &query); // the filter part of a query
    void onAudit(const QJsonObject &answer, const QUrlQuery &query);
    void onVerified(const QJsonObject &answer);
    void setVerifyResult(VerifyState state, const QString &text);
    void updateStatus();

    QPointer<ApiClient> m_client;
    AuditModel *m_model = nullptr;
    QTableView *m_view = nullptr;
    QComboBox *m_kind = nullptr;
    QLineEdit *m_filter = nullptr;
    QPushButton *m_verify = nullptr;
    QPushButton *m_older = nullptr;
    QLabel *m_verifyLabel = nullptr;
    QLabel *m_status = nullptr;
    QTimer m_poll;
    QTimer m_filterDelay;
    QUrlQuery m_applied;
    VerifyState m_verifyState = VerifyState::None;
    bool m_hasOlder = false;
    bool m_olderPending = false;
    QString m_error;
};

} // namespace vigil
