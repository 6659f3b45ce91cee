// GUI tests for the window (DESIGN.md §7, §9): run under QT_QPA_PLATFORM=offscreen.
#include "apiclient.h"
#include "backend.h"
#include "chartpanel.h"
#include "kpitile.h"
#include "mainwindow.h"
#include "simulatorpanel.h"

#include <QAbstractButton>
#include <QCategoryAxis>
#include <QChart>
#include <QJsonArray>
#include <QJsonObject>
#include <QLineSeries>
#include <QMessageBox>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>
#include <QValueAxis>

#include <cmath>
#include <memory>

using namespace vigil;

namespace {

double maxY(const QLineSeries *series)
{
    double m = 0;
    const auto points = series->points();
    for (const QPointF &p : points)
        m = std::max(m, p.y());
    return m;
}

double tileNumber(const KpiTile *tile)
{
    QString v = tile->value();
    v.remove(QLatin1Char(','));
    v = v.section(QLatin1Char(' '), 0, 0);
    bool ok = false;
    const double d = v.toDouble(&ok);
    return ok ? d : -1;
}

// Let pending layout requests run first, so the picture shows what a user would see.
bool saveScreenshot(QWidget *widget, const QString &path)
{
    QCoreApplication::sendPostedEvents();
    QCoreApplication::processEvents();
    return widget->grab().save(path);
}

QJsonArray makeSamples(qint64 fromMs, int count, double value)
{
    QJsonArray samples;
    for (int i = 0; i < count; ++i)
        samples.append(
            QJsonObject {{QStringLiteral("t"), fromMs + qint64(i) * 1000}, {QStringLiteral("queue_depth"), value}});
    return samples;
}

} // namespace

class TestGui : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void niceMaximum_data();
    void niceMaximum();
    void chartFollowsLoadDownAndUp();
    void chartUsesReplaceOnce();
    void initialState();
    void unreachableServerIsReported();
    void startAndStopAgainstBackend();
    void rejectedParameterIsShownAtItsField();
    void rateLimitedTileShowsServerRefusals();
    void windowSelectorChangesRange();
    void aboutShowsVersions();
    void cleanupTestCase();

private:
    QTemporaryDir m_dir;
    std::unique_ptr<Backend> m_backend;
    QUrl m_url;
};

void TestGui::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
    // VIGIL_TEST_URL runs the same tests against a server that is already running (remote or not).
    m_url = QUrl(qEnvironmentVariable("VIGIL_TEST_URL"));
    if (!m_url.isEmpty())
        return;
    // The real backend, in this process, on a free port, with a throw-away database. The window
    // only ever talks to it over HTTP.
    QVERIFY(m_dir.isValid());
    ServerConfig config;
    config.port = 0;
    config.databasePath = m_dir.filePath(QStringLiteral("vigil.db"));
    // The run below sends 50 events/s plus retries: exactly the default ingest limit. The limit has
    // its own GUI test (rateLimitedTileShowsServerRefusals) with its own backend.
    config.limits.ingest = {0, 0};
    m_backend = std::make_unique<Backend>(config);
    QString error;
    QVERIFY2(m_backend->start(&error), qPrintable(error));
    m_url = m_backend->baseUrl();
    QVERIFY(m_url.isValid());
    QVERIFY(m_url.port() > 0);
}

void TestGui::cleanupTestCase()
{
    if (m_backend)
        m_backend->stop();
    m_backend.reset();
}

void TestGui::niceMaximum_data()
{
    QTest::addColumn<double>("value");
    QTest::addColumn<double>("expected");
    QTest::newRow("zero") << 0.0 << 1.0;
    QTest::newRow("tiny") << 0.03 << 0.032;
    QTest::newRow("one") << 1.0 << 1.0;
    QTest::newRow("seven") << 7.0 << 8.0;
    QTest::newRow("ten") << 10.0 << 10.0;
    QTest::newRow("eleven") << 11.0 << 12.0;
    QTest::newRow("93") << 93.0 << 100.0;
    QTest::newRow("101") << 101.0 << 120.0;
    QTest::newRow("590") << 590.0 << 600.0;
    QTest::newRow("1.2") << 1.2 << 1.2;
    QTest::newRow("8300") << 8300.0 << 10000.0;
    QTest::newRow("16667") << 16667.0 << 20000.0;
}

void TestGui::niceMaximum()
{
    QFETCH(double, value);
    QFETCH(double, expected);
    QCOMPARE(ChartPanel::niceMaximum(value), expected);
    // Counts never get fractional ticks.
    const double integral = ChartPanel::niceMaximum(value, 4, true);
    QVERIFY(integral >= value);
    QVERIFY(integral >= 4);
    QCOMPARE(std::fmod(integral / 4, 1.0), 0.0);
}

