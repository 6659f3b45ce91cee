// GUI tests for the "Audit trail" and "Log" tabs (DESIGN.md §7), offscreen, against the real
// backend in this process: the window reaches it only over HTTP. Every model is wrapped in
// QAbstractItemModelTester, and the assertions are on rows that came from the server.
#include "apiclient.h"
#include "auditmodel.h"
#include "auditpanel.h"
#include "backend.h"
#include "logger.h"
#include "logmodel.h"
#include "logpanel.h"
#include "mainwindow.h"

#include <QAbstractItemModelTester>
#include <QCheckBox>
#include <QComboBox>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLineEdit>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QPushButton>
#include <QSignalSpy>
#include <QSortFilterProxyModel>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace vigil;

namespace {

QJsonObject auditEntry(qint64 seq, const QString &kind = QStringLiteral("action_triggered"))
{
    return {{QStringLiteral("seq"), seq}, {QStringLiteral("ts"), QStringLiteral("2026-12-03T17:19:24.566Z")},
        {QStringLiteral("actor"), QStringLiteral("policy:high-cpu")}, {QStringLiteral("kind"), kind},
        {QStringLiteral("subject"), QStringLiteral("action/%1").arg(seq)},
        {QStringLiteral("details"), QJsonObject {{QStringLiteral("event_id"), seq * 10}}},
        {QStringLiteral("prev_hash"), QString(64, QLatin1Char('0'))},
        {QStringLiteral("hash"), QString(64, QLatin1Char('a'))}};
}

// Newest first, seq from `high` down to `low`.
QJsonArray auditPage(qint64 high, qint64 low)
{
    QJsonArray page;
    for (qint64 s = high; s >= low; --s)
        page.append(auditEntry(s));
    return page;
}

QJsonArray logLines(qint64 from, qint64 to, const QString &level = QStringLiteral("info"))
{
    QJsonArray lines;
    for (qint64 s = from; s <= to; ++s)
        lines.append(
            QJsonObject {{QStringLiteral("seq"), s}, {QStringLiteral("ts"), QStringLiteral("2026-12-03T17:19:24.566Z")},
                {QStringLiteral("level"), level}, {QStringLiteral("event"), QStringLiteral("line_%1").arg(s)},
                {QStringLiteral("fields"), QJsonObject {{QStringLiteral("n"), s}}}});
    return lines;
}

QStringList columnValues(const QAbstractItemModel *model, int column)
{
    QStringList values;
    for (int row = 0; row < model->rowCount(); ++row)
        values.append(model->index(row, column).data().toString());
    return values;
}

} // namespace

class TestGuiAudit : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void auditModelMergesPages();
    void logModelAppendsAndCaps();
    void dashboardStaysFirstTab();
    void auditTabShowsRealRowsAndVerifies();
    void auditFilterAsksTheServer();
    void auditPollsOnlyWhileVisible();
    void logTabShowsServerLinesByLevel();
    void verifyShowsTheBrokenEntry();

private:
    QJsonObject call(
        const QByteArray &verb, const QString &pathAndQuery, const QByteArray &body = {}, int *status = nullptr);
    void ingest(const QString &metric, double value, const QString &source);

    QTemporaryDir m_dir;
    std::unique_ptr<Backend> m_backend;
    QUrl m_url;
    QNetworkAccessManager m_nam;
};

void TestGuiAudit::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
    QVERIFY(m_dir.isValid());
    ServerConfig config;
    config.port = 0;
    config.databasePath = m_dir.filePath(QStringLiteral("vigil.db"));
    config.remediator.latencyMs = 5;
    config.remediator.failureRate = 0.0;
    m_backend = std::make_unique<Backend>(config);
    QString error;
    QVERIFY2(m_backend->start(&error), qPrintable(error));
    m_url = m_backend->baseUrl();

    // Real audit entries: breaches of two default policies from three sources, each one an action
    // that is triggered and then carried out by a worker (two entries per action).
    ingest(QStringLiteral("cpu_usage"), 97.5, QStringLiteral("web-1"));
    ingest(QStringLiteral("cpu_usage"), 99.0, QStringLiteral("web-2"));
    ingest(QStringLiteral("memory_usage"), 91.0, QStringLiteral("db-1"));
    ingest(QStringLiteral("cpu_usage"), 12.0, QStringLiteral("web-3")); // no breach, no action
    QTRY_COMPARE_WITH_TIMEOUT(call("GET", QStringLiteral("/api/v1/audit?kind=action_succeeded"))
                                  .value(QStringLiteral("entries"))
                                  .toArray()
                                  .size(),
        3, 15'000);
}

