#pragma once

#include <QAbstractTableModel>
#include <QJsonArray>
#include <QJsonObject>
#include <QList>

namespace vigil {

// Log lines as GET /api/v1/logs returns them, oldest first (new lines are appended at the bottom,
// like a terminal). Holds at most maxRows; the oldest are dropped first.
class LogModel final : public QAbstractTableModel
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(LogModel)
public:
    enum Column { Time, Level, Event, Details, ColumnCount };
    enum Role { LineRole = Qt::UserRole + 1, LevelRankRole, SeqRole };
    static constexpr int maxRows = 5000;

    explicit LogModel(QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    // Appends lines newer than lastSeq() (oldest first). Returns how many were added.
    int appendLines(const QJsonArray &oldestFirst);
    void clear();
    qint64 lastSeq() const { return m_lastSeq; }
    QJsonObject line(int row) const;

    static int levelRank(const QString &level); // debug 0, info 1, warning 2, error 3, fatal 4

private:
    QList<QJsonObject> m_lines;
    qint64 m_lastSeq = 0;
};

} // namespace vigil
