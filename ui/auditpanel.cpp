#include "auditpanel.h"

#include "apiclient.h"
#include "auditmodel.h"
#include "theme.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QPushButton>
#include <QTableView>
#include <QTime>
#include <QVBoxLayout>

namespace vigil {

namespace {
const QLocale &numberLocale()
{
    static const QLocale locale(QLocale::English, QLocale::UnitedStates);
    return locale;
}
} // namespace

AuditPanel::AuditPanel(ApiClient *client, QWidget *parent)
    : QWidget(parent)
    , m_client(client)
    , m_model(new AuditModel(this))
{
    setObjectName(QStringLiteral("auditPanel"));

    m_kind = new QComboBox(this);
    m_kind->setObjectName(QStringLiteral("auditKind"));
    m_kind->addItem(tr("All kinds"), QString());
    // Every kind the server writes (docs/API.md, GET /api/v1/audit), grouped by what they are about.
    for (const char *kind : {"action_triggered", "action_succeeded", "action_failed", "action_dead_lettered",
             "policy_created", "policy_updated", "policy_deleted", "simulator_started", "simulator_changed",
             "simulator_stopped", "dead_letter_retried", "dead_letter_discarded", "dead_letters_retried",
             "dead_letters_purged", "queue_paused", "queue_resumed"})
        m_kind->addItem(QLatin1String(kind), QLatin1String(kind));
    m_kind->setToolTip(tr("Only entries of this kind"));

    m_filter = new QLineEdit(this);
    m_filter->setObjectName(QStringLiteral("auditFilter"));
    m_filter->setPlaceholderText(tr("Filter: actor, subject or details contain… (e.g. action/42, high-cpu, w1)"));
    m_filter->setClearButtonEnabled(true);
    m_filter->setToolTip(tr("Searched by the server over the whole trail, not only the rows shown"));

    m_verify = new QPushButton(tr("Verify chain"), this);
    m_verify->setObjectName(QStringLiteral("primaryButton"));
    m_verify->setToolTip(tr("Recompute every hash of the audit chain on the server (GET /api/v1/audit/verify)"));

    m_verifyLabel = new QLabel(tr("Not verified yet"), this);
    m_verifyLabel->setObjectName(QStringLiteral("hint"));
    m_verifyLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_verifyLabel->setWordWrap(true);

    m_view = new QTableView(this);
    m_view->setObjectName(QStringLiteral("auditTable"));
    m_view->setModel(m_model);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->setAlternatingRowColors(true);
    m_view->setWordWrap(false);
    m_view->setHorizontalScrollMode(QAbstractItemView::ScrollPerPixel);
    m_view->verticalHeader()->hide();
    m_view->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    m_view->verticalHeader()->setDefaultSectionSize(m_view->fontMetrics().height() + 6);
    QHeaderView *header = m_view->horizontalHeader();
    header->setStretchLastSection(false);
    header->setSectionResizeMode(QHeaderView::Interactive);
    header->setSectionResizeMode(AuditModel::Details, QHeaderView::Stretch);
    const int digit = m_view->fontMetrics().horizontalAdvance(QLatin1Char('0'));
    header->resizeSection(AuditModel::Seq, digit * 8);
    header->resizeSection(AuditModel::Time, digit * 24);
    header->resizeSection(AuditModel::Kind, digit * 22);
    header->resizeSection(AuditModel::Actor, digit * 24);
    header->resizeSection(AuditModel::Subject, digit * 14);
    header->resizeSection(AuditModel::Hash, digit * 14);

    m_older = new QPushButton(tr("Load older"), this);
    m_older->setEnabled(false);
    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("hint"));

    auto *filters = new QHBoxLayout;
    filters->setSpacing(8);
    filters->addWidget(m_kind);
    filters->addWidget(m_filter, 1);
    filters->addWidget(m_verify);

