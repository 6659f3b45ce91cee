#pragma once

#include <QHash>
#include <QJsonObject>
#include <QMainWindow>
#include <QPointer>
#include <QTimer>

class QAction;
class QActionGroup;
class QLabel;
class QTabWidget;
class QUrlQuery;

namespace vigil {

class ApiClient;
class AuditPanel;
class ChartPanel;
class KpiTile;
class LogPanel;
class QueuePanel;
class SimulatorPanel;

// The dashboard (simulator controls, KPI tiles and three live charts), the audit trail and the
// server log, in three tabs, all fed by ApiClient (DESIGN.md §7). The window never touches
// backend objects; it only shows what the REST API says.
class MainWindow final : public QMainWindow
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(MainWindow)
public:
    // Does not own the client. Starts its 1 Hz polling.
    explicit MainWindow(ApiClient *client, QWidget *parent = nullptr);
    ~MainWindow() override;

    // For tests and for main.cpp.
    ChartPanel *queueChart() const { return m_queueChart; }
    ChartPanel *throughputChart() const { return m_throughputChart; }
    ChartPanel *latencyChart() const { return m_latencyChart; }
    QList<ChartPanel *> charts() const;
    SimulatorPanel *simulatorPanel() const { return m_simulator; }
    QueuePanel *queuePanel() const { return m_queuePanel; }
    QTabWidget *tabs() const { return m_tabs; }
    AuditPanel *auditPanel() const { return m_auditPanel; }
    LogPanel *logPanel() const { return m_logPanel; }
    // Keys: generated, succeeded, failed, success_rate, actual_rate, runtime, queue_depth,
    // rate_limited, timeouts, malformed, retried, dropped, in_flight, dead_letters.
    KpiTile *tile(const QString &key) const { return m_tiles.value(key); }
    QStringList tileKeys() const { return m_tileOrder; }
    QAction *startAction() const { return m_startAction; }
    QAction *stopAction() const { return m_stopAction; }
    QString connectionText() const;
    QString errorText() const;
    QString aboutText() const;
    int chartWindowSeconds() const { return m_windowSeconds; }

public slots:
    void setChartWindowSeconds(int seconds);
    void showAbout();
    void showConnectDialog();

private:
    void buildMenus();
    void buildToolBar();
    QWidget *buildCentral();
    void onStatus(const QJsonObject &status);
    void onQueue(const QJsonObject &queue);
    void onSamples(const QJsonArray &samples);
    void updateRateLimitedTile();
    void onConnectionChanged(bool connected);
    void onRequestFailed(const QString &what, const QString &message);
    void onStartRequested(const QUrlQuery &parameters);
    void onStopRequested();
    void updateConnectionLabel();
    void syncActions();
    void showError(const QString &message);
    KpiTile *addTile(const QString &key, const QString &title, const QString &toolTip);

    QPointer<ApiClient> m_client;
    SimulatorPanel *m_simulator = nullptr;
    QueuePanel *m_queuePanel = nullptr;
    QTabWidget *m_tabs = nullptr;
    AuditPanel *m_auditPanel = nullptr;
    LogPanel *m_logPanel = nullptr;
    ChartPanel *m_queueChart = nullptr;
    ChartPanel *m_throughputChart = nullptr;
    ChartPanel *m_latencyChart = nullptr;
    QHash<QString, KpiTile *> m_tiles;
    QStringList m_tileOrder;
    QAction *m_startAction = nullptr;
    QAction *m_stopAction = nullptr;
    QActionGroup *m_windowGroup = nullptr;
    QLabel *m_connectionLabel = nullptr;
    QLabel *m_errorLabel = nullptr;
    QLabel *m_updatedLabel = nullptr;
    QTimer m_errorTimer;
    QString m_connectionError;
    int m_windowSeconds = 300;
    bool m_connected = false;
    bool m_connectionKnown = false;
    // Server-side refusals from the newest time-series sample (any client, not only the simulator).
    double m_serverRateLimitedPerS = -1; // -1: no sample yet
    double m_serverRateLimitedTotal = 0;
    double m_serverBackpressurePerS = 0;
    double m_simulatorRateLimited = 0; // from the last status
    bool m_simulatorRunning = false;
};

} // namespace vigil
