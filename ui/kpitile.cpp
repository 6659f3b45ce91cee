#include "kpitile.h"

#include "theme.h"

#include <QLabel>
#include <QVBoxLayout>

namespace vigil {

namespace {
const QString placeholder = QStringLiteral("–");
}

KpiTile::KpiTile(const QString &title, const QString &toolTip, QWidget *parent)
    : QFrame(parent)
    , m_title(new QLabel(title.toUpper(), this))
    , m_value(new QLabel(this))
    , m_detail(new QLabel(this))
{
    setObjectName(QStringLiteral("kpiTile"));
    setToolTip(toolTip);
    setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Fixed);

    m_title->setObjectName(QStringLiteral("kpiTitle"));
    QFont titleFont = font();
    titleFont.setPointSizeF(titleFont.pointSizeF() * 0.78);
    titleFont.setWeight(QFont::DemiBold);
    titleFont.setLetterSpacing(QFont::PercentageSpacing, 104);
    m_title->setFont(titleFont);

    m_value->setObjectName(QStringLiteral("kpiValue"));
    QFont valueFont = font();
    valueFont.setPointSizeF(valueFont.pointSizeF() * 1.55);
    valueFont.setWeight(QFont::DemiBold);
    m_value->setFont(valueFont);
    m_value->setTextFormat(Qt::RichText);
    m_value->setTextInteractionFlags(Qt::TextSelectableByMouse);

    m_detail->setObjectName(QStringLiteral("kpiDetail"));
    QFont detailFont = font();
    detailFont.setPointSizeF(detailFont.pointSizeF() * 0.82);
    m_detail->setFont(detailFont);
    m_detail->setMinimumHeight(QFontMetrics(detailFont).height()); // tiles align with or without detail
    m_detail->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(10, 7, 10, 7);
    layout->setSpacing(1);
    layout->addWidget(m_title);
    layout->addWidget(m_value);
    layout->addWidget(m_detail);
    clear();
}

QString KpiTile::title() const
{
    return m_title->text();
}

QString KpiTile::value() const
{
    return m_valueText;
}

QString KpiTile::detail() const
{
    return m_detailText;
}

void KpiTile::setValue(const QString &value, const QString &unit)
{
    if (value == m_valueText && unit == m_unitText)
        return;
    m_valueText = value;
    m_unitText = unit;
    render();
}

void KpiTile::render()
{
    QString html = m_valueText.toHtmlEscaped();
    if (!m_unitText.isEmpty()) {
        html += QStringLiteral("<span style='font-size:%1pt; font-weight:normal; color:%2'>&nbsp;%3</span>")
                    .arg(QString::number(font().pointSizeF() * 0.95, 'f', 1), theme::color::muted.name(),
                        m_unitText.toHtmlEscaped());
    }
    m_value->setText(html);
}

void KpiTile::setDetail(const QString &detail)
{
    if (detail == m_detailText)
        return;
    m_detailText = detail;
    elideDetail();
}

void KpiTile::elideDetail()
{
    // A long detail ("target 2,500,000 · now 1,250,000") must not widen the tile or be cut mid-glyph.
    const int width = m_detail->width();
    const QString shown = m_detail->fontMetrics().elidedText(m_detailText, Qt::ElideRight, width);
    m_detail->setText(shown);
    m_detail->setToolTip(shown == m_detailText ? QString() : m_detailText);
}

void KpiTile::resizeEvent(QResizeEvent *event)
{
    QFrame::resizeEvent(event);
    elideDetail();
}

void KpiTile::setTone(Tone tone)
{
    if (tone == m_tone && !m_value->styleSheet().isEmpty())
        return;
    m_tone = tone;
    QColor c = theme::color::text;
    switch (tone) {
    case Tone::Good:
        c = theme::color::good;
        break;
    case Tone::Warning:
        c = theme::color::warn;
        break;
    case Tone::Bad:
        c = theme::color::bad;
        break;
    case Tone::Idle:
        c = theme::color::muted;
        break;
    case Tone::Neutral:
        break;
    }
    m_value->setStyleSheet(QStringLiteral("color: %1;").arg(c.name()));
}

void KpiTile::clear()
{
    setValue(placeholder);
    setDetail(QString());
    setTone(Tone::Idle);
}

} // namespace vigil
