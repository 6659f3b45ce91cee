#include "simulatorpanel.h"

#include "theme.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QJsonValue>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRegularExpressionValidator>
#include <QSpinBox>
#include <QStyle>
#include <QVBoxLayout>

namespace vigil {

namespace {

QDoubleSpinBox *makeShareBox(const QString &toolTip, QWidget *parent)
{
    auto *box = new QDoubleSpinBox(parent);
    box->setRange(0.0, 100.0);
    box->setDecimals(1);
    box->setSingleStep(0.5);
    box->setSuffix(QStringLiteral(" %"));
    box->setAlignment(Qt::AlignRight);
    box->setToolTip(toolTip);
    return box;
}

QString shareParameter(const QDoubleSpinBox *box)
{
    return QString::number(box->value() / 100.0, 'g', 6);
}

void setInvalid(QWidget *widget, bool invalid)
{
    if (!widget || widget->property("invalid").toBool() == invalid)
        return;
    widget->setProperty("invalid", invalid);
    widget->style()->unpolish(widget);
    widget->style()->polish(widget);
}

QLabel *sectionLabel(const QString &text, QWidget *parent)
{
    auto *label = new QLabel(text.toUpper(), parent);
    label->setObjectName(QStringLiteral("sectionLabel"));
    QFont f = label->font();
    f.setPointSizeF(f.pointSizeF() * 0.78);
    f.setWeight(QFont::DemiBold);
    f.setLetterSpacing(QFont::PercentageSpacing, 104);
    label->setFont(f);
    return label;
}

} // namespace

SimulatorPanel::SimulatorPanel(QWidget *parent)
    : QFrame(parent)
    , m_mode(new QComboBox(this))
    , m_rate(new QSpinBox(this))
    , m_failure(makeShareBox(tr("Share of events sent with a fault marker that makes the server answer 500; "
                                "the simulator retries them with backoff."),
          this))
    , m_timeout(makeShareBox(tr("Share of events whose answer the server holds past the client timeout; "
                                "the simulator retries with the same idempotency key."),
          this))
    , m_malformed(makeShareBox(tr("Share of deliberately invalid events (broken JSON, wrong types, unknown "
                                  "fields); the expected answer is 400."),
          this))
    , m_seed(new QLineEdit(this))
    , m_duration(new QSpinBox(this))
    , m_start(new QPushButton(tr("Start"), this))
    , m_stop(new QPushButton(tr("Stop"), this))
    , m_state(new QLabel(this))
    , m_stateDetail(new QLabel(this))
    , m_error(new QLabel(this))
{
    setObjectName(QStringLiteral("simulatorPanel"));
    setSizePolicy(QSizePolicy::Fixed, QSizePolicy::Maximum);
    setFixedWidth(272);

    m_mode->addItem(tr("Steady"), QStringLiteral("steady"));
    m_mode->setItemData(0, tr("Constant rate."), Qt::ToolTipRole);
    m_mode->addItem(tr("Burst"), QStringLiteral("burst"));
    m_mode->setItemData(1, tr("60 s cycle: 15 s at 2.5× the rate, then 45 s at 0.5× (mean = rate)."), Qt::ToolTipRole);
    m_mode->addItem(tr("Ramp"), QStringLiteral("ramp"));
    m_mode->setItemData(2, tr("8 min cycle: 0 → 0.5× → 1× → 1.5× → 0 in 2-minute legs."), Qt::ToolTipRole);
    m_mode->addItem(tr("Chaos"), QStringLiteral("chaos"));
    m_mode->setItemData(
        3, tr("Rate × a random factor in [0.25, 2] redrawn every 5 s; faults default to 10/5/2 %."), Qt::ToolTipRole);
    m_mode->setToolTip(tr("How the target rate varies over time."));

    m_rate->setRange(1, 1'000'000);
    m_rate->setValue(600);
    m_rate->setGroupSeparatorShown(true);
    m_rate->setStepType(QAbstractSpinBox::AdaptiveDecimalStepType);
    m_rate->setSuffix(tr(" /min"));
    m_rate->setAlignment(Qt::AlignRight);
    m_rate->setToolTip(tr("Base rate in events per minute, 1 to 1,000,000."));

    m_seed->setPlaceholderText(tr("random"));
    m_seed->setValidator(new QRegularExpressionValidator(QRegularExpression(QStringLiteral("[0-9]{0,19}")), m_seed));
    m_seed->setAlignment(Qt::AlignRight);
    m_seed->setToolTip(tr("A seed makes a run reproducible: the same seed sends the same events."));

    m_duration->setRange(0, 7 * 24 * 3600);
    m_duration->setSpecialValueText(tr("until stopped"));
    m_duration->setSuffix(tr(" s"));
    m_duration->setStepType(QAbstractSpinBox::AdaptiveDecimalStepType);
    m_duration->setAlignment(Qt::AlignRight);
    m_duration->setToolTip(tr("Stop by itself after this many seconds (0: run until stopped)."));

    m_start->setObjectName(QStringLiteral("primaryButton"));
    m_start->setToolTip(tr("Start the simulator with these settings"));
    m_stop->setObjectName(QStringLiteral("dangerButton"));
    m_stop->setToolTip(tr("Stop the simulator"));
    m_start->setMinimumWidth(100);
    m_stop->setMinimumWidth(100);

    QFont stateFont = m_state->font();
    stateFont.setPointSizeF(stateFont.pointSizeF() * 1.1);
    stateFont.setWeight(QFont::DemiBold);
    m_state->setFont(stateFont);
    m_state->setTextFormat(Qt::RichText);
    m_stateDetail->setObjectName(QStringLiteral("hint"));
    m_stateDetail->setWordWrap(true);
    m_stateDetail->setTextFormat(Qt::RichText);
    m_stateDetail->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_error->setObjectName(QStringLiteral("fieldError"));
    m_error->setWordWrap(true);
    m_error->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_error->hide();

    auto *title = new QLabel(tr("Load simulator"), this);
    title->setObjectName(QStringLiteral("panelTitle"));
    QFont titleFont = title->font();
    titleFont.setPointSizeF(titleFont.pointSizeF() * 1.15);
    title->setFont(titleFont);

    // One form for all fields, so every field starts at the same x.
    auto *form = new QFormLayout;
    form->setLabelAlignment(Qt::AlignLeft | Qt::AlignVCenter);
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    form->setHorizontalSpacing(12);
    form->setVerticalSpacing(7);
    form->addRow(sectionLabel(tr("Load"), this));
    form->addRow(tr("Mode"), m_mode);
    form->addRow(tr("Rate"), m_rate);
    form->addRow(tr("Duration"), m_duration);
    form->addRow(tr("Seed"), m_seed);
    QLabel *faultsLabel = sectionLabel(tr("Fault injection · share of events"), this);
    faultsLabel->setContentsMargins(0, 8, 0, 0);
    form->addRow(faultsLabel);
    form->addRow(tr("Server errors"), m_failure);
    form->addRow(tr("Timeouts"), m_timeout);
    form->addRow(tr("Malformed"), m_malformed);

    auto *buttons = new QHBoxLayout;
    buttons->setSpacing(8);
    buttons->addWidget(m_start, 1);
    buttons->addWidget(m_stop, 1);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(14, 12, 14, 14);
    layout->setSpacing(8);
    layout->addWidget(title);
    layout->addWidget(m_state);
    layout->addWidget(m_stateDetail);
    layout->addSpacing(4);
    layout->addLayout(form);
    layout->addSpacing(8);
    layout->addLayout(buttons);
    layout->addWidget(m_error);

    connect(m_start, &QPushButton::clicked, this, &SimulatorPanel::requestStart);
    connect(m_stop, &QPushButton::clicked, this, &SimulatorPanel::requestStop);
    connect(m_mode, &QComboBox::activated, this, [this](int index) {
        // Chaos is about faults: offer its documented defaults instead of a fault-free chaos run.
        if (m_mode->itemData(index).toString() == QLatin1String("chaos") && m_failure->value() == 0
            && m_timeout->value() == 0 && m_malformed->value() == 0) {
            m_failure->setValue(10.0);
            m_timeout->setValue(5.0);
            m_malformed->setValue(2.0);
        }
    });
    // Editing a field that was rejected clears its mark.
    for (QWidget *field :
        {static_cast<QWidget *>(m_rate), static_cast<QWidget *>(m_failure), static_cast<QWidget *>(m_timeout),
            static_cast<QWidget *>(m_malformed), static_cast<QWidget *>(m_duration)})
        connect(static_cast<QAbstractSpinBox *>(field), &QAbstractSpinBox::editingFinished, this,
            [field] { setInvalid(field, false); });
    connect(m_seed, &QLineEdit::textEdited, this, [this] { setInvalid(m_seed, false); });
    connect(m_mode, &QComboBox::activated, this, [this] { setInvalid(m_mode, false); });

    setStatus(QJsonObject());
}

QUrlQuery SimulatorPanel::startParameters() const
{
    QUrlQuery query;
    query.addQueryItem(QStringLiteral("rate"), QString::number(m_rate->value()));
    query.addQueryItem(QStringLiteral("mode"), m_mode->currentData().toString());
    query.addQueryItem(QStringLiteral("failure_rate"), shareParameter(m_failure));
    query.addQueryItem(QStringLiteral("timeout_rate"), shareParameter(m_timeout));
    query.addQueryItem(QStringLiteral("malformed_rate"), shareParameter(m_malformed));
    if (!m_seed->text().isEmpty())
        query.addQueryItem(QStringLiteral("seed"), m_seed->text());
    if (m_duration->value() > 0)
        query.addQueryItem(QStringLiteral("duration"), QString::number(m_duration->value()));
    return query;
}

QString SimulatorPanel::errorText() const
{
    return m_error->isHidden() ? QString() : m_error->text();
}

void SimulatorPanel::requestStart()
{
    if (!m_start->isEnabled())
        return;
    clearErrors();
    emit startRequested(startParameters());
}

void SimulatorPanel::requestStop()
{
    if (!m_stop->isEnabled())
        return;
    clearErrors();
    emit stopRequested();
}

void SimulatorPanel::setStatus(const QJsonObject &simulator)
{
    const bool running = simulator.value(QLatin1String("running")).toBool();
    const QJsonObject configuration = simulator.value(QLatin1String("configuration")).toObject();
    const QJsonObject metrics = simulator.value(QLatin1String("metrics")).toObject();

    // Show the server's settings when we first see it and whenever a run starts that we may not
    // have started ourselves; never while the user may be editing during a run.
    const bool firstStatus = !m_haveStatus && !simulator.isEmpty();
    if ((firstStatus || (running && !m_running)) && !configuration.isEmpty())
        loadConfiguration(configuration);
    if (!simulator.isEmpty())
        m_haveStatus = true;

    const bool changed = running != m_running;
    m_running = running;

    const QString dot = QStringLiteral("<span style='color:%1'>●</span>&nbsp;");
    if (!m_connected) {
        m_state->setText(dot.arg(theme::color::muted.name()) + tr("Not connected"));
    } else if (running) {
        m_state->setText(dot.arg(theme::color::good.name()) + tr("Running"));
    } else {
        m_state->setText(dot.arg(theme::color::muted.name()) + tr("Idle"));
    }

    QStringList details;
    if (!configuration.isEmpty() && (running || metrics.value(QLatin1String("events_generated")).toDouble() > 0)) {
        const QString mode = configuration.value(QLatin1String("mode")).toString();
        const double target = configuration.value(QLatin1String("target_rate")).toDouble();
        details << (running ? tr("%1 at %2 /min") : tr("Last run: %1 at %2 /min"))
                       .arg(mode, QLocale(QLocale::English).toString(target, 'f', 0));
        const QJsonValue seed = configuration.value(QLatin1String("seed"));
        // The Seed field below is for the next start ("random" when empty); this says how this run got its seed.
        if (seed.isDouble())
            details << (configuration.value(QLatin1String("seed_given")).toBool()
                    ? tr("Seed %1 (given)").arg(QString::number(seed.toInteger()))
                    : tr("Seed %1 (drawn at random)").arg(QString::number(seed.toInteger())));
    }
    const QString target = configuration.value(QLatin1String("target")).toString();
    if (!target.isEmpty())
        details << tr("Target: %1").arg(target.toHtmlEscaped());
    if (running && metrics.contains(QLatin1String("faults_honoured"))
        && !metrics.value(QLatin1String("faults_honoured")).toBool())
        details << QStringLiteral("<span style='color:%1'>%2</span>")
                       .arg(
                           theme::color::warn.name(), tr("The target ignores fault markers: faults are not injected."));
    m_stateDetail->setText(details.join(QStringLiteral("<br>")));
    m_stateDetail->setVisible(!details.isEmpty());

    updateButtons();
    if (changed)
        emit runningChanged(running);
}

void SimulatorPanel::loadConfiguration(const QJsonObject &configuration)
{
    const int modeIndex = m_mode->findData(configuration.value(QLatin1String("mode")).toString());
    if (modeIndex >= 0)
        m_mode->setCurrentIndex(modeIndex);
    const double rate = configuration.value(QLatin1String("target_rate")).toDouble();
    if (rate >= 1)
        m_rate->setValue(static_cast<int>(rate));
    m_failure->setValue(configuration.value(QLatin1String("failure_rate")).toDouble() * 100.0);
    m_timeout->setValue(configuration.value(QLatin1String("timeout_rate")).toDouble() * 100.0);
    m_malformed->setValue(configuration.value(QLatin1String("malformed_rate")).toDouble() * 100.0);
    // The seed is not loaded: a seed the server drew for one run would silently make every later
    // run replay it. The run's seed is shown in the state line instead, to copy from.
    m_duration->setValue(configuration.value(QLatin1String("duration_seconds")).toInt());
}

void SimulatorPanel::setConnected(bool connected)
{
    if (connected == m_connected)
        return;
    m_connected = connected;
    if (!connected)
        m_haveStatus = false; // a new server (or a restarted one): load its settings again
    updateButtons();
    if (!connected)
        m_state->setText(QStringLiteral("<span style='color:%1'>●</span>&nbsp;").arg(theme::color::muted.name())
            + tr("Not connected"));
}

void SimulatorPanel::setBusy(bool busy)
{
    m_busy = busy;
    updateButtons();
}

void SimulatorPanel::updateButtons()
{
    m_start->setText(m_running ? tr("Apply") : tr("Start"));
    m_start->setToolTip(m_running ? tr("Apply rate, mode and fault shares to the running simulator")
                                  : tr("Start the simulator with these settings"));
    m_start->setEnabled(m_connected && !m_busy);
    m_stop->setEnabled(m_connected && !m_busy && m_running);
}

QWidget *SimulatorPanel::fieldFor(const QString &field) const
{
    if (field == QLatin1String("rate"))
        return m_rate;
    if (field == QLatin1String("mode"))
        return m_mode;
    if (field == QLatin1String("failure_rate"))
        return m_failure;
    if (field == QLatin1String("timeout_rate"))
        return m_timeout;
    if (field == QLatin1String("malformed_rate"))
        return m_malformed;
    if (field == QLatin1String("seed"))
        return m_seed;
    if (field == QLatin1String("duration"))
        return m_duration;
    return nullptr;
}

void SimulatorPanel::showFieldError(const QString &field, const QString &message)
{
    QWidget *widget = fieldFor(field);
    setInvalid(widget, true);
    showError(widget ? message : tr("%1: %2").arg(field, message));
}

void SimulatorPanel::showError(const QString &message)
{
    m_error->setText(message);
    m_error->setVisible(!message.isEmpty());
}

void SimulatorPanel::clearErrors()
{
    for (QWidget *widget : {static_cast<QWidget *>(m_mode), static_cast<QWidget *>(m_rate),
             static_cast<QWidget *>(m_failure), static_cast<QWidget *>(m_timeout), static_cast<QWidget *>(m_malformed),
             static_cast<QWidget *>(m_seed), static_cast<QWidget *>(m_duration)})
        setInvalid(widget, false);
    m_error->clear();
    m_error->hide();
}

} // namespace vigil