void TestGuiAudit::cleanupTestCase()
{
    if (m_backend)
        m_backend->stop();
    m_backend.reset();
}

QJsonObject TestGuiAudit::call(const QByteArray &verb, const QString &pathAndQuery, const QByteArray &body, int *status)
{
    QNetworkRequest req(QUrl(m_url.toString() + pathAndQuery));
    req.setHeader(QNetworkRequest::ContentTypeHeader, QStringLiteral("application/json"));
    req.setTransferTimeout(15'000);
    QNetworkReply *reply = m_nam.sendCustomRequest(req, verb, body);
    QSignalSpy done(reply, &QNetworkReply::finished);
    if (!reply->isFinished())
        done.wait(15'000);
    if (status)
        *status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    const QJsonObject answer = QJsonDocument::fromJson(reply->readAll()).object();
    reply->deleteLater();
    return answer;
}

void TestGuiAudit::ingest(const QString &metric, double value, const QString &source)
{
    int status = 0;
    const QJsonObject body {
        {QStringLiteral("metric_name"), metric}, {QStringLiteral("value"), value}, {QStringLiteral("source"), source}};
    call("POST", QStringLiteral("/api/v1/ingest"), QJsonDocument(body).toJson(QJsonDocument::Compact), &status);
    QCOMPARE(status, 202);
}

void TestGuiAudit::auditModelMergesPages()
{
    AuditModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QCOMPARE(model.columnCount(), int(AuditModel::ColumnCount));

    model.setEntries(auditPage(10, 6));
    QCOMPARE(model.rowCount(), 5);
    QCOMPARE(model.newestSeq(), 10);
    QCOMPARE(model.oldestSeq(), 6);
    QCOMPARE(model.index(0, AuditModel::Subject).data().toString(), QStringLiteral("action/10"));
    QCOMPARE(model.index(0, AuditModel::Details).data().toString(), QStringLiteral("event_id=100"));
    QCOMPARE(model.index(0, AuditModel::Hash).data().toString().size(), 12);

    // A newer page overlapping what is shown: only the new rows are inserted, at the top.
    QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
    QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
    QCOMPARE(model.mergeNewest(auditPage(13, 9), false), 3);
    QCOMPARE(inserted.count(), 1);
    QCOMPARE(reset.count(), 0);
    QCOMPARE(model.rowCount(), 8);
    QCOMPARE(model.newestSeq(), 13);
    QCOMPARE(model.mergeNewest(auditPage(13, 9), false), 0); // nothing new, nothing changes

    // A page that does not reach what is shown (a gap) resets to that page.
    QCOMPARE(model.mergeNewest(auditPage(40, 31), true), -1);
    QCOMPARE(model.rowCount(), 10);
    QCOMPARE(model.oldestSeq(), 31);

    // Older pages go at the bottom; what is already there is not repeated.
    QCOMPARE(model.appendOlder(auditPage(32, 25)), 6);
    QCOMPARE(model.oldestSeq(), 25);
    QCOMPARE(model.rowOfSeq(28), 12);
    QCOMPARE(model.rowOfSeq(5), -1);

    model.setBrokenSeq(28);
    QVERIFY(model.index(12, AuditModel::Seq).data(Qt::BackgroundRole).isValid());
    QVERIFY(!model.index(11, AuditModel::Seq).data(Qt::BackgroundRole).isValid());

    // Bounded: a long live session keeps at most maxRows, dropping the oldest.
    model.setEntries(auditPage(AuditModel::maxRows, 1));
    QCOMPARE(model.rowCount(), AuditModel::maxRows);
    QCOMPARE(model.mergeNewest(auditPage(AuditModel::maxRows + 100, AuditModel::maxRows - 5), false), 100);
    QCOMPARE(model.rowCount(), AuditModel::maxRows);
    QCOMPARE(model.oldestSeq(), 101);
    model.clear();
    QCOMPARE(model.rowCount(), 0);
}

void TestGuiAudit::logModelAppendsAndCaps()
{
    LogModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSortFilterProxyModel proxy;
    proxy.setSourceModel(&model);
    proxy.setFilterKeyColumn(-1);
    QAbstractItemModelTester proxyTester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);

    QCOMPARE(model.appendLines(logLines(1, 10)), 10);
    QCOMPARE(model.appendLines(logLines(5, 12)), 2); // overlap ignored
    QCOMPARE(model.rowCount(), 12);
    QCOMPARE(model.lastSeq(), 12);
    QCOMPARE(model.index(11, LogModel::Event).data().toString(), QStringLiteral("line_12"));
    QCOMPARE(model.index(11, LogModel::Details).data().toString(), QStringLiteral("n=12"));
    QCOMPARE(model.appendLines(logLines(13, 13, QStringLiteral("error"))), 1);
    QVERIFY(model.index(12, LogModel::Level).data(Qt::ForegroundRole).isValid());
    QCOMPARE(model.index(12, 0).data(LogModel::LevelRankRole).toInt(), 3);

    proxy.setFilterFixedString(QStringLiteral("line_1"));
    QCOMPARE(proxy.rowCount(), 5); // line_1, line_10 … line_13

    model.appendLines(logLines(100, 100 + LogModel::maxRows + 10));
    QCOMPARE(model.rowCount(), LogModel::maxRows);
    QCOMPARE(model.index(0, 0).data(LogModel::SeqRole).toLongLong(), 111);
    model.clear();
    QCOMPARE(model.rowCount(), 0);
    QCOMPARE(model.lastSeq(), 0);
}

void TestGuiAudit::dashboardStaysFirstTab()
{
    ApiClient client(m_url);
    MainWindow window(&client);
    QTabWidget *tabs = window.tabs();
    QVERIFY(tabs);
    QCOMPARE(tabs->count(), 3);
    QCOMPARE(tabs->currentIndex(), 0);
    QCOMPARE(tabs->tabText(0), QStringLiteral("Dashboard"));
    QCOMPARE(tabs->tabText(1), QStringLiteral("Audit trail"));
    QCOMPARE(tabs->tabText(2), QStringLiteral("Log"));
    QCOMPARE(tabs->widget(1), window.auditPanel());
    QCOMPARE(tabs->widget(2), window.logPanel());
}

void TestGuiAudit::auditTabShowsRealRowsAndVerifies()
{
    ApiClient client(m_url);
    MainWindow window(&client);
    AuditPanel *panel = window.auditPanel();
    QAbstractItemModelTester tester(panel->model(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    window.resize(1280, 800);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    window.tabs()->setCurrentWidget(panel);

    // The rows are the server's: three actions, each triggered and succeeded, newest first.
    QTRY_VERIFY_WITH_TIMEOUT(panel->model()->rowCount() >= 6, 10'000);
    AuditModel *model = panel->model();
    const QStringList kinds = columnValues(model, AuditModel::Kind);
    QCOMPARE(kinds.count(QStringLiteral("action_triggered")), 3);
    QCOMPARE(kinds.count(QStringLiteral("action_succeeded")), 3);
    QCOMPARE(model->rowCount(), 6);
    for (int row = 1; row < model->rowCount(); ++row)
        QVERIFY(model->index(row - 1, AuditModel::Seq).data().toLongLong()
            > model->index(row, AuditModel::Seq).data().toLongLong());
    QCOMPARE(model->oldestSeq(), 1);
    const QStringList actors = columnValues(model, AuditModel::Actor);
    QVERIFY(actors.contains(QStringLiteral("policy:high-cpu")));
    QVERIFY(actors.contains(QStringLiteral("policy:high-memory")));
    QVERIFY(columnValues(model, AuditModel::Details).join(QLatin1Char('\n')).contains(QStringLiteral("source=web-2")));
    QVERIFY(panel->statusText().contains(QStringLiteral("6 entries")));
    QVERIFY(!panel->olderButton()->isEnabled()); // everything fits on one page

    // Live: a new breach shows up without any click.
    ingest(QStringLiteral("disk_usage"), 99.0, QStringLiteral("nas-1"));
    QTRY_VERIFY_WITH_TIMEOUT(
        columnValues(model, AuditModel::Actor).contains(QStringLiteral("policy:disk-full")), 10'000);
    QTRY_COMPARE_WITH_TIMEOUT(model->rowCount(), 8, 10'000);
    QCOMPARE(model->index(0, AuditModel::Seq).data().toLongLong(), 8);

    // Verify: the server recomputes the chain and the panel says so plainly.
    QCOMPARE(panel->verifyState(), AuditPanel::VerifyState::None);
    QTest::mouseClick(panel->verifyButton(), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(panel->verifyState(), AuditPanel::VerifyState::Valid, 10'000);
    QVERIFY2(panel->verifyText().contains(QStringLiteral("intact")), qPrintable(panel->verifyText()));
    QVERIFY2(panel->verifyText().contains(QStringLiteral("8 entries")), qPrintable(panel->verifyText()));
    QVERIFY(panel->verifyButton()->isEnabled());
    QVERIFY(window.grab().save(QStringLiteral("/tmp/vigil-audit-tab.png")));
}

void TestGuiAudit::auditFilterAsksTheServer()
{
    ApiClient client(m_url);
    AuditPanel panel(&client);
    QAbstractItemModelTester tester(panel.model(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    panel.resize(1000, 600);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    QTRY_VERIFY_WITH_TIMEOUT(panel.model()->rowCount() >= 8, 10'000);

    // Kind: exact, on the server.
    // Every kind the server writes can be chosen, not only the action ones.
    for (const char *kind : {"policy_updated", "simulator_started", "dead_letters_purged", "queue_resumed"})
        QVERIFY2(panel.kindBox()->findData(QLatin1String(kind)) > 0, kind);
    panel.kindBox()->setCurrentIndex(panel.kindBox()->findData(QStringLiteral("action_succeeded")));
    QTRY_COMPARE_WITH_TIMEOUT(panel.model()->rowCount(), 4, 10'000);
    QCOMPARE(columnValues(panel.model(), AuditModel::Kind).count(QStringLiteral("action_succeeded")), 4);

    // Text: substring of actor, subject or details, together with the kind.
    panel.kindBox()->setCurrentIndex(0);
    QTest::keyClicks(panel.filterEdit(), QStringLiteral("HIGH-MEMORY"));
    QTRY_COMPARE_WITH_TIMEOUT(panel.model()->rowCount(), 1, 10'000);
    QCOMPARE(panel.model()->index(0, AuditModel::Actor).data().toString(), QStringLiteral("policy:high-memory"));
    const QString subject = panel.model()->index(0, AuditModel::Subject).data().toString();

    // A subject matches the trigger and the outcome of that action.
    panel.filterEdit()->setText(subject);
    QTRY_COMPARE_WITH_TIMEOUT(panel.model()->rowCount(), 2, 10'000);
    const QStringList subjects = columnValues(panel.model(), AuditModel::Subject);
    QCOMPARE(subjects.count(subject), 2);

    // No match: wait for the server's (empty) answer to that very query, not just for the reset.
    QSignalSpy answers(&client, &ApiClient::auditReceived);
    const QString nothing = QStringLiteral("no-such-thing-anywhere");
    panel.filterEdit()->setText(nothing);
    auto answered = [&] {
        for (const QList<QVariant> &args : std::as_const(answers))
            if (args.at(1).value<QUrlQuery>().queryItemValue(QStringLiteral("text")) == nothing)
                return true;
        return false;
    };
    QTRY_VERIFY_WITH_TIMEOUT(answered(), 10'000);
    QCOMPARE(panel.model()->rowCount(), 0);
    QCOMPARE(panel.statusText(), QStringLiteral("No entries match the filter"));
}

void TestGuiAudit::auditPollsOnlyWhileVisible()
{
    ApiClient client(m_url);
    MainWindow window(&client);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QVERIFY(!window.auditPanel()->isPolling());
    QVERIFY(!window.logPanel()->isPolling());
    QSignalSpy audits(&client, &ApiClient::auditReceived);
    window.tabs()->setCurrentWidget(window.auditPanel());
    QVERIFY(window.auditPanel()->isPolling());
    QTRY_VERIFY_WITH_TIMEOUT(audits.count() >= 2, 10'000); // the first answer and a live poll
    window.tabs()->setCurrentIndex(0);
    QVERIFY(!window.auditPanel()->isPolling());
    QTest::qWait(300); // an answer already on its way may still arrive
    const auto settled = audits.count();
    QTest::qWait(2 * AuditPanel::pollIntervalMs + 200);
    QCOMPARE(audits.count(), settled);
}

void TestGuiAudit::logTabShowsServerLinesByLevel()
{
    // The ring is the process's: the backend's own lifecycle lines are in it already, and one
    // warning is added here so the level filter has something to keep.
    logging::warning("gui_test_warning", {{QStringLiteral("note"), QStringLiteral("from tst_gui_audit")}});

    ApiClient client(m_url);
    MainWindow window(&client);
    LogPanel *panel = window.logPanel();
    QAbstractItemModelTester tester(panel->model(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester proxyTester(panel->proxy(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    window.resize(1280, 800);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    window.tabs()->setCurrentWidget(panel);

    QCOMPARE(panel->level(), QStringLiteral("debug"));
    QTRY_VERIFY_WITH_TIMEOUT(
        columnValues(panel->model(), LogModel::Event).contains(QStringLiteral("server_started")), 10'000);
    const QStringList events = columnValues(panel->model(), LogModel::Event);
    QVERIFY(events.contains(QStringLiteral("worker_started")));
    QVERIFY(events.contains(QStringLiteral("queue_opened")));
    QVERIFY(events.contains(QStringLiteral("gui_test_warning")));
    const int row = int(events.indexOf(QStringLiteral("server_started")));
    QVERIFY(panel->model()->index(row, LogModel::Details).data().toString().contains(m_url.toString()));

    // New lines arrive live.
    logging::info("gui_test_live", {});
    QTRY_VERIFY_WITH_TIMEOUT(
        columnValues(panel->model(), LogModel::Event).contains(QStringLiteral("gui_test_live")), 10'000);

    // Level: asked of the server; only warnings and errors come back.
    panel->levelBox()->setCurrentIndex(panel->levelBox()->findData(QStringLiteral("warning")));
    QTRY_VERIFY_WITH_TIMEOUT(
        columnValues(panel->model(), LogModel::Event).contains(QStringLiteral("gui_test_warning")), 10'000);
    for (const QString &level : columnValues(panel->model(), LogModel::Level))
        QVERIFY2(level == QLatin1String("warning") || level == QLatin1String("error"), qPrintable(level));
    QVERIFY(!columnValues(panel->model(), LogModel::Event).contains(QStringLiteral("server_started")));

    // Text: narrows the loaded lines in place.
    panel->levelBox()->setCurrentIndex(0);
    QTRY_VERIFY_WITH_TIMEOUT(
        columnValues(panel->model(), LogModel::Event).contains(QStringLiteral("worker_started")), 10'000);
    panel->filterEdit()->setText(QStringLiteral("worker_started"));
    QVERIFY(panel->proxy()->rowCount() >= 2);
    for (int r = 0; r < panel->proxy()->rowCount(); ++r)
        QCOMPARE(panel->proxy()->index(r, LogModel::Event).data().toString(), QStringLiteral("worker_started"));
    QVERIFY(panel->statusText().contains(QStringLiteral("match the filter")));
    QVERIFY(window.grab().save(QStringLiteral("/tmp/vigil-log-tab.png")));
}

// Last: it breaks the chain of the shared backend's database on purpose.
void TestGuiAudit::verifyShowsTheBrokenEntry()
{
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), QStringLiteral("tamper"));
        db.setDatabaseName(m_backend->databasePath());
        db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=5000"));
        QVERIFY(db.open());
        QSqlQuery q(db);
        QVERIFY(q.exec(QStringLiteral("UPDATE audit_log SET actor='mallory' WHERE seq=3")));
    }
    QSqlDatabase::removeDatabase(QStringLiteral("tamper"));

    ApiClient client(m_url);
    MainWindow window(&client);
    AuditPanel *panel = window.auditPanel();
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    window.tabs()->setCurrentWidget(panel);
    QTRY_VERIFY_WITH_TIMEOUT(panel->model()->rowOfSeq(3) >= 0, 10'000);
    QTest::mouseClick(panel->verifyButton(), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(panel->verifyState(), AuditPanel::VerifyState::Broken, 10'000);
    QVERIFY2(panel->verifyText().contains(QStringLiteral("BROKEN at entry 3")), qPrintable(panel->verifyText()));
    QVERIFY2(panel->verifyText().contains(QStringLiteral("hash mismatch")), qPrintable(panel->verifyText()));
    QCOMPARE(panel->model()->brokenSeq(), 3);
    const int row = panel->model()->rowOfSeq(3);
    QVERIFY(panel->model()->index(row, AuditModel::Kind).data(Qt::BackgroundRole).isValid());
    QCOMPARE(panel->model()->index(row, AuditModel::Actor).data().toString(), QStringLiteral("mallory"));
}

QTEST_MAIN(TestGuiAudit)
#include "tst_gui_audit.moc"
