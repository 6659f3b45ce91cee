#include "mainwindow.h"

#ifndef VIGIL_BUILD_INFO
#define VIGIL_BUILD_INFO "unknown build"
#endif

#include "apiclient.h"
#include "auditpanel.h"
#include "chartpanel.h"
#include "kpitile.h"
#include "logpanel.h"
#include "queuepanel.h"
#include "simulatorpanel.h"
#include "theme.h"

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QDateTime>
#include <QDialog>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QJsonArray>
#include <QLabel>
#include <QLineEdit>
#include <QLineSeries>
#include <QMenuBar>
#include <QMessageBox>
#include <QPushButton>
#include <QRegularExpression>
#include <QStatusBar>
#include <QStyle>
#include <QTabWidget>
#include <QToolBar>
#include <QToolButton>
#include <QUrlQuery>
#include <QVBoxLayout>

#include <array>
#include <cmath>

#ifndef VIGIL_VERSION
#define VIGIL_VERSION "unknown"
#endif

namespace vigil {

namespace {

// Numbers read the same on every machine: grouped thousands, '.' decimals.
const QLocale &numberLocale()
{
    static const QLocale locale(QLocale::English, QLocale::UnitedStates);
    return locale;
}

QString formatCount(double value)
{
    if (!std::isfinite(value))
        return QStringLiteral("–");
    if (std::abs(value) >= 10'000'000)
        return numberLocale().toString(value / 1e6, 'f', 2) + QStringLiteral(" M");
    return numberLocale().toString(static_cast<qint64>(std::llround(value)));
}

QString formatRate(double perMinute)
{
    const int decimals = perMinute < 100 && std::abs(perMinute - std::round(perMinute)) > 1e-9 ? 1 : 0;
    return numberLocale().toString(perMinute, 'f', decimals);
}

QString formatDuration(qint64 seconds)
{
    if (seconds < 0)
        return QStringLiteral("–");
    if (seconds < 60)
        return QStringLiteral("%1s").arg(seconds);
    if (seconds < 3600)
        return QStringLiteral("%1m %2s").arg(seconds / 60).arg(seconds % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1h %2m").arg(seconds / 3600).arg((seconds % 3600) / 60, 2, 10, QLatin1Char('0'));
}

double number(const QJsonObject &object, const char *key)
{
    return object.value(QLatin1String(key)).toDouble();
}

} // namespace

MainWindow::MainWindow(ApiClient *client, QWidget *parent)
    : QMainWindow(parent)
    , m_client(client)
{
    if (auto *app = qobject_cast<QApplication *>(QCoreApplication::instance()))
        theme::apply(*app);

    setWindowTitle(tr("Vigil Console"));
    setObjectName(QStringLiteral("mainWindow"));

    buildMenus();
    buildToolBar();
    // The dashboard stays the first tab; the audit and log tabs poll only while they are shown.
    m_tabs = new QTabWidget(this);
    m_tabs->setObjectName(QStringLiteral("mainTabs"));
    m_tabs->setDocumentMode(true);
    m_tabs->addTab(buildCentral(), tr("Dashboard"));
    m_auditPanel = new AuditPanel(m_client, m_tabs);
    m_tabs->addTab(m_auditPanel, tr("Audit trail"));
    m_logPanel = new LogPanel(m_client, m_tabs);
    m_tabs->addTab(m_logPanel, tr("Log"));
    setCentralWidget(m_tabs);

    m_connectionLabel = new QLabel(this);
    m_connectionLabel->setTextFormat(Qt::RichText);
    m_errorLabel = new QLabel(this);
    m_errorLabel->setStyleSheet(QStringLiteral("color: %1;").arg(theme::color::bad.name()));
    m_errorLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_updatedLabel = new QLabel(this);
    m_updatedLabel->setObjectName(QStringLiteral("hint"));
    statusBar()->addWidget(m_connectionLabel);
    statusBar()->addWidget(m_errorLabel, 1);
    statusBar()->addPermanentWidget(m_updatedLabel);
    statusBar()->setSizeGripEnabled(false);
    m_errorTimer.setSingleShot(true);
    m_errorTimer.setInterval(15'000);
    connect(&m_errorTimer, &QTimer::timeout, m_errorLabel, &QLabel::clear);

    connect(m_simulator, &SimulatorPanel::startRequested, this, &MainWindow::onStartRequested);
    connect(m_simulator, &SimulatorPanel::stopRequested, this, &MainWindow::onStopRequested);
    connect(m_simulator, &SimulatorPanel::runningChanged, this, &MainWindow::syncActions);

    if (m_client) {
        connect(m_client, &ApiClient::statusReceived, this, &MainWindow::onStatus);
        connect(m_client, &ApiClient::queueReceived, this, &MainWindow::onQueue);
        connect(m_client, &ApiClient::samplesReceived, this, &MainWindow::onSamples);
        connect(m_client, &ApiClient::requestFailed, this, &MainWindow::onRequestFailed);
        connect(m_client, &ApiClient::parameterRejected, m_simulator, &SimulatorPanel::showFieldError);
        connect(m_client, &ApiClient::connectionChanged, this, &MainWindow::onConnectionChanged);
        connect(m_client, &ApiClient::simulatorCommandFinished, this, [this] {
            m_simulator->setBusy(false);
            syncActions();
        });
        connect(m_client, &ApiClient::baseUrlChanged, this, [this] {
            for (ChartPanel *chart : charts())
                chart->clear();
            for (KpiTile *tile : std::as_const(m_tiles))
                tile->clear();
            m_serverRateLimitedPerS = -1;
            m_serverRateLimitedTotal = m_serverBackpressurePerS = m_simulatorRateLimited = 0;
            m_simulatorRunning = false;
            m_queuePanel->clear();
            m_simulator->setBusy(false);
            m_connectionKnown = false;
            m_connectionError.clear();
            updateConnectionLabel();
        });
        m_client->startPolling(1000);
    }
    updateConnectionLabel();
    syncActions();
    resize(1280, 800);
}

MainWindow::~MainWindow() = default;

QList<ChartPanel *> MainWindow::charts() const
{
    return {m_queueChart, m_throughputChart, m_latencyChart};
}

void MainWindow::buildMenus()
{
    QMenu *file = menuBar()->addMenu(tr("&File"));
    QAction *connectAction = file->addAction(tr("&Connect to Server…"), this, &MainWindow::showConnectDialog);
    connectAction->setShortcut(QKeySequence(tr("Ctrl+L")));
    file->addSeparator();
    QAction *quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);
    quit->setMenuRole(QAction::QuitRole);

    QMenu *simulator = menuBar()->addMenu(tr("&Simulator"));
    m_startAction = simulator->addAction(theme::startIcon(), tr("Start"));
    m_startAction->setShortcut(QKeySequence(tr("Ctrl+Return")));
    m_stopAction = simulator->addAction(theme::stopIcon(), tr("Stop"));
    m_stopAction->setShortcut(QKeySequence(tr("Ctrl+.")));

    QMenu *view = menuBar()->addMenu(tr("&View"));
    m_windowGroup = new QActionGroup(this);
    m_windowGroup->setExclusive(true);
    for (int minutes : {1, 5, 15}) {
        QAction *action = view->addAction(minutes == 1 ? tr("Last minute") : tr("Last %1 minutes").arg(minutes));
        action->setCheckable(true);
        action->setData(minutes * 60);
        action->setChecked(minutes * 60 == m_windowSeconds);
        action->setShortcut(QKeySequence(QStringLiteral("Ctrl+%1").arg(minutes == 1 ? 1 : (minutes == 5 ? 2 : 3))));
        m_windowGroup->addAction(action);
    }
    connect(m_windowGroup, &QActionGroup::triggered, this,
        [this](QAction *action) { setChartWindowSeconds(action->data().toInt()); });

    QMenu *help = menuBar()->addMenu(tr("&Help"));
    QAction *about = help->addAction(tr("&About Vigil Console"), this, &MainWindow::showAbout);
    about->setMenuRole(QAction::AboutRole);
    QAction *aboutQt = help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
    aboutQt->setMenuRole(QAction::AboutQtRole);
}

void MainWindow::buildToolBar()
{
    QToolBar *bar = addToolBar(tr("Main"));
    bar->setObjectName(QStringLiteral("mainToolBar"));
    bar->setMovable(false);
    bar->setFloatable(false);
    bar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    bar->setIconSize(QSize(16, 16));
    bar->addAction(m_startAction);
    bar->addAction(m_stopAction);
    bar->addSeparator();

    auto *windowLabel = new QLabel(tr("Chart window"), bar);
    windowLabel->setObjectName(QStringLiteral("hint"));
    windowLabel->setContentsMargins(4, 0, 4, 0);
    bar->addWidget(windowLabel);
    const auto actions = m_windowGroup->actions();
    for (QAction *action : actions) {
        auto *button = new QToolButton(bar);
        button->setDefaultAction(action);
        button->setText(tr("%1 min").arg(action->data().toInt() / 60));
        button->setToolButtonStyle(Qt::ToolButtonTextOnly);
        button->setAutoRaise(true);
        bar->addWidget(button);
        // setDefaultAction copies the action's text on every change; keep the short label.
        connect(action, &QAction::changed, button,
            [button, action] { button->setText(tr("%1 min").arg(action->data().toInt() / 60)); });
    }

    connect(m_startAction, &QAction::triggered, this, [this] { m_simulator->requestStart(); });
    connect(m_stopAction, &QAction::triggered, this, [this] { m_simulator->requestStop(); });
}

KpiTile *MainWindow::addTile(const QString &key, const QString &title, const QString &toolTip)
{
    auto *tile = new KpiTile(title, toolTip);
    tile->setObjectName(QStringLiteral("kpiTile"));
    tile->setProperty("key", key);
    m_tiles.insert(key, tile);
    m_tileOrder.append(key);
    return tile;
}

QWidget *MainWindow::buildCentral()
{
    auto *central = new QWidget(this);
    m_simulator = new SimulatorPanel(central);
    m_queuePanel = new QueuePanel(central);

    // Two rows of seven: what the simulator did (top), how the server coped (bottom).
    const QList<QList<std::array<QString, 3>>> rows = {
        {{QStringLiteral("generated"), tr("Generated"), tr("Events the simulator generated")},
            {QStringLiteral("succeeded"), tr("Succeeded"),
                tr("Events that got their expected answer (2xx, or 400 for a malformed one)")},
            {QStringLiteral("failed"), tr("Failed"), tr("Events that failed after all retries")},
            {QStringLiteral("success_rate"), tr("Success rate"), tr("Succeeded / finished events")},
            {QStringLiteral("actual_rate"), tr("Actual rate"),
                tr("Events sent per minute over the last 60 s, against the target")},
            {QStringLiteral("runtime"), tr("Runtime"), tr("Time since the run started")},
            {QStringLiteral("queue_depth"), tr("Queue depth"),
                tr("Tasks waiting or being processed (ready + scheduled + leased)")}},
        {{QStringLiteral("rate_limited"), tr("Rate limited"),
             tr("429/503 answers the simulator saw. Below: the server's own 429s (every client) per second "
                "and in total since it started, then 503 backpressure refusals per second when there are any")},
            {QStringLiteral("timeouts"), tr("Timeouts"), tr("Client timeouts the simulator saw")},
            {QStringLiteral("malformed"), tr("Malformed"), tr("Deliberately malformed events sent")},
            {QStringLiteral("retried"), tr("Retried"), tr("Retry attempts")},
            {QStringLiteral("dropped"), tr("Dropped"), tr("Events the simulator could not send on time")},
            {QStringLiteral("in_flight"), tr("In flight"), tr("Events waiting for an answer")},
            {QStringLiteral("dead_letters"), tr("Dead letters"), tr("Tasks that exhausted their retries")}},
    };
    auto *tiles = new QGridLayout;
    tiles->setHorizontalSpacing(8);
    tiles->setVerticalSpacing(8);
    for (int r = 0; r < rows.size(); ++r) {
        for (int c = 0; c < rows[r].size(); ++c) {
            const auto &[key, title, tip] = rows[r][c];
            tiles->addWidget(addTile(key, title, tip), r, c);
            tiles->setColumnStretch(c, 1);
        }
    }

    m_throughputChart = new ChartPanel(tr("Throughput"), tr("events / s"), central);
    m_throughputChart->addSeries(QStringLiteral("ingest_per_s"), tr("Accepted"), theme::color::accent);
    m_throughputChart->addSeries(QStringLiteral("processed_per_s"), tr("Processed"), theme::color::good);
    m_throughputChart->addSeries(QStringLiteral("failed_per_s"), tr("Failed"), theme::color::bad);
    m_throughputChart->addSeries(QStringLiteral("rate_limited_per_s"), tr("Rate limited"), theme::color::warn);
    m_throughputChart->addSeries(
        QStringLiteral("sim_sent_per_s"), tr("Sent by simulator"), theme::color::muted, Qt::DashLine);
    m_throughputChart->setMinimumMaximum(10);

    m_queueChart = new ChartPanel(tr("Queue depth"), tr("tasks"), central);
    m_queueChart->addSeries(
        QStringLiteral("queue_depth"), tr("Ready + leased tasks"), theme::color::violet, Qt::SolidLine, true);
    m_queueChart->setIntegerValues(true);
    m_queueChart->setMinimumMaximum(8);

    m_latencyChart = new ChartPanel(tr("Latency"), tr("ms"), central);
    m_latencyChart->addSeries(QStringLiteral("p50_ms"), tr("p50"), theme::color::good);
    m_latencyChart->addSeries(QStringLiteral("p95_ms"), tr("p95"), theme::color::warn);
    m_latencyChart->addSeries(QStringLiteral("p99_ms"), tr("p99"), theme::color::bad);
    m_latencyChart->addSeries(QStringLiteral("server_p95_ms"), tr("server p95"), theme::color::cyan, Qt::DashLine);
    m_latencyChart->setMinimumMaximum(1);
    m_latencyChart->setToolTip(tr("p50/p95/p99: what the simulator's client sees, measured from the scheduled send "
                                  "time. Server p95: time the server spent on an ingest request."));

    for (ChartPanel *chart : charts())
        chart->setWindowSeconds(m_windowSeconds);

    auto *chartGrid = new QGridLayout;
    chartGrid->setSpacing(8);
    chartGrid->addWidget(m_throughputChart, 0, 0, 1, 2);
    chartGrid->addWidget(m_queueChart, 1, 0);
    chartGrid->addWidget(m_latencyChart, 1, 1);
    chartGrid->setRowStretch(0, 1);
    chartGrid->setRowStretch(1, 1);
    chartGrid->setColumnStretch(0, 1);
    chartGrid->setColumnStretch(1, 1);

    auto *right = new QVBoxLayout;
    right->setSpacing(8);
    right->addLayout(tiles);
    right->addLayout(chartGrid, 1);

    auto *layout = new QHBoxLayout(central);
    layout->setContentsMargins(10, 8, 10, 8);
    layout->setSpacing(10);
    auto *left = new QVBoxLayout;
    left->setSpacing(8);
    left->addWidget(m_simulator);
    left->addWidget(m_queuePanel, 1);
    layout->addLayout(left);
    layout->addLayout(right, 1);
    return central;
}

void MainWindow::setChartWindowSeconds(int seconds)
{
    m_windowSeconds = seconds;
    for (ChartPanel *chart : charts())
        chart->setWindowSeconds(seconds);
    const auto actions = m_windowGroup->actions();
    for (QAction *action : actions)
        action->setChecked(action->data().toInt() == seconds);
}

void MainWindow::onStatus(const QJsonObject &status)
{
    const QJsonObject simulator = status.value(QLatin1String("simulator")).toObject();
    m_simulator->setStatus(simulator);
    syncActions();
    m_updatedLabel->setText(tr("Updated %1").arg(QTime::currentTime().toString(QStringLiteral("HH:mm:ss"))));

    const bool running = simulator.value(QLatin1String("running")).toBool();
    const QJsonObject metrics = simulator.value(QLatin1String("metrics")).toObject();
    const QJsonObject configuration = simulator.value(QLatin1String("configuration")).toObject();
    const bool everRan
        = !simulator.value(QLatin1String("started_at")).isNull() && simulator.contains(QLatin1String("started_at"));
    const KpiTile::Tone base = running ? KpiTile::Tone::Neutral : KpiTile::Tone::Idle;
    auto toneIf = [running](bool condition, KpiTile::Tone tone) {
        return running && condition ? tone : (running ? KpiTile::Tone::Neutral : KpiTile::Tone::Idle);
    };

    const double generated = number(metrics, "events_generated");
    const double succeeded = number(metrics, "events_succeeded");
    const double failed = number(metrics, "events_failed");
    const double dropped = number(metrics, "events_dropped");

    auto set = [this](const char *key, const QString &value, const QString &detail, KpiTile::Tone tone,
                   const QString &unit = QString()) {
        KpiTile *t = m_tiles.value(QLatin1String(key));
        t->setValue(value, unit);
        t->setDetail(detail);
        t->setTone(tone);
    };

    set("generated", formatCount(generated), tr("avg %1 /min").arg(formatRate(number(metrics, "average_rate"))), base);
    set("succeeded", formatCount(succeeded), tr("expected answer"), toneIf(succeeded > 0, KpiTile::Tone::Good));
    set("failed", formatCount(failed), tr("after retries"), toneIf(failed > 0, KpiTile::Tone::Bad));

    const double finished = succeeded + failed + dropped;
    if (finished > 0) {
        const double share = metrics.contains(QLatin1String("success_rate")) ? number(metrics, "success_rate")
                                                                             : 100.0 * succeeded / finished;
        const KpiTile::Tone tone
            = share >= 99.0 ? KpiTile::Tone::Good : (share >= 90.0 ? KpiTile::Tone::Warning : KpiTile::Tone::Bad);
        set("success_rate", numberLocale().toString(share, 'f', 1), tr("of %1 finished").arg(formatCount(finished)),
            running ? tone : KpiTile::Tone::Idle, QStringLiteral("%"));
    } else {
        set("success_rate", QStringLiteral("–"), tr("no finished events"), KpiTile::Tone::Idle);
    }

    const double actual = number(metrics, "actual_rate");
    const double target = number(configuration, "target_rate");
    const double targetNow
        = metrics.contains(QLatin1String("current_target_rate")) ? number(metrics, "current_target_rate") : target;
    // The base rate is in the simulator panel; the tile says what the schedule asks for right now
    // (short enough for the tile: "target now 10,000").
    QString rateDetail = tr("target %1 /min").arg(formatRate(target));
    if (running && std::abs(targetNow - target) > 0.5)
        rateDetail = tr("target now %1").arg(formatRate(targetNow));
    // actual_rate is a 60 s average: only in steady mode should it match the target. In burst, ramp and
    // chaos it differs by design, and falling behind shows as dropped sends instead.
    const bool steady = configuration.value(QLatin1String("mode")).toString() == QLatin1String("steady");
    const bool onTarget = steady ? (target > 0 && std::abs(actual - target) <= 0.1 * target + 1) : dropped <= 0;
    set("actual_rate", formatRate(actual), rateDetail,
        running ? (onTarget ? KpiTile::Tone::Good : KpiTile::Tone::Warning) : KpiTile::Tone::Idle, tr("/min"));

    const qint64 runtime = simulator.value(QLatin1String("runtime_seconds")).toInteger();
    QString runtimeDetail = tr("never started");
    if (everRan) {
        const QDateTime started
            = QDateTime::fromString(simulator.value(QLatin1String("started_at")).toString(), Qt::ISODateWithMs);
        runtimeDetail
            = running ? tr("since %1").arg(started.toLocalTime().toString(QStringLiteral("HH:mm:ss"))) : tr("stopped");
    }
    set("runtime", everRan ? formatDuration(runtime) : QStringLiteral("–"), runtimeDetail, base);

    m_simulatorRateLimited = number(metrics, "events_rate_limited");
    m_simulatorRunning = running;
    updateRateLimitedTile();
    set("timeouts", formatCount(number(metrics, "events_timeout")), tr("client timeouts"),
        toneIf(number(metrics, "events_timeout") > 0, KpiTile::Tone::Warning));
    set("malformed", formatCount(number(metrics, "events_malformed")), tr("sent on purpose"), base);
    set("retried", formatCount(number(metrics, "events_retried")), tr("retry attempts"), base);
    set("dropped", formatCount(dropped), tr("not sent on time"), toneIf(dropped > 0, KpiTile::Tone::Bad));
    set("in_flight", formatCount(number(metrics, "events_in_flight")), tr("awaiting answer"), base);
}

void MainWindow::onSamples(const QJsonArray &samples)
{
    for (ChartPanel *chart : charts())
        chart->appendSamples(samples);
    if (samples.isEmpty())
        return;
    const QJsonObject latest = samples.last().toObject();
    m_serverRateLimitedPerS = number(latest, "rate_limited_per_s");
    m_serverRateLimitedTotal = number(latest, "rate_limited_total");
    m_serverBackpressurePerS = number(latest, "backpressure_per_s");
    updateRateLimitedTile();
}

void MainWindow::updateRateLimitedTile()
{
    KpiTile *tile = m_tiles.value(QStringLiteral("rate_limited"));
    const bool running = m_simulatorRunning;
    const double simulatorSeen = m_simulatorRateLimited;
    tile->setValue(formatCount(simulatorSeen));
    // The detail line is the server's view: 429s per second now and since start, for every client.
    QString detail = tr("429 / 503 answers");
    if (m_serverRateLimitedPerS >= 0) {
        auto perSecond = [](double v) {
            const bool whole = v >= 10 || std::abs(v - std::round(v)) < 0.05;
            return numberLocale().toString(v, 'f', whole ? 0 : 1);
        };
        // Short enough for the tile: "server 6/s · 4,804" (the tooltip says what it means).
        detail = tr("server %1/s · %2").arg(perSecond(m_serverRateLimitedPerS), formatCount(m_serverRateLimitedTotal));
        if (m_serverBackpressurePerS > 0)
            detail += tr(" · 503 %1/s").arg(perSecond(m_serverBackpressurePerS));
    }
    tile->setDetail(detail);
    const bool serverRefusing = m_serverRateLimitedPerS > 0 || m_serverBackpressurePerS > 0;
    tile->setTone(serverRefusing || (running && simulatorSeen > 0)
            ? KpiTile::Tone::Warning
            : (running ? KpiTile::Tone::Neutral : KpiTile::Tone::Idle));
}

void MainWindow::onQueue(const QJsonObject &answer)
{
    const QJsonObject queue = answer.value(QLatin1String("queue")).toObject();
    m_queuePanel->setQueue(queue);
    KpiTile *depth = m_tiles.value(QStringLiteral("queue_depth"));
    depth->setValue(formatCount(number(queue, "depth")));
    const double scheduled = number(queue, "scheduled");
    // Depth counts retries that wait for their time too: say so, or "1" would sit above "0 ready · 0 leased".
    depth->setDetail(scheduled > 0
            ? tr("%1 ready · %2 leased · %3 later")
                  .arg(
                      formatCount(number(queue, "ready")), formatCount(number(queue, "leased")), formatCount(scheduled))
            : tr("%1 ready · %2 leased")
                  .arg(formatCount(number(queue, "ready")), formatCount(number(queue, "leased"))));
    const bool paused = queue.value(QLatin1String("paused")).toBool();
    if (paused)
        depth->setDetail(tr("paused · %1 ready").arg(formatCount(number(queue, "ready"))));
    depth->setTone(paused ? KpiTile::Tone::Warning : KpiTile::Tone::Neutral);

    KpiTile *dead = m_tiles.value(QStringLiteral("dead_letters"));
    const double deadCount = number(queue, "dead");
    dead->setValue(formatCount(deadCount));
    dead->setDetail(deadCount > 0 ? tr("need attention") : tr("none waiting"));
    dead->setTone(deadCount > 0 ? KpiTile::Tone::Bad : KpiTile::Tone::Neutral);
}

void MainWindow::onConnectionChanged(bool connected)
{
    m_connected = connected;
    m_connectionKnown = true;
    if (connected)
        m_connectionError.clear();
    m_simulator->setConnected(connected);
    updateConnectionLabel();
    syncActions();
}

void MainWindow::onRequestFailed(const QString &what, const QString &message)
{
    const bool command = what.startsWith(QLatin1String("simulator st")); // start / stop
    if (m_client && !m_client->isConnected()) {
        // Unreachable: one message in the connection indicator instead of three per second.
        m_connectionError = message;
        updateConnectionLabel();
        if (command)
            m_simulator->showError(tr("Could not reach the server: %1").arg(message));
        return;
    }
    if (command && m_simulator->errorText().isEmpty())
        m_simulator->showError(message);
    showError(tr("%1: %2").arg(what, message));
}

void MainWindow::showError(const QString &message)
{
    m_errorLabel->setText(QStringLiteral("⚠ ") + message);
    m_errorLabel->setToolTip(message);
    m_errorTimer.start();
}

QString MainWindow::errorText() const
{
    return m_errorLabel->text();
}

void MainWindow::onStartRequested(const QUrlQuery &parameters)
{
    if (!m_client)
        return;
    m_simulator->setBusy(true);
    syncActions();
    m_client->startSimulator(parameters);
}

void MainWindow::onStopRequested()
{
    if (!m_client)
        return;
    m_simulator->setBusy(true);
    syncActions();
    m_client->stopSimulator();
}

void MainWindow::syncActions()
{
    m_startAction->setText(m_simulator->startButton()->text());
    m_startAction->setToolTip(m_simulator->startButton()->toolTip());
    m_startAction->setEnabled(m_simulator->startButton()->isEnabled());
    m_stopAction->setEnabled(m_simulator->stopButton()->isEnabled());
}

void MainWindow::updateConnectionLabel()
{
    const QString url = m_client ? m_client->baseUrl().toString().toHtmlEscaped() : tr("no server");
    const QString dot = QStringLiteral("<span style='color:%1'>●</span>&nbsp;");
    QString text;
    if (!m_connectionKnown)
        text = dot.arg(theme::color::muted.name()) + tr("Connecting to %1…").arg(url);
    else if (m_connected)
        text = dot.arg(theme::color::good.name()) + tr("Connected to %1").arg(url);
    else if (m_connectionError.isEmpty())
        text = dot.arg(theme::color::bad.name()) + tr("Cannot reach %1").arg(url);
    else
        text = dot.arg(theme::color::bad.name())
            + tr("Cannot reach %1 — %2").arg(url, m_connectionError.toHtmlEscaped());
    m_connectionLabel->setText(text);
}

QString MainWindow::connectionText() const
{
    QString text = m_connectionLabel->text();
    text.remove(QRegularExpression(QStringLiteral("<[^>]*>")));
    text.replace(QStringLiteral("&nbsp;"), QStringLiteral(" "));
    text.replace(QStringLiteral("&amp;"), QStringLiteral("&"));
    return text;
}

QString MainWindow::aboutText() const
{
    return tr("<h3>Vigil Console %1</h3>"
              "<p>An operations console for an event-ingest and auto-remediation pipeline, with a "
              "durable task queue and a load and chaos simulator.</p>"
              "<p>Built with Qt %2, running on Qt %3.<br>Build: %5</p>"
              "<p>Server: %4</p>")
        .arg(QStringLiteral(VIGIL_VERSION), QStringLiteral(QT_VERSION_STR), QString::fromLatin1(qVersion()),
            m_client ? m_client->baseUrl().toString().toHtmlEscaped() : tr("none"), QStringLiteral(VIGIL_BUILD_INFO));
}

void MainWindow::showAbout()
{
    auto *box = new QMessageBox(QMessageBox::NoIcon, tr("About Vigil Console"), aboutText(), QMessageBox::Ok, this);
    box->setObjectName(QStringLiteral("aboutDialog"));
    box->setTextFormat(Qt::RichText);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
}

void MainWindow::showConnectDialog()
{
    if (!m_client)
        return;
    auto *dialog = new QDialog(this);
    dialog->setObjectName(QStringLiteral("connectDialog"));
    dialog->setWindowTitle(tr("Connect to Server"));
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    auto *url = new QLineEdit(m_client->baseUrl().toString(), dialog);
    url->setPlaceholderText(QStringLiteral("http://127.0.0.1:8000"));
    url->setMinimumWidth(320);
    auto *token = new QLineEdit(dialog);
    token->setEchoMode(QLineEdit::Password);
    token->setPlaceholderText(tr("none"));
    auto *hint = new QLabel(tr("The window shows any Vigil server: this one's embedded backend or a remote one. "
                               "An operator token is needed to start and stop a remote simulator."),
        dialog);
    hint->setObjectName(QStringLiteral("hint"));
    hint->setWordWrap(true);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, dialog);
    auto *form = new QFormLayout(dialog);
    form->addRow(hint);
    form->addRow(tr("Server URL"), url);
    form->addRow(tr("Bearer token"), token);
    form->addRow(buttons);
    connect(buttons, &QDialogButtonBox::rejected, dialog, &QDialog::reject);
    connect(buttons, &QDialogButtonBox::accepted, dialog, [this, dialog, url, token] {
        const QUrl parsed = QUrl::fromUserInput(url->text().trimmed());
        if (!parsed.isValid() || parsed.host().isEmpty()
            || (parsed.scheme() != QLatin1String("http") && parsed.scheme() != QLatin1String("https"))) {
            url->setProperty("invalid", true);
            url->style()->unpolish(url);
            url->style()->polish(url);
            url->setToolTip(tr("Enter an http:// or https:// URL"));
            return;
        }
        if (m_client) {
            m_client->setToken(token->text());
            m_client->setBaseUrl(parsed);
        }
        dialog->accept();
    });
    dialog->open();
}

} // namespace vigil
