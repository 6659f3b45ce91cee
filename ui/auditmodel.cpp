#include "auditmodel.h"

#include "theme.h"

#include <QBrush>
#include <QDateTime>
#include <QJsonDocument>

namespace vigil {

namespace {
qint64 seqOf(const QJsonObject &entry)
{
    return entry.value(QLatin1String("seq")).toInteger();
}

QString localTime(const QString &iso)
{
    const QDateTime t = QDateTime::fromString(iso, Qt::ISODateWithMs);
    return t.isValid() ? t.toLocalTime().toString(QStringLiteral("yyyy-MM-dd HH:mm:ss.zzz")) : iso;
}
} // namespace

AuditModel::AuditModel(QObject *parent)
    : QAbstractTableModel(parent)
{ }

int AuditModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_entries.size());
}

int AuditModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QString AuditModel::detailsText(const QJsonObject &details)
{
    // "k=v" in the API's key order (alphabetical), strings unquoted: easy to scan in a table.
    QStringList parts;
    for (auto it = details.begin(); it != details.end(); ++it) {
        const QJsonValue v = it.value();
        QString text;
        if (v.isString())
            text = v.toString();
        else if (v.isDouble())
            text = QString::number(v.toDouble(), 'g', 10);
        else if (v.isBool())
            text = v.toBool() ? QStringLiteral("true") : QStringLiteral("false");
        else if (v.isNull())
            text = QStringLiteral("null");
        else if (v.isArray())
            text = QString::fromUtf8(QJsonDocument(v.toArray()).toJson(QJsonDocument::Compact));
        else
            text = QString::fromUtf8(QJsonDocument(v.toObject()).toJson(QJsonDocument::Compact));
        parts.append(it.key() + QLatin1Char('=') + text);
    }
    return parts.join(QLatin1Char(' '));
}

QVariant AuditModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const QJsonObject &e = m_entries.at(index.row());
    const QString kind = e.value(QLatin1String("kind")).toString();
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case Seq:
            return seqOf(e);
        case Time:
            return localTime(e.value(QLatin1String("ts")).toString());
        case Kind:
            return kind;
        case Actor:
            return e.value(QLatin1String("actor")).toString();
        case Subject:
            return e.value(QLatin1String("subject")).toString();
        case Details:
            return detailsText(e.value(QLatin1String("details")).toObject());
        case Hash:
            return e.value(QLatin1String("hash")).toString().left(12);
        }
        return {};
    case Qt::ToolTipRole:
        if (index.column() == Hash)
            return tr("hash %1\nprev %2")
                .arg(e.value(QLatin1String("hash")).toString(), e.value(QLatin1String("prev_hash")).toString());
        if (index.column() == Details)
            return QString::fromUtf8(
                QJsonDocument(e.value(QLatin1String("details")).toObject()).toJson(QJsonDocument::Indented));
        if (index.column() == Time)
            return e.value(QLatin1String("ts")).toString();
        return {};
    case Qt::ForegroundRole:
        if (index.column() != Kind)
            return {};
        if (kind == QLatin1String("action_succeeded"))
            return QBrush(theme::color::good);
        if (kind == QLatin1String("action_failed"))
            return QBrush(theme::color::warn);
        if (kind == QLatin1String("action_dead_lettered"))
            return QBrush(theme::color::bad);
        return {};
    case Qt::BackgroundRole:
        if (m_brokenSeq > 0 && seqOf(e) == m_brokenSeq)
            return QBrush(theme::color::bad.darker(250));
        return {};
    case Qt::TextAlignmentRole:
        if (index.column() == Seq)
            return int(Qt::AlignRight | Qt::AlignVCenter);
        return {};
    case EntryRole:
        return e;
    case SeqRole:
        return seqOf(e);
    }
    return {};
}

QVariant AuditModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    switch (section) {
    case Seq:
        return tr("Seq");
    case Time:
        return tr("Time");
    case Kind:
        return tr("Kind");
    case Actor:
        return tr("Actor");
    case Subject:
        return tr("Subject");
    case Details:
        return tr("Details");
    case Hash:
        return tr("Hash");
    }
    return {};
}

void AuditModel::setEntries(const QJsonArray &newestFirst)
{
    beginResetModel();
    m_entries.clear();
    for (const QJsonValue v : newestFirst) {
        if (m_entries.size() >= maxRows)
            break;
        m_entries.append(v.toObject());
    }
    endResetModel();
}

int AuditModel::mergeNewest(const QJsonArray &newestFirst, bool pageHasMore)
{
    if (m_entries.isEmpty()) {
        setEntries(newestFirst);
        return int(m_entries.size());
    }
    const qint64 top = newestSeq();
    QList<QJsonObject> fresh;
    for (const QJsonValue v : newestFirst) {
        const QJsonObject e = v.toObject();
        if (seqOf(e) <= top)
            break;
        fresh.append(e);
    }
    if (fresh.isEmpty())
        return 0;
    if (fresh.size() == newestFirst.size() && pageHasMore) {
        // Everything on the page is new and there is more: rows between page and model are unknown.
        setEntries(newestFirst);
        return -1;
    }
    beginInsertRows({}, 0, int(fresh.size()) - 1);
    m_entries = fresh + m_entries;
    endInsertRows();
    trimBottom();
    return int(fresh.size());
}

int AuditModel::appendOlder(const QJsonArray &newestFirst)
{
    const qint64 bottom = oldestSeq();
    QList<QJsonObject> older;
    for (const QJsonValue v : newestFirst) {
        const QJsonObject e = v.toObject();
        if (bottom == 0 || seqOf(e) < bottom)
            older.append(e);
    }
    const int room = maxRows - int(m_entries.size());
    if (older.size() > room)
        older.resize(qMax(0, room));
    if (older.isEmpty())
        return 0;
    beginInsertRows({}, int(m_entries.size()), int(m_entries.size() + older.size()) - 1);
    m_entries.append(older);
    endInsertRows();
    return int(older.size());
}

void AuditModel::trimBottom()
{
    if (m_entries.size() <= maxRows)
        return;
    beginRemoveRows({}, maxRows, int(m_entries.size()) - 1);
    m_entries.resize(maxRows);
    endRemoveRows();
}

void AuditModel::clear()
{
    beginResetModel();
    m_entries.clear();
    m_brokenSeq = 0;
    endResetModel();
}

qint64 AuditModel::newestSeq() const
{
    return m_entries.isEmpty() ? 0 : seqOf(m_entries.constFirst());
}

qint64 AuditModel::oldestSeq() const
{
    return m_entries.isEmpty() ? 0 : seqOf(m_entries.constLast());
}

QJsonObject AuditModel::entry(int row) const
{
    return row >= 0 && row < m_entries.size() ? m_entries.at(row) : QJsonObject();
}

int AuditModel::rowOfSeq(qint64 seq) const
{
    // Sorted by seq, descending.
    qsizetype lo = 0, hi = m_entries.size();
    while (lo < hi) {
        const qsizetype mid = (lo + hi) / 2;
        const qint64 s = seqOf(m_entries.at(mid));
        if (s == seq)
            return int(mid);
        if (s > seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

void AuditModel::setBrokenSeq(qint64 seq)
{
    const int oldRow = rowOfSeq(m_brokenSeq);
    m_brokenSeq = seq;
    const int newRow = rowOfSeq(seq);
    for (int row : {oldRow, newRow})
        if (row >= 0)
            emit dataChanged(index(row, 0), index(row, ColumnCount - 1), {Qt::BackgroundRole});
}

} // namespace vigil
