#pragma once

#include "config.h"
#include "writer.h"

#include <QElapsedTimer>
#include <QMutex>
#include <QObject>
#include <QSet>
#include <QTimer>

#include <array>
#include <atomic>
#include <functional>

namespace vigil {

class Remediator;

// One worker: claims batches of leased tasks through the writer, evaluates policies for event
// tasks, runs the remediator (with a timeout) for action tasks, and reports outcomes in batches.
// Lives on its own thread; never touches the database itself (DESIGN.md §1).
class Worker final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(Worker)
public:
    Worker(QString id, const ServerConfig &config, Writer &writer, Remediator &remediator, QObject *parent = nullptr);

    // Worker thread.
    void start();
    // Stop claiming; `done` runs (on the worker thread) once nothing is in flight and every outcome
    // has been committed, or after the remediator timeout at the latest.
    void drain(std::function<void()> done);

    QString id() const { return m_id; }

    struct Stats
    {
        QString state; // idle | busy | paused | stopped
        qint64 processed = 0; // task attempts finished since start (any result)
        qint64 failed = 0;
        double busyMs = 0; // summed processing time
        int inFlight = 0;
        // Sliding window over the last 60 s (per-second buckets).
        qint64 processedLastMinute = 0;
        qint64 failedLastMinute = 0;
        double busyMsLastMinute = 0;
        qint64 heartbeats = 0; // heartbeat statements sent
    };
    Stats stats() const; // thread-safe

public slots:
    void wake();

private:
    void pump();
    void onClaimed(QList<TaskItem> tasks);
    void process(const TaskItem &task);
    void finish(TaskOutcome outcome);
    void flushOutcomes();
    void checkDrained();
    void heartbeat();
    void record(const TaskOutcome &outcome);

    QString m_id;
    ServerConfig m_config;
    Writer &m_writer;
    Remediator &m_remediator;
    QTimer m_poll;
    QTimer m_outcomeTimer;
    QTimer m_heartbeat;
    QSet<qint64> m_held; // leased to us: from the claim until the outcome is committed
    bool m_claimPending = false;
    bool m_stopping = false;
    bool m_outcomesPending = false; // submitted, not yet committed
    int m_inFlight = 0;
    int m_capacity = 64;
    QList<TaskOutcome> m_outcomes;
    std::function<void()> m_drained;
    std::atomic<qint64> m_processed {0};
    std::atomic<qint64> m_failed {0};
    std::atomic<qint64> m_busyUs {0};
    std::atomic<int> m_inFlightShared {0};
    std::atomic<bool> m_stopped {false};
    std::atomic<qint64> m_heartbeats {0};
    struct Bucket
    {
        qint64 second = -1; // steady clock second this bucket counts
        qint64 processed = 0, failed = 0;
        double busyMs = 0;
    };
    mutable QMutex m_windowMutex;
    std::array<Bucket, 60> m_window {};
};

} // namespace vigil
