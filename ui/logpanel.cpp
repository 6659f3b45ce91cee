#include "logpanel.h"

#include "apiclient.h"
#include "logmodel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QPushButton>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QVBoxLayout>

namespace vigil {

LogPanel::LogPanel(ApiClient *client, QWidget *parent)
    : QWidget(parent)
    , m_client(client)
    , m_model(new LogModel(this))
    , m_proxy(new QSortFilterProxyModel(this))
{
    setObjectName(QStringLiteral("logPanel"));

    m_level = new QComboBox(this);
    m_level->setObjectName(QStringLiteral("logLevel"));
    m_level->addItem(tr("All levels"), QStringLiteral("debug"));
    m_level->addItem(tr("Info and above"), QStringLiteral("info"));
    m_level->addItem(tr("Warnings and errors"), QStringLiteral("warning"));
    m_level->addItem(tr("Errors only"), QStringLiteral("error"));
    m_level->setToolTip(tr("Lowest level shown (the server keeps what its --log-level lets through)"));

    m_filter = new QLineEdit(this);
    m_filter->setObjectName(QStringLiteral("logFilter"));
    m_filter->setPlaceholderText(tr("Filter the lines shown: event or field text…"));
    m_filter->setClearButtonEnabled(true);

    m_follow = new QCheckBox(tr("Follow"), this);
    m_follow->setChecked(true);
    m_follow->setToolTip(tr("Scroll to new lines as they arrive"));

    auto *clearButton = new QPushButton(tr("Clear"), this);
    clearButton->setToolTip(tr("Forget the lines shown; new lines still arrive"));

    m_proxy->setSourceModel(m_model);
    m_proxy->setFilterKeyColumn(-1);
    m_proxy->setFilterCaseSensitivity(Qt::CaseInsensitive);

    m_view = new QTableView(this);
    m_view->setObjectName(QStringLiteral("logTable"));
    m_view->setModel(m_proxy);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->setAlternatingRowColors(true);
    m_view->setWordWrap(false);
    m_view->verticalHeader()->hide();
    m_view->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    m_view->verticalHeader()->setDefaultSectionSize(m_view->fontMetrics().height() + 6);
    QHeaderView *header = m_view->horizontalHeader();
    header->setSectionResizeMode(QHeaderView::Interactive);
    header->setSectionResizeMode(LogModel::Details, QHeaderView::Stretch);
    const int digit = m_view->fontMetrics().horizontalAdvance(QLatin1Char('0'));
    header->resizeSection(LogModel::Time, digit * 14);
    header->resizeSection(LogModel::Level, digit * 9);
    header->resizeSection(LogModel::Event, digit * 24);

    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("hint"));

    auto *top = new QHBoxLayout;
    top->setSpacing(8);
    top->addWidget(m_level);
    top->addWidget(m_filter, 1);
    top->addWidget(m_follow);
    top->addWidget(clearButton);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(10, 8, 10, 8);
    layout->setSpacing(8);
    layout->addLayout(top);
    layout->addWidget(m_view, 1);
    layout->addWidget(m_status);

    m_poll.setInterval(pollIntervalMs);
    m_poll.setTimerType(Qt::CoarseTimer);
    connect(&m_poll, &QTimer::timeout, this, &LogPanel::refresh);
    connect(m_level, &QComboBox::currentIndexChanged, this, [this] {
        clear();
        refresh();
    });
    connect(m_filter, &QLineEdit::textChanged, m_proxy, &QSortFilterProxyModel::setFilterFixedString);
    connect(m_filter, &QLineEdit::textChanged, this, &LogPanel::updateStatus);
    connect(clearButton, &QPushButton::clicked, this, [this] {
        // Keep m_after: only lines newer than those already seen come next.
        const qint64 after = m_after;
        clear();
        m_after = after;
        updateStatus();
    });
    connect(m_model, &QAbstractItemModel::rowsInserted, this, [this] {
        if (m_follow->isChecked())
            m_view->scrollToBottom();
    });

    if (m_client) {
        connect(m_client, &ApiClient::logsReceived, this, &LogPanel::onLogs);
        connect(m_client, &ApiClient::logsFailed, this, [this](const QUrlQuery &, const QString &message) {
            m_error = message;
            updateStatus();
        });
        connect(m_client, &ApiClient::baseUrlChanged, this, [this] {
            clear();
            if (isVisible())
                refresh();
        });
    }
    updateStatus();
}

QString LogPanel::level() const
{
    return m_level->currentData().toString();
}

void LogPanel::refresh()
{
    if (!m_client)
        return;
    QUrlQuery query;
    query.addQueryItem(QStringLiteral("level"), level());
    query.addQueryItem(QStringLiteral("limit"), QString::number(pageSize));
    query.addQueryItem(QStringLiteral("after"), QString::number(m_after));
    m_client->fetchLogs(query);
}

void LogPanel::onLogs(const QJsonObject &answer, const QUrlQuery &query)
{
    if (query.queryItemValue(QStringLiteral("level")) != level()
        || query.queryItemValue(QStringLiteral("after")).toLongLong() != m_after)
        return; // asked before the level changed or the lines were cleared
    m_error.clear();
    const qint64 lastSeq = answer.value(QLatin1String("last_seq")).toInteger();
    if (lastSeq < m_after) {
        // The server restarted (its line numbers start again): start over.
        clear();
        refresh();
        return;
    }
    m_capacity = answer.value(QLatin1String("capacity")).toInt();
    if (answer.value(QLatin1String("truncated")).toBool() && m_after > 0)
        m_skipped = true;
    m_model->appendLines(answer.value(QLatin1String("lines")).toArray());
    m_after = lastSeq;
    updateStatus();
}

void LogPanel::clear()
{
    m_model->clear();
    m_after = 0;
    m_skipped = false;
    m_error.clear();
    updateStatus();
}

QString LogPanel::statusText() const
{
    return m_status->text();
}

void LogPanel::updateStatus()
{
    static const QLocale locale(QLocale::English, QLocale::UnitedStates);
    QString text;
    const int shown = m_proxy->rowCount();
    const int loaded = m_model->rowCount();
    if (loaded == 0)
        text = tr("No log lines at this level yet");
    else if (shown == loaded)
        text = tr("%1 lines").arg(locale.toString(loaded));
    else
        text = tr("%1 of %2 lines match the filter").arg(locale.toString(shown), locale.toString(loaded));
    if (m_capacity > 0)
        text += tr(" · the server keeps its last %1 lines").arg(locale.toString(m_capacity));
    if (m_skipped)
        text += tr(" · some lines were skipped (more than %1 arrived within one poll)").arg(pageSize);
    if (!m_error.isEmpty())
        text += QStringLiteral(" · ⚠ ") + m_error;
    m_status->setText(text);
}

void LogPanel::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    m_poll.start();
    refresh();
}

void LogPanel::hideEvent(QHideEvent *event)
{
    QWidget::hideEvent(event);
    m_poll.stop();
}

} // namespace vigil
