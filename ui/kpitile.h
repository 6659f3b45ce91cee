#pragma once

#include <QFrame>

class QLabel;

namespace vigil {

// One number on a card: a small caption, the value in large type, a muted detail line below
// ("target 600 /min"). The tone tints the value (good / warning / bad) without changing layout.
class KpiTile final : public QFrame
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(KpiTile)
public:
    enum class Tone { Neutral, Good, Warning, Bad, Idle };

    explicit KpiTile(const QString &title, const QString &toolTip = QString(), QWidget *parent = nullptr);

    QString title() const;
    QString value() const;
    QString detail() const;
    Tone tone() const { return m_tone; }

    // unit: shown smaller after the value ("/min", "%"); value() returns the number alone.
    void setValue(const QString &value, const QString &unit = QString());
    QString unit() const { return m_unitText; }
    void setDetail(const QString &detail);
    void setTone(Tone tone);
    // Value shown as "–" until real data arrives.
    void clear();

protected:
    void resizeEvent(QResizeEvent *event) override;

private:
    void render();
    void elideDetail();

    QLabel *m_title = nullptr;
    QLabel *m_value = nullptr;
    QLabel *m_detail = nullptr;
    QString m_valueText;
    QString m_unitText;
    QString m_detailText; // full text; the label shows it elided to the tile's width
    Tone m_tone = Tone::Neutral;
};

} // namespace vigil