    auto *bottom = new QHBoxLayout;
    bottom->addWidget(m_status, 1);
    bottom->addWidget(m_older);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(10, 8, 10, 8);
    layout->setSpacing(8);
    layout->addLayout(filters);
    layout->addWidget(m_verifyLabel);
    layout->addWidget(m_view, 1);
    layout->addLayout(bottom);

    m_poll.setInterval(pollIntervalMs);
    m_poll.setTimerType(Qt::CoarseTimer);
    connect(&m_poll, &QTimer::timeout, this, &AuditPanel::refresh);
    // Typing waits for a pause, so each keystroke does not send a query.
    m_filterDelay.setSingleShot(true);
    m_filterDelay.setInterval(300);
    connect(&m_filterDelay, &QTimer::timeout, this, &AuditPanel::applyFilter);
    connect(m_filter, &QLineEdit::textChanged, &m_filterDelay, qOverload<>(&QTimer::start));
    connect(m_kind, &QComboBox::currentIndexChanged, this, &AuditPanel::applyFilter);
    connect(m_verify, &QPushButton::clicked, this, &AuditPanel::verify);
    connect(m_older, &QPushButton::clicked, this, &AuditPanel::loadOlder);

    if (m_client) {
        connect(m_client, &ApiClient::auditReceived, this, &AuditPanel::onAudit);
        connect(m_client, &ApiClient::auditFailed, this, [this](const QUrlQuery &query, const QString &message) {
            if (query.hasQueryItem(QStringLiteral("before")))
                m_olderPending = false;
            m_error = message;
            updateStatus();
        });
        connect(m_client, &ApiClient::auditVerified, this, &AuditPanel::onVerified);
        connect(m_client, &ApiClient::auditVerifyFailed, this, [this](const QString &message) {
            setVerifyResult(VerifyState::Failed, tr("Could not verify: %1").arg(message));
        });
        connect(m_client, &ApiClient::baseUrlChanged, this, [this] {
            clear();
            if (isVisible())
                refresh();
        });
    }
    updateStatus();
}

QUrlQuery AuditPanel::filterQuery() const
{
    return m_applied;
}

QUrlQuery AuditPanel::editedFilter() const
{
    QUrlQuery query;
    const QString kind = m_kind->currentData().toString();
    if (!kind.isEmpty())
        query.addQueryItem(QStringLiteral("kind"), kind);
    const QString text = m_filter->text().trimmed();
    if (!text.isEmpty())
        query.addQueryItem(QStringLiteral("text"), text);
    return query;
}

QString AuditPanel::signature(const QUrlQuery &query)
{
    return query.queryItemValue(QStringLiteral("kind"), QUrl::FullyDecoded) + QLatin1Char('\n')
        + query.queryItemValue(QStringLiteral("text"), QUrl::FullyDecoded);
}

void AuditPanel::applyFilter()
{
    m_filterDelay.stop();
    m_applied = editedFilter();
    m_model->clear();
    m_hasOlder = false;
    m_olderPending = false;
    updateStatus();
    refresh();
}

void AuditPanel::refresh()
{
    if (!m_client || m_olderPending)
        return; // one audit request at a time: an older page on its way is not replaced
    QUrlQuery query = filterQuery();
    query.addQueryItem(QStringLiteral("limit"), QString::number(pageSize));
    m_client->fetchAudit(query);
}

void AuditPanel::loadOlder()
{
    if (!m_client || m_model->rowCount() == 0 || !m_hasOlder)
        return;
    QUrlQuery query = filterQuery();
    query.addQueryItem(QStringLiteral("limit"), QString::number(pageSize));
    query.addQueryItem(QStringLiteral("before"), QString::number(m_model->oldestSeq()));
    m_olderPending = true;
    m_older->setEnabled(false);
    m_client->fetchAudit(query);
}

