#include "chartpanel.h"

#include "theme.h"

#include <QAreaSeries>
#include <QCategoryAxis>
#include <QChart>
#include <QChartView>
#include <QDateTime>
#include <QJsonObject>
#include <QLineSeries>
#include <QLinearGradient>
#include <QValueAxis>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace vigil {

namespace {

// Tick spacing for the time axis: about five to seven labels whatever the window.
qint64 tickIntervalMs(int windowSeconds)
{
    if (windowSeconds <= 60)
        return 10'000;
    if (windowSeconds <= 300)
        return 60'000;
    return 180'000;
}

// Just enough decimals to print every tick (0, step, 2·step, ...) exactly.
QString labelFormatFor(double step)
{
    int decimals = 0;
    for (double scaled = step; decimals < 4 && std::abs(scaled - std::round(scaled)) > 1e-6 * scaled; ++decimals)
        scaled *= 10;
    return QStringLiteral("%.") + QString::number(decimals) + QStringLiteral("f");
}

} // namespace

ChartPanel::ChartPanel(const QString &title, const QString &yAxisTitle, QWidget *parent)
    : QWidget(parent)
    , m_chart(new QChart)
    , m_axisX(new QCategoryAxis)
    , m_axisY(new QValueAxis)
{
    theme::styleChart(m_chart);
    m_chart->setTitle(title);

    QFont axisFont = font();
    axisFont.setPointSizeF(axisFont.pointSizeF() * 0.85);
    QFont axisTitleFont = axisFont;
    axisTitleFont.setWeight(QFont::Normal);

    // x: unix ms. A category axis puts labels (and grid lines) on round clock times.
    m_axisX->setLabelsPosition(QCategoryAxis::AxisLabelsPositionOnValue);
    m_axisX->setLabelsFont(axisFont);
    m_axisX->setLabelsColor(theme::color::muted);
    m_axisX->setGridLineColor(theme::color::grid);
    m_axisX->setLinePenColor(theme::color::border);
    m_axisX->setTruncateLabels(false);

    m_axisY->setTitleText(yAxisTitle);
    m_axisY->setTitleFont(axisTitleFont);
    m_axisY->setTitleBrush(theme::color::muted);
    m_axisY->setLabelsFont(axisFont);
    m_axisY->setLabelsColor(theme::color::muted);
    m_axisY->setGridLineColor(theme::color::grid);
    m_axisY->setLinePenColor(theme::color::border);
    m_axisY->setTickCount(5);
    m_axisY->setMinorTickCount(0);
    m_axisY->setLabelFormat(QStringLiteral("%.0f"));
    m_axisY->setRange(0, m_minimumMaximum);

    m_chart->addAxis(m_axisX, Qt::AlignBottom);
    m_chart->addAxis(m_axisY, Qt::AlignLeft);

    m_view = new QChartView(m_chart, this); // takes ownership of the chart
    m_view->setRenderHint(QPainter::Antialiasing);
    m_view->setFrameShape(QFrame::NoFrame);
    m_view->setBackgroundBrush(theme::color::card);
    m_view->setMinimumSize(260, 170);

    auto *card = new QFrame(this);
    card->setObjectName(QStringLiteral("chartCard"));
    auto *cardLayout = new QVBoxLayout(card);
    cardLayout->setContentsMargins(4, 4, 4, 4);
    cardLayout->addWidget(m_view);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(card);

    refresh();
}

ChartPanel::~ChartPanel() = default;

QLineSeries *ChartPanel::addSeries(
    const QString &field, const QString &name, const QColor &color, Qt::PenStyle style, bool filled)
{
    Line line;
    line.field = field;
    line.series = new QLineSeries(this);
    line.series->setName(name);
    QPen pen(color);
    pen.setWidthF(style == Qt::SolidLine ? 2.0 : 1.6);
    pen.setStyle(style);
    pen.setCosmetic(true);
    line.series->setPen(pen);
    line.series->setUseOpenGL(false); // OpenGL series crash under the offscreen platform (6.4)

    QAbstractSeries *shown = line.series;
    if (filled) {
        line.area = new QAreaSeries(line.series);
        line.area->setName(name);
        line.area->setPen(pen);
        QLinearGradient gradient(QPointF(0, 0), QPointF(0, 1));
        gradient.setCoordinateMode(QGradient::ObjectBoundingMode);
        QColor top = color;
        top.setAlpha(110);
        QColor bottom = color;
        bottom.setAlpha(12);
        gradient.setColorAt(0, top);
        gradient.setColorAt(1, bottom);
        line.area->setBrush(gradient);
        shown = line.area;
    }
    m_chart->addSeries(shown);
    shown->attachAxis(m_axisX);
    shown->attachAxis(m_axisY);
    m_lines.push_back(std::move(line));
    // A single line needs no legend: the chart title names it.
    m_chart->legend()->setVisible(m_lines.size() > 1);
    return m_lines.back().series;
}

QLineSeries *ChartPanel::series(const QString &field) const
{
    for (const Line &line : m_lines) {
        if (line.field == field)
            return line.series;
    }
    return nullptr;
}

