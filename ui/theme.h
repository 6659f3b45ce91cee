#pragma once

#include <QColor>
#include <QIcon>

class QApplication;
class QChart;

namespace vigil::theme {

// One dark look for the whole window: Fusion, a dark palette, a small style sheet for the cards,
// and Qt Charts' dark theme re-tinted to the same colours so charts sit on the window like the
// KPI tiles do. The colours are named here once and used by every widget.
namespace color {
inline const QColor window {0x1b, 0x1e, 0x24};
inline const QColor card {0x23, 0x27, 0x30};
inline const QColor input {0x16, 0x18, 0x1d};
inline const QColor border {0x34, 0x3a, 0x46};
inline const QColor grid {0x31, 0x36, 0x40};
inline const QColor text {0xe3, 0xe6, 0xeb};
inline const QColor muted {0x8e, 0x96, 0xa4};
inline const QColor accent {0x4c, 0x9a, 0xff};
inline const QColor good {0x3e, 0xcf, 0x8e};
inline const QColor warn {0xf5, 0xa5, 0x24};
inline const QColor bad {0xf0, 0x60, 0x5d};
inline const QColor violet {0xb1, 0x8c, 0xff};
inline const QColor cyan {0x38, 0xc7, 0xd8};
} // namespace color

// Applies style, palette and style sheet to the application. Idempotent; MainWindow calls it so
// the window looks the same whoever creates it.
void apply(QApplication &app);

QIcon startIcon();
QIcon stopIcon();

// Dark chart theme re-tinted to the window colours; no animations, compact margins.
void styleChart(QChart *chart);

} // namespace vigil::theme