void TestGui::chartFollowsLoadDownAndUp()
{
    ChartPanel panel(QStringLiteral("Queue depth"), QStringLiteral("tasks"));
    panel.addSeries(QStringLiteral("queue_depth"), QStringLiteral("depth"), Qt::blue);
    panel.setMinimumMaximum(10);
    panel.setIntegerValues(true);
    panel.setWindowSeconds(60);
    panel.resize(600, 300);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));

    QCOMPARE(panel.axisY()->min(), 0.0);
    QCOMPARE(panel.axisY()->max(), 12.0); // idle: 0..12 in whole steps, never 0..0

    const qint64 t0 = 1'764'777'600'000;
    panel.appendSamples(makeSamples(t0, 30, 9300));
    QCOMPARE(panel.axisY()->max(), 10000.0);
    QCOMPARE(panel.series(QStringLiteral("queue_depth"))->count(), 30);

    // Load drops: once the peak has scrolled out of the 60 s window the axis comes back down.
    panel.appendSamples(makeSamples(t0 + 30'000, 70, 42));
    QCOMPARE(panel.axisY()->max(), 60.0);
    QCOMPARE(panel.axisY()->labelFormat(), QStringLiteral("%.0f"));
    QCOMPARE(panel.axisX()->max() - panel.axisX()->min(), 60'000.0);
    QCOMPARE(panel.axisX()->max(), double(t0 + 99'000));
    // Visible points plus one entering from the left edge.
    QCOMPARE(panel.series(QStringLiteral("queue_depth"))->count(), 62);
    QVERIFY(panel.axisX()->count() >= 5); // clock labels on round times

    // The buffer stays bounded by the retention window.
    panel.appendSamples(makeSamples(t0 + 100'000, 2000, 1));
    panel.setWindowSeconds(ChartPanel::retentionSeconds);
    QVERIFY(panel.series(QStringLiteral("queue_depth"))->count() <= ChartPanel::retentionSeconds + 3);
    QCOMPARE(panel.axisY()->max(), 12.0);
}

void TestGui::chartUsesReplaceOnce()
{
    ChartPanel panel(QStringLiteral("t"), QStringLiteral("u"));
    QLineSeries *series = panel.addSeries(QStringLiteral("queue_depth"), QStringLiteral("depth"), Qt::blue);
    QSignalSpy replaced(series, &QXYSeries::pointsReplaced);
    QSignalSpy added(series, &QXYSeries::pointAdded);
    panel.appendSamples(makeSamples(1'764'777'600'000, 300, 5));
    QCOMPARE(replaced.count(), 1);
    QCOMPARE(added.count(), 0);
    QCOMPARE(series->count(), 300);
}

void TestGui::initialState()
{
    ApiClient client(m_url);
    MainWindow window(&client);
    QCOMPARE(window.windowTitle(), QStringLiteral("Vigil Console"));
    QCOMPARE(window.charts().size(), 3);
    for (ChartPanel *chart : window.charts()) {
        QVERIFY(!chart->allSeries().isEmpty());
        QCOMPARE(chart->chart()->animationOptions(), QChart::NoAnimation);
        for (QLineSeries *s : chart->allSeries())
            QVERIFY(!s->useOpenGL());
    }
    for (const QString &key : window.tileKeys())
        QVERIFY2(window.tile(key), qPrintable(key));
    QCOMPARE(window.tileKeys().size(), 14);
    QVERIFY(!window.simulatorPanel()->stopButton()->isEnabled());
    QCOMPARE(window.simulatorPanel()->rateBox()->value(), 600);
    QCOMPARE(window.simulatorPanel()->rateBox()->maximum(), 1'000'000);
    QCOMPARE(window.simulatorPanel()->startButton()->text(), QStringLiteral("Start"));
}

void TestGui::unreachableServerIsReported()
{
    // A port nobody listens on: bind, note it, close.
    QTcpServer probe;
    QVERIFY(probe.listen(QHostAddress::LocalHost, 0));
    const quint16 port = probe.serverPort();
    probe.close();

    ApiClient client(QUrl(QStringLiteral("http://127.0.0.1:%1").arg(port)));
    QSignalSpy connection(&client, &ApiClient::connectionChanged);
    MainWindow window(&client);
    QTRY_COMPARE_WITH_TIMEOUT(connection.count(), 1, 10'000);
    QCOMPARE(connection.first().first().toBool(), false);
    QTRY_VERIFY_WITH_TIMEOUT(window.connectionText().contains(QStringLiteral("Cannot reach")), 10'000);
    QVERIFY(window.connectionText().contains(QString::number(port)));
    QVERIFY(!window.simulatorPanel()->startButton()->isEnabled());

    // Pointing the same client at a live server recovers without a restart.
    client.setBaseUrl(m_url);
    QTRY_VERIFY_WITH_TIMEOUT(client.isConnected(), 10'000);
    QTRY_VERIFY_WITH_TIMEOUT(window.connectionText().contains(QStringLiteral("Connected to")), 10'000);
    QVERIFY(window.connectionText().contains(QString::number(m_url.port())));
    QTRY_VERIFY_WITH_TIMEOUT(window.simulatorPanel()->startButton()->isEnabled(), 10'000);
}

void TestGui::startAndStopAgainstBackend()
{
    ApiClient client(m_url);
    MainWindow window(&client);
    window.resize(1280, 800);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QTRY_VERIFY_WITH_TIMEOUT(client.isConnected(), 10'000);
    SimulatorPanel *panel = window.simulatorPanel();
    QTRY_VERIFY_WITH_TIMEOUT(panel->startButton()->isEnabled(), 10'000);
    window.setChartWindowSeconds(60); // a short run fills a one-minute window visibly

    QTRY_VERIFY_WITH_TIMEOUT(window.queueChart()->series(QStringLiteral("queue_depth"))->count() > 0, 10'000);
    QVERIFY(saveScreenshot(&window, QStringLiteral("/tmp/vigil-window-idle.png")));

    panel->rateBox()->setValue(3000); // 50 events/s
    panel->failureBox()->setValue(5.0);
    QTest::mouseClick(panel->startButton(), Qt::LeftButton);

    QTRY_VERIFY_WITH_TIMEOUT(panel->isRunning(), 10'000);
    QTRY_COMPARE(panel->startButton()->text(), QStringLiteral("Apply"));
    QTRY_VERIFY(panel->stopButton()->isEnabled());
    // The toolbar mirrors the panel.
    QCOMPARE(window.startAction()->text(), QStringLiteral("Apply"));
    QVERIFY(window.stopAction()->isEnabled());

    // Real numbers must reach the tiles and the series, not zeros.
    QTRY_VERIFY_WITH_TIMEOUT(tileNumber(window.tile(QStringLiteral("generated"))) > 0, 15'000);
    QTRY_VERIFY_WITH_TIMEOUT(tileNumber(window.tile(QStringLiteral("succeeded"))) > 0, 15'000);
    QTRY_VERIFY_WITH_TIMEOUT(tileNumber(window.tile(QStringLiteral("actual_rate"))) > 0, 15'000);
    QLineSeries *ingest = window.throughputChart()->series(QStringLiteral("ingest_per_s"));
    QLineSeries *sent = window.throughputChart()->series(QStringLiteral("sim_sent_per_s"));
    QLineSeries *p95 = window.latencyChart()->series(QStringLiteral("p95_ms"));
    QTRY_VERIFY_WITH_TIMEOUT(maxY(ingest) > 0, 20'000);
    QTRY_VERIFY_WITH_TIMEOUT(maxY(sent) > 0, 20'000);
    QTRY_VERIFY_WITH_TIMEOUT(maxY(p95) > 0, 20'000);
    QVERIFY(window.throughputChart()->axisY()->max() >= maxY(ingest));
    // Let a few seconds of live data draw before the screenshot.
    const qreal before = ingest->points().constLast().x();
    QTRY_VERIFY_WITH_TIMEOUT(ingest->points().constLast().x() >= before + 8000, 20'000);
    QVERIFY(saveScreenshot(&window, QStringLiteral("/tmp/vigil-window.png")));

    QTest::mouseClick(panel->stopButton(), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!panel->isRunning(), 10'000);
    QTRY_COMPARE(panel->startButton()->text(), QStringLiteral("Start"));
    QTRY_VERIFY(!panel->stopButton()->isEnabled());
    QVERIFY(!window.stopAction()->isEnabled());
    QCOMPARE(window.startAction()->text(), QStringLiteral("Start"));
    // Stopped means stopped: over the next two status polls the counter no longer moves.
    const double generated = tileNumber(window.tile(QStringLiteral("generated")));
    QVERIFY(generated > 0);
    QSignalSpy polls(&client, &ApiClient::statusReceived);
    QTRY_VERIFY_WITH_TIMEOUT(polls.count() >= 2, 10'000);
    QCOMPARE(tileNumber(window.tile(QStringLiteral("generated"))), generated);
    QCOMPARE(window.tile(QStringLiteral("runtime"))->detail(), QStringLiteral("stopped"));
}

void TestGui::rejectedParameterIsShownAtItsField()
{
    ApiClient client(m_url);
    MainWindow window(&client);
    QTRY_VERIFY_WITH_TIMEOUT(client.isConnected(), 10'000);
    QSignalSpy rejected(&client, &ApiClient::parameterRejected);
    QUrlQuery bad;
    bad.addQueryItem(QStringLiteral("rate"), QStringLiteral("0"));
    bad.addQueryItem(QStringLiteral("mode"), QStringLiteral("steady"));
    client.startSimulator(bad);
    QTRY_COMPARE_WITH_TIMEOUT(rejected.count(), 1, 10'000);
    QCOMPARE(rejected.first().first().toString(), QStringLiteral("rate"));
    QVERIFY(!window.simulatorPanel()->errorText().isEmpty());
    QVERIFY(window.simulatorPanel()->rateBox()->property("invalid").toBool());
    QVERIFY(window.errorText().contains(QStringLiteral("400")));
}

void TestGui::rateLimitedTileShowsServerRefusals()
{
    // Its own server: tokens on, ingest limited to 5/s (bursts of 5), reads at their defaults. The
    // window sends the operator token; the built-in simulator (20 events/s) sends it on ingest.
    const QString token = QStringLiteral("gui-operator-token-0123456789");
    ServerConfig config;
    config.port = 0;
    config.databasePath = m_dir.filePath(QStringLiteral("limited.db"));
    config.auth.operatorToken = token;
    config.auth.viewerToken = QStringLiteral("gui-viewer-token-0123456789");
    config.limits.ingest = {5, 5};
    Backend backend(config);
    QString error;
    QVERIFY2(backend.start(&error), qPrintable(error));

    ApiClient client(backend.baseUrl());
    client.setToken(token);
    QSignalSpy failures(&client, &ApiClient::requestFailed);
    MainWindow window(&client);
    window.resize(1280, 800);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    window.setChartWindowSeconds(60);
    SimulatorPanel *panel = window.simulatorPanel();
    QTRY_VERIFY_WITH_TIMEOUT(panel->startButton()->isEnabled(), 10'000);
    panel->rateBox()->setValue(1200);
    QTest::mouseClick(panel->startButton(), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(panel->isRunning(), 10'000);

    KpiTile *tile = window.tile(QStringLiteral("rate_limited"));
    QTRY_VERIFY_WITH_TIMEOUT(tileNumber(tile) > 0, 20'000); // the simulator saw 429s
    // ... and the detail line carries the server's own count, per second and in total.
    auto serverTotal = [tile] {
        const QString detail = tile->detail();
        const qsizetype at = detail.indexOf(QStringLiteral("· "));
        if (!detail.startsWith(QLatin1String("server ")) || at < 0)
            return -1.0;
        QString total = detail.mid(at + 2).section(QLatin1Char(' '), 0, 0);
        return total.remove(QLatin1Char(',')).toDouble();
    };
    QTRY_VERIFY2_WITH_TIMEOUT(serverTotal() > 0, qPrintable(tile->detail()), 20'000);
    QCOMPARE(tile->tone(), KpiTile::Tone::Warning);
    QTRY_VERIFY_WITH_TIMEOUT(tileNumber(window.tile(QStringLiteral("succeeded"))) > 0, 20'000);
    QLineSeries *limited = window.throughputChart()->series(QStringLiteral("rate_limited_per_s"));
    QTRY_VERIFY_WITH_TIMEOUT(maxY(limited) > 1, 20'000);
    QTRY_VERIFY_WITH_TIMEOUT(limited->count() >= 10, 30'000); // a few seconds of lines for the picture
    QVERIFY(saveScreenshot(&window, QStringLiteral("/tmp/vigil-window-rate-limited.png")));

    QTest::mouseClick(panel->stopButton(), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!panel->isRunning(), 10'000);
    // The window's own polling (several GETs a second) was never limited nor refused.
    for (const QList<QVariant> &failure : std::as_const(failures)) {
        const QString message = failure.at(1).toString();
        QVERIFY2(!message.contains(QLatin1String("HTTP 429")) && !message.contains(QLatin1String("HTTP 401"))
                && !message.contains(QLatin1String("HTTP 403")),
            qPrintable(message));
    }
    backend.stop();
}

void TestGui::windowSelectorChangesRange()
{
    ApiClient client(m_url);
    MainWindow window(&client);
    QCOMPARE(window.chartWindowSeconds(), 300);
    window.setChartWindowSeconds(60);
    for (ChartPanel *chart : window.charts())
        QCOMPARE(chart->axisX()->max() - chart->axisX()->min(), 60'000.0);
    window.setChartWindowSeconds(900);
    for (ChartPanel *chart : window.charts())
        QCOMPARE(chart->axisX()->max() - chart->axisX()->min(), 900'000.0);
}

void TestGui::aboutShowsVersions()
{
    ApiClient client(m_url);
    MainWindow window(&client);
    window.show();
    window.showAbout();
    QMessageBox *box = nullptr;
    QTRY_VERIFY((box = window.findChild<QMessageBox *>(QStringLiteral("aboutDialog"))));
    QVERIFY(box->text().contains(QStringLiteral(VIGIL_VERSION)));
    QVERIFY(box->text().contains(QString::fromLatin1(qVersion())));
    box->accept();
}

QTEST_MAIN(TestGui)
#include "tst_gui.moc"
