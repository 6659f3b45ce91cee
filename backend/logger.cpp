#include "logger.h"

#include "util.h"

#include <QJsonDocument>
#include <QMutex>

#include <atomic>
#include <cstdio>

namespace vigil::logging {

namespace {
std::atomic<int> g_format { static_cast<int>(Format::Text) };
std::atomic<int> g_minimum { QtInfoMsg };
std::atomic<bool> g_installed { false };
QMutex g_writeMutex;

// Qt's enum order is Debug, Warning, Critical, Fatal, Info: map to a severity rank.
int rank(QtMsgType t)
{
    switch (t) {
    case QtDebugMsg:
        return 0;
    case QtInfoMsg:
        return 1;
    case QtWarningMsg:
        return 2;
    case QtCriticalMsg:
        return 3;
    case QtFatalMsg:
        return 4;
    }
    return 1;
}

const char *levelName(QtMsgType t)
{
    switch (t) {
    case QtDebugMsg:
        return "debug";
    case QtInfoMsg:
        return "info";
    case QtWarningMsg:
        return "warning";
    case QtCriticalMsg:
        return "error";
    case QtFatalMsg:
        return "fatal";
    }
    return "info";
}

constexpr char kEventMarker[] = "\x1evigil-event\x1e";

void writeLine(QtMsgType level, const QString &event, QJsonObject fields)
{
    if (rank(level) < rank(static_cast<QtMsgType>(g_minimum.load())))
        return;
    QByteArray line;
    const QString ts = isoUtc(wallNowMs(), true);
    if (static_cast<Format>(g_format.load()) == Format::Json) {
        fields.insert(QStringLiteral("ts"), ts);
        fields.insert(QStringLiteral("level"), QLatin1String(levelName(level)));
        fields.insert(QStringLiteral("event"), event);
        line = QJsonDocument(fields).toJson(QJsonDocument::Compact);
    } else {
        line = ts.toUtf8() + ' ' + QByteArray(levelName(level)).leftJustified(7, ' ') + ' ' + event.toUtf8();
        for (auto it = fields.begin(); it != fields.end(); ++it) {
            const QJsonValue v = it.value();
            QByteArray text;
            if (v.isString())
                text = v.toString().toUtf8();
            else if (v.isDouble())
                text = QByteArray::number(v.toDouble(), 'g', 12);
            else if (v.isBool())
                text = v.toBool() ? "true" : "false";
            else
                text = QJsonDocument(QJsonObject { { QStringLiteral("v"), v } }).toJson(QJsonDocument::Compact).mid(5).chopped(1);
            line += ' ' + it.key().toUtf8() + '=' + text;
        }
    }
    line += '\n';
    QMutexLocker lock(&g_writeMutex);
    std::fwrite(line.constData(), 1, static_cast<size_t>(line.size()), stderr);
    std::fflush(stderr);
}

void handler(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    if (message.startsWith(QLatin1String(kEventMarker))) {
        const QByteArray payload = message.mid(static_cast<qsizetype>(sizeof(kEventMarker) - 1)).toUtf8();
        const QJsonObject obj = QJsonDocument::fromJson(payload).object();
        writeLine(type, obj.value(QStringLiteral("e")).toString(), obj.value(QStringLiteral("f")).toObject());
    } else {
        QJsonObject fields { { QStringLiteral("message"), message } };
        if (context.category && qstrcmp(context.category, "default") != 0)
            fields.insert(QStringLiteral("category"), QLatin1String(context.category));
        writeLine(type, QStringLiteral("qt"), fields);
    }
    if (type == QtFatalMsg)
        std::abort();
}
} // namespace

void install(Format format, QtMsgType minimumLevel)
{
    g_format = static_cast<int>(format);
    g_minimum = minimumLevel;
    g_installed = true;
    qInstallMessageHandler(handler);
}

void event(QtMsgType level, const char *name, const QJsonObject &fields)
{
    if (rank(level) < rank(static_cast<QtMsgType>(g_minimum.load())))
        return;
    if (!g_installed) {
        // No handler of ours (tests, library use): plain readable text through Qt's own handler.
        QString text = QLatin1String(name);
        for (auto it = fields.begin(); it != fields.end(); ++it)
            text += QLatin1Char(' ') + it.key() + QLatin1Char('=')
                + (it.value().isString() ? it.value().toString() : QString::number(it.value().toDouble()));
        if (level == QtWarningMsg)
            qWarning().noquote() << text;
        else if (level == QtDebugMsg)
            qDebug().noquote() << text;
        else
            qInfo().noquote() << text;
        return;
    }
    // Route through Qt's logging so tests (QTest::ignoreMessage) and custom handlers see it too.
    const QJsonObject payload { { QStringLiteral("e"), QLatin1String(name) }, { QStringLiteral("f"), fields } };
    const QString text = QLatin1String(kEventMarker) + QString::fromUtf8(QJsonDocument(payload).toJson(QJsonDocument::Compact));
    switch (level) {
    case QtDebugMsg:
        qDebug().noquote() << text;
        break;
    case QtWarningMsg:
        qWarning().noquote() << text;
        break;
    case QtCriticalMsg:
    case QtFatalMsg:
        qCritical().noquote() << text;
        break;
    case QtInfoMsg:
        qInfo().noquote() << text;
        break;
    }
}

bool parseLevel(const QString &text, QtMsgType *level)
{
    const QString t = text.toLower();
    if (t == QLatin1String("debug"))
        *level = QtDebugMsg;
    else if (t == QLatin1String("info"))
        *level = QtInfoMsg;
    else if (t == QLatin1String("warning") || t == QLatin1String("warn"))
        *level = QtWarningMsg;
    else if (t == QLatin1String("error"))
        *level = QtCriticalMsg;
    else
        return false;
    return true;
}

} // namespace vigil::logging
