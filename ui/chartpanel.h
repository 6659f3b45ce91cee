#pragma once

#include <QJsonArray>
#include <QList>
#include <QPointF>
#include <QWidget>

#include <vector>

class QAreaSeries;
class QCategoryAxis;
class QChart;
class QChartView;
class QLineSeries;
class QValueAxis;

namespace vigil {

// One live chart over a rolling time window, fed by /api/v1/stats/timeseries samples.
// Each line plots one numeric field of the samples. Points are kept in our own buffers
// (at most retentionSeconds of them) and handed to Qt Charts with one replace() per line per
// update — never per-point append, which is quadratic in Qt 6.4. Axes are created once; the
// x axis labels round clock times that scroll with the data, the y axis rescales to a round
// maximum of what is visible (so it follows load down as well as up).
class ChartPanel final : public QWidget
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(ChartPanel)
public:
    static constexpr int retentionSeconds = 900; // the largest window offered (15 min)

    ChartPanel(const QString &title, const QString &yAxisTitle, QWidget *parent = nullptr);
    ~ChartPanel() override;

    // Adds a line for the sample field `field`. filled: drawn as an area down to zero.
    QLineSeries *addSeries(const QString &field, const QString &name, const QColor &color,
        Qt::PenStyle style = Qt::SolidLine, bool filled = false);
    QLineSeries *series(const QString &field) const;
    QList<QLineSeries *> allSeries() const;

    // The y axis never shows less than 0..minimum (so an idle chart reads 0..10, not 0..0).
    void setMinimumMaximum(double minimum);
    // The plotted quantity is a count: y ticks are whole numbers.
    void setIntegerValues(bool integer);
    void setWindowSeconds(int seconds);
    int windowSeconds() const { return m_windowSeconds; }

    // Samples oldest first, each {"t": unix ms, "<field>": number, ...}; missing or null fields
    // leave a line without a point for that second.
    void appendSamples(const QJsonArray &samples);
    void clear();

    QChart *chart() const { return m_chart; }
    QChartView *chartView() const { return m_view; }
    QValueAxis *axisY() const { return m_axisY; }
    QCategoryAxis *axisX() const { return m_axisX; }
    // Largest value currently visible in any line (0 when empty).
    double visibleMaximum() const { return m_visibleMax; }

    // A round upper bound >= value that divides into `ticks` round intervals
    // (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × 10^n), so labels stay short and the range hugs the data.
    // integerSteps: for counts, every tick is a whole number.
    static double niceMaximum(double value, int ticks = 4, bool integerSteps = false);

private:
    struct Line
    {
        QString field;
        QLineSeries *series = nullptr;
        QAreaSeries *area = nullptr;
        QList<QPointF> points; // x: unix ms, oldest first
    };

    void refresh();
    void updateTimeAxis(qint64 fromMs, qint64 toMs);

    QChart *m_chart = nullptr;
    QChartView *m_view = nullptr;
    QCategoryAxis *m_axisX = nullptr;
    QValueAxis *m_axisY = nullptr;
    std::vector<Line> m_lines;
    QList<qint64> m_timeTicks; // tick positions currently shown on the x axis
    qint64 m_latestMs = -1;
    int m_windowSeconds = 300;
    double m_minimumMaximum = 1.0;
    double m_visibleMax = 0.0;
    bool m_integerValues = false;
};

} // namespace vigil
