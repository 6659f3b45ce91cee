#pragma once

#include <QJsonObject>
#include <QString>

#include <QtGlobal>

namespace vigil::logging {

enum class Format { Json, Text };

// Structured logging on top of Qt's message handler (process-wide by nature, like Qt's own).
// JSON: one object per line {"ts","level","event",...fields}; text: "ts level event k=v ...".
// Plain qDebug/qWarning output from Qt itself goes through the same handler as event "qt".
void install(Format format, QtMsgType minimumLevel);

// Log one event: event("simulator_started", {{"rate", 500}, {"mode", "burst"}}).
void event(QtMsgType level, const char *name, const QJsonObject &fields = {});
inline void info(const char *name, const QJsonObject &fields = {}) { event(QtInfoMsg, name, fields); }
inline void warning(const char *name, const QJsonObject &fields = {}) { event(QtWarningMsg, name, fields); }
inline void debug(const char *name, const QJsonObject &fields = {}) { event(QtDebugMsg, name, fields); }

bool parseLevel(const QString &text, QtMsgType *level);

} // namespace vigil::logging
