#include "queuepanel.h"

#include "theme.h"

#include <QGridLayout>
#include <QLabel>
#include <QLocale>
#include <QVBoxLayout>

#include <cmath>

namespace vigil {

namespace {

const QLocale &numberLocale()
{
    static const QLocale locale(QLocale::English, QLocale::UnitedStates);
    return locale;
}

QString count(const QJsonObject &object, const char *key)
{
    const QJsonValue v = object.value(QLatin1String(key));
    return v.isDouble() ? numberLocale().toString(static_cast<qint64>(std::llround(v.toDouble())))
                        : QStringLiteral("–");
}

QString perSecond(const QJsonObject &object, const char *key)
{
    const QJsonValue v = object.value(QLatin1String(key));
    return v.isDouble() ? numberLocale().toString(v.toDouble(), 'f', 1) + QStringLiteral(" /s") : QStringLiteral("–");
}

QString age(const QJsonObject &object, const char *key)
{
    const QJsonValue v = object.value(QLatin1String(key));
    if (!v.isDouble())
        return QStringLiteral("–");
    const double s = v.toDouble();
    if (s < 10)
        return numberLocale().toString(s, 'f', 1) + QStringLiteral(" s");
    if (s < 120)
        return numberLocale().toString(s, 'f', 0) + QStringLiteral(" s");
    return numberLocale().toString(s / 60, 'f', 1) + QStringLiteral(" min");
}

} // namespace

QueuePanel::QueuePanel(QWidget *parent)
    : QFrame(parent)
    , m_state(new QLabel(this))
{
    setObjectName(QStringLiteral("queuePanel"));
    setSizePolicy(QSizePolicy::Fixed, QSizePolicy::Preferred);
    setFixedWidth(272);

    auto *title = new QLabel(tr("Task queue"), this);
    title->setObjectName(QStringLiteral("panelTitle"));
    QFont titleFont = title->font();
    titleFont.setPointSizeF(titleFont.pointSizeF() * 1.15);
    title->setFont(titleFont);
    m_state->setObjectName(QStringLiteral("hint"));
    m_state->setAlignment(Qt::AlignRight | Qt::AlignVCenter);

    auto *header = new QHBoxLayout;
    header->addWidget(title);
    header->addWidget(m_state, 1);

    auto *grid = new QGridLayout;
    grid->setHorizontalSpacing(12);
    grid->setVerticalSpacing(3);
    grid->setColumnStretch(0, 1);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(14, 12, 14, 12);
    layout->setSpacing(8);
    layout->addLayout(header);
    layout->addLayout(grid);
    layout->addStretch(1);

    addRow(QStringLiteral("ready"), tr("Ready"), tr("Tasks waiting for a worker"));
    addRow(QStringLiteral("scheduled"), tr("Scheduled retries"), tr("Failed tasks waiting for their retry time"));
    addRow(QStringLiteral("leased"), tr("Leased"), tr("Tasks a worker is processing"));
    addRow(QStringLiteral("dead"), tr("Dead letters"),
        tr("Tasks that used up their attempts; retry or discard them through /api/v1/queue/dead"));
    addRow(QStringLiteral("oldest"), tr("Oldest ready"), tr("Age of the oldest task waiting for a worker"));
    addRow(QStringLiteral("enqueue"), tr("Enqueued"), tr("Tasks added per second"));
    addRow(QStringLiteral("dequeue"), tr("Dequeued"), tr("Tasks claimed per second"));
    addRow(QStringLiteral("completed"), tr("Completed (total)"), tr("Tasks done since the database was created"));
    addRow(QStringLiteral("retried"), tr("Retried (total)"), tr("Retry attempts"));
    addRow(QStringLiteral("dead_lettered"), tr("Dead-lettered (total)"), tr("Tasks moved to the dead-letter list"));
    addRow(QStringLiteral("rescued"), tr("Rescued leases"), tr("Expired leases returned to the queue"));
    clear();
}

void QueuePanel::addRow(const QString &key, const QString &label, const QString &toolTip)
{
    auto *grid = static_cast<QGridLayout *>(static_cast<QVBoxLayout *>(layout())->itemAt(1)->layout());
    auto *name = new QLabel(label, this);
    name->setObjectName(QStringLiteral("hint"));
    name->setToolTip(toolTip);
    auto *value = new QLabel(this);
    value->setAlignment(Qt::AlignRight | Qt::AlignVCenter);
    value->setTextInteractionFlags(Qt::TextSelectableByMouse);
    grid->addWidget(name, m_rows, 0);
    grid->addWidget(value, m_rows, 1);
    ++m_rows;
    m_values.insert(key, value);
}

void QueuePanel::setQueue(const QJsonObject &queue)
{
    const QJsonObject totals = queue.value(QLatin1String("totals")).toObject();
    const QJsonObject rates = queue.value(QLatin1String("rates")).toObject();
    m_values.value(QStringLiteral("ready"))->setText(count(queue, "ready"));
    m_values.value(QStringLiteral("scheduled"))->setText(count(queue, "scheduled"));
    m_values.value(QStringLiteral("leased"))->setText(count(queue, "leased"));
    m_values.value(QStringLiteral("dead"))->setText(count(queue, "dead"));
    m_values.value(QStringLiteral("oldest"))->setText(age(queue, "oldest_ready_age_seconds"));
    m_values.value(QStringLiteral("enqueue"))->setText(perSecond(rates, "enqueue_per_s"));
    m_values.value(QStringLiteral("dequeue"))->setText(perSecond(rates, "dequeue_per_s"));
    m_values.value(QStringLiteral("completed"))->setText(count(totals, "completed"));
    m_values.value(QStringLiteral("retried"))->setText(count(totals, "retried"));
    m_values.value(QStringLiteral("dead_lettered"))->setText(count(totals, "dead_lettered"));
    m_values.value(QStringLiteral("rescued"))->setText(count(totals, "rescued"));
    const bool paused = queue.value(QLatin1String("paused")).toBool();
    m_state->setText(paused
            ? QStringLiteral("<span style='color:%1'>%2</span>").arg(theme::color::warn.name(), tr("paused"))
            : tr("claiming"));
}

void QueuePanel::clear()
{
    for (QLabel *label : std::as_const(m_values))
        label->setText(QStringLiteral("–"));
    m_state->clear();
}

QString QueuePanel::value(const QString &key) const
{
    const QLabel *label = m_values.value(key);
    return label ? label->text() : QString();
}

} // namespace vigil
