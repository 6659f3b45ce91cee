#include "logmodel.h"

#include "theme.h"

#include <QBrush>
#include <QDateTime>
#include <QJsonDocument>
#include <QStringList>

namespace vigil {

namespace {
QString valueText(const QJsonValue &v)
{
    if (v.isString())
        return v.toString();
    if (v.isDouble())
        return QString::number(v.toDouble(), 'g', 12);
    if (v.isBool())
        return v.toBool() ? QStringLiteral("true") : QStringLiteral("false");
    if (v.isNull())
        return QStringLiteral("null");
    if (v.isArray())
        return QString::fromUtf8(QJsonDocument(v.toArray()).toJson(QJsonDocument::Compact));
    return QString::fromUtf8(QJsonDocument(v.toObject()).toJson(QJsonDocument::Compact));
}
} // namespace

LogModel::LogModel(QObject *parent)
    : QAbstractTableModel(parent)
{ }

int LogModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_lines.size());
}

int LogModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

int LogModel::levelRank(const QString &level)
{
    static const QStringList order = {QStringLiteral("debug"), QStringLiteral("info"), QStringLiteral("warning"),
        QStringLiteral("error"), QStringLiteral("fatal")};
    const int i = int(order.indexOf(level));
    return i < 0 ? 1 : i;
}

QVariant LogModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const QJsonObject &l = m_lines.at(index.row());
    const QString level = l.value(QLatin1String("level")).toString();
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case Time: {
            const QDateTime t = QDateTime::fromString(l.value(QLatin1String("ts")).toString(), Qt::ISODateWithMs);
            return t.isValid() ? t.toLocalTime().toString(QStringLiteral("HH:mm:ss.zzz"))
                               : l.value(QLatin1String("ts")).toString();
        }
        case Level:
            return level;
        case Event:
            return l.value(QLatin1String("event")).toString();
        case Details: {
            const QJsonObject fields = l.value(QLatin1String("fields")).toObject();
            QStringList parts;
            for (auto it = fields.begin(); it != fields.end(); ++it)
                parts.append(it.key() + QLatin1Char('=') + valueText(it.value()));
            return parts.join(QLatin1Char(' '));
        }
        }
        return {};
    case Qt::ToolTipRole:
        if (index.column() == Time)
            return l.value(QLatin1String("ts")).toString();
        if (index.column() == Details)
            return QString::fromUtf8(
                QJsonDocument(l.value(QLatin1String("fields")).toObject()).toJson(QJsonDocument::Indented));
        return {};
    case Qt::ForegroundRole: {
        const int rank = levelRank(level);
        if (rank >= 3)
            return QBrush(theme::color::bad);
        if (rank == 2)
            return QBrush(theme::color::warn);
        if (rank == 0)
            return QBrush(theme::color::muted);
        return {};
    }
    case LineRole:
        return l;
    case LevelRankRole:
        return levelRank(level);
    case SeqRole:
        return l.value(QLatin1String("seq")).toInteger();
    }
    return {};
}

QVariant LogModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    switch (section) {
    case Time:
        return tr("Time");
    case Level:
        return tr("Level");
    case Event:
        return tr("Event");
    case Details:
        return tr("Details");
    }
    return {};
}

int LogModel::appendLines(const QJsonArray &oldestFirst)
{
    QList<QJsonObject> fresh;
    qint64 last = m_lastSeq;
    for (const QJsonValue v : oldestFirst) {
        const QJsonObject l = v.toObject();
        const qint64 seq = l.value(QLatin1String("seq")).toInteger();
        if (seq <= last)
            continue;
        fresh.append(l);
        last = seq;
    }
    if (fresh.isEmpty())
        return 0;
    if (fresh.size() > maxRows)
        fresh = fresh.mid(fresh.size() - maxRows);
    const qsizetype overflow = m_lines.size() + fresh.size() - maxRows;
    if (overflow > 0) {
        beginRemoveRows({}, 0, int(overflow) - 1);
        m_lines.remove(0, overflow);
        endRemoveRows();
    }
    beginInsertRows({}, int(m_lines.size()), int(m_lines.size() + fresh.size()) - 1);
    m_lines.append(fresh);
    m_lastSeq = last;
    endInsertRows();
    return int(fresh.size());
}

void LogModel::clear()
{
    beginResetModel();
    m_lines.clear();
    m_lastSeq = 0;
    endResetModel();
}

QJsonObject LogModel::line(int row) const
{
    return row >= 0 && row < m_lines.size() ? m_lines.at(row) : QJsonObject();
}

} // namespace vigil
