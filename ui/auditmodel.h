#pragma once

#include <QAbstractTableModel>
#include <QJsonArray>
#include <QJsonObject>
#include <QList>

namespace vigil {

// Audit entries as GET /api/v1/audit returns them, newest first (row 0 = highest seq). Fed by
// AuditPanel: live polls merge the newest page at the top, "older" pages are appended at the
// bottom. Entries are kept as the API's JSON objects; the model holds at most maxRows.
class AuditModel final : public QAbstractTableModel
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(AuditModel)
public:
    enum Column { Seq, Time, Kind, Actor, Subject, Details, Hash, ColumnCount };
    enum Role { EntryRole = Qt::UserRole + 1, SeqRole };
    static constexpr int maxRows = 5000;

    explicit AuditModel(QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    // Replaces everything with one page (newest first).
    void setEntries(const QJsonArray &newestFirst);
    // A fresh newest page: entries above newestSeq() go on top. Returns how many were added, or
    // -1 when the page does not reach what is shown (more new entries than one page): then the
    // model was reset to the page, because the rows in between are unknown.
    int mergeNewest(const QJsonArray &newestFirst, bool pageHasMore);
    // An older page (the answer to before=oldestSeq()): entries below oldestSeq() go at the bottom.
    int appendOlder(const QJsonArray &newestFirst);
    void clear();

    qint64 newestSeq() const; // 0 when empty
    qint64 oldestSeq() const; // 0 when empty
    QJsonObject entry(int row) const;
    int rowOfSeq(qint64 seq) const; // -1 when not shown

    // The entry a failed verification named; drawn in red.
    void setBrokenSeq(qint64 seq);
    qint64 brokenSeq() const { return m_brokenSeq; }

private:
    static QString detailsText(const QJsonObject &details);
    void trimBottom();

    QList<QJsonObject> m_entries;
    qint64 m_brokenSeq = 0;
};

} // namespace vigil