void AuditPanel::onAudit(const QJsonObject &answer, const QUrlQuery &query)
{
    if (signature(query) != signature(filterQuery()))
        return; // the filter changed since this was asked
    m_error.clear();
    const QJsonArray entries = answer.value(QLatin1String("entries")).toArray();
    const bool more = !answer.value(QLatin1String("next_before")).isNull();
    if (query.hasQueryItem(QStringLiteral("before"))) {
        m_olderPending = false;
        m_model->appendOlder(entries);
        m_hasOlder = more;
    } else {
        const bool wasEmpty = m_model->rowCount() == 0;
        if (m_model->mergeNewest(entries, more) < 0 || wasEmpty)
            m_hasOlder = more;
    }
    updateStatus();
}

void AuditPanel::verify()
{
    if (!m_client)
        return;
    setVerifyResult(VerifyState::Running, tr("Verifying the chain…"));
    m_client->verifyAudit();
}

void AuditPanel::onVerified(const QJsonObject &answer)
{
    const qint64 checked = answer.value(QLatin1String("entries_checked")).toInteger();
    const QString at = QTime::currentTime().toString(QStringLiteral("HH:mm:ss"));
    if (answer.value(QLatin1String("valid")).toBool()) {
        m_model->setBrokenSeq(0);
        setVerifyResult(VerifyState::Valid,
            tr("✔ Chain intact: all %1 entries verified at %2").arg(numberLocale().toString(checked), at));
        return;
    }
    const qint64 bad = answer.value(QLatin1String("first_bad_seq")).toInteger();
    m_model->setBrokenSeq(bad);
    setVerifyResult(VerifyState::Broken,
        tr("✖ Chain BROKEN at entry %1: %2 (%3 entries checked at %4)")
            .arg(bad)
            .arg(answer.value(QLatin1String("problem")).toString(), numberLocale().toString(checked), at));
    const int row = m_model->rowOfSeq(bad);
    if (row >= 0)
        m_view->scrollTo(m_model->index(row, 0), QAbstractItemView::PositionAtCenter);
}

void AuditPanel::setVerifyResult(VerifyState state, const QString &text)
{
    m_verifyState = state;
    m_verifyLabel->setText(text);
    QString style;
    if (state == VerifyState::Valid)
        style = QStringLiteral("color: %1; font-weight: 600;").arg(theme::color::good.name());
    else if (state == VerifyState::Broken || state == VerifyState::Failed)
        style = QStringLiteral("color: %1; font-weight: 600;").arg(theme::color::bad.name());
    m_verifyLabel->setStyleSheet(style);
    m_verify->setEnabled(state != VerifyState::Running);
}

QString AuditPanel::verifyText() const
{
    return m_verifyLabel->text();
}

QString AuditPanel::statusText() const
{
    return m_status->text();
}

void AuditPanel::updateStatus()
{
    QString text;
    const int rows = m_model->rowCount();
    if (rows == 0)
        text = filterQuery().isEmpty() ? tr("No audit entries yet") : tr("No entries match the filter");
    else
        text = tr("%1 entries shown, seq %2 … %3, newest first%4")
                   .arg(numberLocale().toString(rows))
                   .arg(m_model->oldestSeq())
                   .arg(m_model->newestSeq())
                   .arg(m_hasOlder ? tr("; older ones on the server") : QString());
    if (!m_error.isEmpty())
        text += QStringLiteral(" · ⚠ ") + m_error;
    m_status->setText(text);
    m_older->setEnabled(m_hasOlder && !m_olderPending && rows < AuditModel::maxRows);
}

void AuditPanel::clear()
{
    m_model->clear();
    m_hasOlder = false;
    m_olderPending = false;
    m_error.clear();
    setVerifyResult(VerifyState::None, tr("Not verified yet"));
    updateStatus();
}

void AuditPanel::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    m_poll.start();
    refresh();
}

void AuditPanel::hideEvent(QHideEvent *event)
{
    QWidget::hideEvent(event);
    m_poll.stop();
}

} // namespace vigil
