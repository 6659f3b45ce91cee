#pragma once

#include <QPointer>
#include <QTimer>
#include <QUrlQuery>
#include <QWidget>

class QCheckBox;
class QComboBox;
class QJsonObject;
class QLabel;
class QLineEdit;
class QSortFilterProxyModel;
class QTableView;

namespace vigil {

class ApiClient;
class LogModel;

// The "Log" tab: the server's recent log lines (GET /api/v1/logs, from the logger's in-memory
// ring), polled once a second while visible, so a remote server's log shows too. The level
// filter is applied by the server; the text filter narrows the loaded lines in place.
class LogPanel final : public QWidget
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(LogPanel)
public:
    static constexpr int pollIntervalMs = 1000;
    static constexpr int pageSize = 500;

    // Does not own the client.
    explicit LogPanel(ApiClient *client, QWidget *parent = nullptr);

    LogModel *model() const { return m_model; }
    QSortFilterProxyModel *proxy() const { return m_proxy; }
    QTableView *view() const { return m_view; }
    QComboBox *levelBox() const { return m_level; }
    QLineEdit *filterEdit() const { return m_filter; }
    QCheckBox *followBox() const { return m_follow; }
    QString level() const; // debug, info, warning or error: the lowest level shown
    QString statusText() const;
    bool isPolling() const { return m_poll.isActive(); }

public slots:
    void refresh();
    void clear();

protected:
    void showEvent(QShowEvent *event) override;
    void hideEvent(QHideEvent *event) override;

private:
    void onLogs(const QJsonObject &answer, const QUrlQuery &query);
    void updateStatus();

    QPointer<ApiClient> m_client;
    LogModel *m_model = nullptr;
    QSortFilterProxyModel *m_proxy = nullptr;
    QTableView *m_view = nullptr;
    QComboBox *m_level = nullptr;
    QLineEdit *m_filter = nullptr;
    QCheckBox *m_follow = nullptr;
    QLabel *m_status = nullptr;
    QTimer m_poll;
    qint64 m_after = 0; // last_seq of the previous answer
    int m_capacity = 0;
    bool m_skipped = false;
    QString m_error;
};

} // namespace vigil