QList<QLineSeries *> ChartPanel::allSeries() const
{
    QList<QLineSeries *> result;
    for (const Line &line : m_lines)
        result.append(line.series);
    return result;
}

void ChartPanel::setMinimumMaximum(double minimum)
{
    m_minimumMaximum = minimum > 0 ? minimum : 1.0;
    refresh();
}

void ChartPanel::setIntegerValues(bool integer)
{
    m_integerValues = integer;
    refresh();
}

void ChartPanel::setWindowSeconds(int seconds)
{
    seconds = std::clamp(seconds, 10, retentionSeconds);
    if (seconds == m_windowSeconds)
        return;
    m_windowSeconds = seconds;
    m_timeTicks.clear(); // tick spacing depends on the window
    refresh();
}

void ChartPanel::appendSamples(const QJsonArray &samples)
{
    bool added = false;
    for (const QJsonValue value : samples) {
        const QJsonObject sample = value.toObject();
        const qint64 t = sample.value(QLatin1String("t")).toInteger(-1);
        if (t <= m_latestMs)
            continue; // already have it (or out of order)
        m_latestMs = t;
        added = true;
        for (Line &line : m_lines) {
            const QJsonValue v = sample.value(line.field);
            if (v.isDouble() && std::isfinite(v.toDouble()))
                line.points.append(QPointF(static_cast<qreal>(t), v.toDouble()));
        }
    }
    if (!added)
        return;
    // Keep one retention window (plus a point to enter the plot from the left edge).
    const qreal oldest = static_cast<qreal>(m_latestMs - qint64(retentionSeconds + 2) * 1000);
    for (Line &line : m_lines) {
        const auto firstKept = std::lower_bound(
            line.points.cbegin(), line.points.cend(), oldest, [](const QPointF &p, qreal x) { return p.x() < x; });
        const auto drop = std::distance(line.points.cbegin(), firstKept);
        if (drop > 0)
            line.points.remove(0, drop);
    }
    refresh();
}

void ChartPanel::clear()
{
    for (Line &line : m_lines)
        line.points.clear();
    m_latestMs = -1;
    refresh();
}

void ChartPanel::refresh()
{
    const qint64 toMs = m_latestMs >= 0 ? m_latestMs : QDateTime::currentMSecsSinceEpoch();
    const qint64 fromMs = toMs - qint64(m_windowSeconds) * 1000;
    const qreal from = static_cast<qreal>(fromMs);

    double visibleMax = 0.0;
    for (Line &line : m_lines) {
        // The visible slice, plus the last point before the window so the line enters from the edge.
        auto first = std::lower_bound(
            line.points.cbegin(), line.points.cend(), from, [](const QPointF &p, qreal x) { return p.x() < x; });
        const auto visibleBegin = first;
        if (first != line.points.cbegin())
            --first;
        for (auto it = visibleBegin; it != line.points.cend(); ++it)
            visibleMax = std::max(visibleMax, it->y());
        const qsizetype offset = std::distance(line.points.cbegin(), first);
        line.series->replace(line.points.mid(offset));
    }
    m_visibleMax = visibleMax;

    const double top = niceMaximum(std::max(visibleMax * 1.05, m_minimumMaximum), 4, m_integerValues);
    m_axisY->setLabelFormat(labelFormatFor(top / 4));
    m_axisY->setRange(0, top);
    updateTimeAxis(fromMs, toMs);
}

void ChartPanel::updateTimeAxis(qint64 fromMs, qint64 toMs)
{
    const qint64 interval = tickIntervalMs(m_windowSeconds);
    QList<qint64> ticks;
    for (qint64 t = (fromMs / interval + 1) * interval; t <= toMs; t += interval)
        ticks.append(t);

    m_axisX->setRange(static_cast<qreal>(fromMs), static_cast<qreal>(toMs));
    if (ticks == m_timeTicks)
        return; // labels only change when a round time enters or leaves the window
    m_timeTicks = ticks;

    const QStringList old = m_axisX->categoriesLabels();
    for (const QString &label : old)
        m_axisX->remove(label);
    const QString format = interval < 60'000 ? QStringLiteral("HH:mm:ss") : QStringLiteral("HH:mm");
    m_axisX->setStartValue(static_cast<qreal>(fromMs - interval));
    for (qint64 t : ticks)
        m_axisX->append(QDateTime::fromMSecsSinceEpoch(t).toString(format), static_cast<qreal>(t));
}

double ChartPanel::niceMaximum(double value, int ticks, bool integerSteps)
{
    if (!(value > 0) || !std::isfinite(value))
        return integerSteps ? ticks : 1.0;
    if (integerSteps)
        value = std::max(value, static_cast<double>(ticks)); // at least a step of 1
    const double rawStep = value / ticks;
    const double magnitude = std::pow(10.0, std::floor(std::log10(rawStep)));
    for (double factor : {1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0}) {
        const double step = factor * magnitude;
        if (integerSteps && (step < 1.0 || std::abs(step - std::round(step)) > 1e-9))
            continue; // counts: no "2.5 tasks" tick
        if (step * ticks >= value * (1 - 1e-12))
            return step * ticks;
    }
    return 20.0 * magnitude * ticks;
}

} // namespace vigil
