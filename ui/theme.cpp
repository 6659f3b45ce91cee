#include "theme.h"

#include <QApplication>
#include <QChart>
#include <QFont>
#include <QGraphicsLayout>
#include <QIcon>
#include <QLegend>
#include <QPainter>
#include <QPixmap>
#include <QPalette>
#include <QStyleFactory>

namespace vigil::theme {

namespace {

constexpr auto appliedProperty = "_vigil_theme_applied";

QPalette darkPalette()
{
    QPalette p;
    p.setColor(QPalette::Window, color::window);
    p.setColor(QPalette::WindowText, color::text);
    p.setColor(QPalette::Base, color::input);
    p.setColor(QPalette::AlternateBase, color::card);
    p.setColor(QPalette::ToolTipBase, color::card);
    p.setColor(QPalette::ToolTipText, color::text);
    p.setColor(QPalette::PlaceholderText, color::muted);
    p.setColor(QPalette::Text, color::text);
    p.setColor(QPalette::Button, color::card);
    p.setColor(QPalette::ButtonText, color::text);
    p.setColor(QPalette::BrightText, color::bad);
    p.setColor(QPalette::Link, color::accent);
    p.setColor(QPalette::Highlight, color::accent);
    p.setColor(QPalette::HighlightedText, Qt::white);
    p.setColor(QPalette::Light, color::border.lighter(130));
    p.setColor(QPalette::Midlight, color::border);
    p.setColor(QPalette::Mid, color::border);
    p.setColor(QPalette::Dark, color::window.darker(130));
    p.setColor(QPalette::Shadow, Qt::black);
    const QColor disabledText = color::muted.darker(140);
    p.setColor(QPalette::Disabled, QPalette::WindowText, disabledText);
    p.setColor(QPalette::Disabled, QPalette::Text, disabledText);
    p.setColor(QPalette::Disabled, QPalette::ButtonText, disabledText);
    p.setColor(QPalette::Disabled, QPalette::Button, color::window);
    p.setColor(QPalette::Disabled, QPalette::Highlight, color::border);
    return p;
}

QString styleSheet()
{
    // Only what the palette cannot express: card frames, the primary button, field errors.
    return QStringLiteral(R"(
QFrame#kpiTile, QFrame#chartCard, QFrame#simulatorPanel, QFrame#queuePanel {
    background: %1; border: 1px solid %2; border-radius: 6px;
}
QLabel#kpiTitle { color: %3; }
QLabel#kpiDetail { color: %3; }
QLabel#panelTitle { color: %4; font-weight: 600; }
QLabel#sectionLabel { color: %3; }
QLabel#fieldError { color: %5; }
QLabel#hint { color: %3; }
QPushButton { padding: 5px 14px; border: 1px solid %2; border-radius: 4px; background: %6; }
QPushButton:hover { border-color: %7; }
QPushButton:disabled { color: %8; background: %1; }
QPushButton#primaryButton { background: %7; border-color: %7; color: white; font-weight: 600; }
QPushButton#primaryButton:hover { background: %9; }
QPushButton#primaryButton:disabled { background: %2; border-color: %2; color: %8; }
QPushButton#dangerButton:enabled { border-color: %5; color: %5; font-weight: 600; }
QLineEdit[invalid="true"], QAbstractSpinBox[invalid="true"], QComboBox[invalid="true"] { color: %5; }
QToolBar { border: none; spacing: 6px; padding: 4px 8px; }
QStatusBar { border-top: 1px solid %2; }
QStatusBar::item { border: none; }
)")
        .arg(color::card.name(), color::border.name(), color::muted.name(), color::text.name(), color::bad.name(),
            color::card.lighter(115).name(), color::accent.name(), color::muted.darker(140).name(),
            color::accent.lighter(115).name());
}

QIcon paintedIcon(bool play)
{
    // Simple vector glyphs in the theme's colours (the platform icon themes may be missing).
    QIcon icon;
    for (int size : {16, 24, 32}) {
        for (QIcon::Mode mode : {QIcon::Normal, QIcon::Disabled}) {
            QPixmap pixmap(size, size);
            pixmap.fill(Qt::transparent);
            QPainter painter(&pixmap);
            painter.setRenderHint(QPainter::Antialiasing);
            painter.setPen(Qt::NoPen);
            QColor c = play ? color::good : color::bad;
            if (mode == QIcon::Disabled)
                c = color::muted.darker(150);
            painter.setBrush(c);
            const qreal m = size * 0.2;
            if (play) {
                const QPointF triangle[3] = {{m * 1.2, m}, {size - m, size / 2.0}, {m * 1.2, size - m}};
                painter.drawPolygon(triangle, 3);
            } else {
                painter.drawRoundedRect(QRectF(m, m, size - 2 * m, size - 2 * m), size * 0.08, size * 0.08);
            }
            painter.end();
            icon.addPixmap(pixmap, mode);
        }
    }
    return icon;
}

} // namespace

QIcon startIcon()
{
    return paintedIcon(true);
}

QIcon stopIcon()
{
    return paintedIcon(false);
}

void apply(QApplication &app)
{
    if (app.property(appliedProperty).toBool())
        return;
    app.setProperty(appliedProperty, true);
    if (QStyle *fusion = QStyleFactory::create(QStringLiteral("Fusion")))
        QApplication::setStyle(fusion);
    QApplication::setPalette(darkPalette());
    app.setStyleSheet(styleSheet());
}

void styleChart(QChart *chart)
{
    chart->setTheme(QChart::ChartThemeDark);
    chart->setAnimationOptions(QChart::NoAnimation);
    chart->setBackgroundBrush(color::card);
    chart->setBackgroundPen(Qt::NoPen);
    chart->setBackgroundRoundness(0);
    chart->setPlotAreaBackgroundVisible(false);
    chart->setMargins(QMargins(6, 4, 10, 4));
    chart->layout()->setContentsMargins(0, 0, 0, 0);

    QFont titleFont = QApplication::font();
    titleFont.setPointSizeF(titleFont.pointSizeF() * 1.05);
    titleFont.setWeight(QFont::DemiBold);
    chart->setTitleFont(titleFont);
    chart->setTitleBrush(color::text);

    QLegend *legend = chart->legend();
    legend->setAlignment(Qt::AlignTop);
    legend->setLabelColor(color::text);
    legend->setMarkerShape(QLegend::MarkerShapeFromSeries);
    QFont legendFont = QApplication::font();
    legendFont.setPointSizeF(legendFont.pointSizeF() * 0.95);
    legend->setFont(legendFont);
}

} // namespace vigil::theme
