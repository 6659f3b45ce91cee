#pragma once

#include <QFrame>
#include <QHash>
#include <QJsonObject>

class QLabel;

namespace vigil {

// The task queue at a glance, from GET /api/v1/queue: tasks by state, age of the oldest ready
// task, enqueue/dequeue rates and lifetime totals.
class QueuePanel final : public QFrame
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(QueuePanel)
public:
    explicit QueuePanel(QWidget *parent = nullptr);

    // The "queue" object of the answer.
    void setQueue(const QJsonObject &queue);
    void clear();
    // Keys: ready, scheduled, leased, dead, oldest, enqueue, dequeue, completed, retried, dead_lettered, rescued.
    QString value(const QString &key) const;

private:
    void addRow(const QString &key, const QString &label, const QString &toolTip);

    QLabel *m_state = nullptr;
    QHash<QString, QLabel *> m_values;
    int m_rows = 0;
};

} // namespace vigil
