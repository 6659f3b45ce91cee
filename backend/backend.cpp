#include "backend.h"

#include "api/auditapi.h"
#include "api/dataapi.h"
#include "api/ingestapi.h"
#include "api/logapi.h"
#include "api/policyapi.h"
#include "api/queueapi.h"
#include "api/simulatorapi.h"
#include "api/systemapi.h"
#include "http/admission.h"
#include "http/httpserver.h"
#include "http/router.h"
#include "logger.h"
#include "metrics.h"
#include "reader.h"
#include "remediator.h"
#include "sim/simulator.h"
#include "sqldialect.h"
#include "timeseries.h"
#include "util.h"

#include <QTcpServer>
#include "worker.h"
#include "writer.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QHostInfo>
#include <QJsonArray>
#include <QJsonObject>
#include <QMutex>
#include <QLockFile>
#include <QSemaphore>
#include <QStandardPaths>
#include <QThread>

#include <cmath>

#include <unistd.h>

namespace vigil {

namespace {
// A thread running one QObject that is deleted on the thread when it finishes.
std::unique_ptr<QThread> startThread(const QString &name, QObject *object)
{
    auto thread = std::make_unique<QThread>();
    thread->setObjectName(name);
    object->moveToThread(thread.get());
    QObject::connect(thread.get(), &QThread::finished, object, &QObject::deleteLater);
    thread->start();
    return thread;
}

void joinThread(std::unique_ptr<QThread> &thread)
{
    if (!thread)
        return;
    thread->quit();
    thread->wait();
    thread.reset();
}

double readProcStatField(int field)
{
    QFile f(QStringLiteral("/proc/self/stat"));
    if (!f.open(QIODevice::ReadOnly))
        return 0;
    const QByteArray line = f.readAll();
    // Fields after the command name, which is in parentheses and may contain spaces.
    const qsizetype close = line.lastIndexOf(')');
    const QList<QByteArray> parts = line.mid(close + 2).split(' ');
    const int index = field - 3; // field numbers as in proc(5), 1-based; parts start at field 3
    return index >= 0 && index < parts.size() ? parts.at(index).toDouble() : 0;
}

void registerProcessMetrics(MetricsRegistry &m)
{
    const double ticks = double(sysconf(_SC_CLK_TCK));
    const double page = double(sysconf(_SC_PAGESIZE));
    m.callbackCounter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds", {},
        [ticks] { return (readProcStatField(14) + readProcStatField(15)) / ticks; });
    m.callbackGauge("process_resident_memory_bytes", "Resident memory size in bytes", {}, [page] {
        QFile f(QStringLiteral("/proc/self/statm"));
        if (!f.open(QIODevice::ReadOnly))
            return 0.0;
        const QList<QByteArray> parts = f.readAll().split(' ');
        return parts.size() > 1 ? parts.at(1).toDouble() * page : 0.0;
    });
    m.callbackGauge("process_open_fds", "Number of open file descriptors", {},
        [] { return double(QDir(QStringLiteral("/proc/self/fd")).entryList(QDir::Files | QDir::System).size()); });
    const double start = double(wallNowMs()) / 1000.0;
    m.callbackGauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds", {},
        [start] { return start; });
}
} // namespace

struct Backend::Private
{
    MetricsRegistry metrics;
    Router router;
    TimeSeries series;
    std::unique_ptr<QLockFile> lock;
    QString dbPath; // SQLite file, or the postgresql:// URL as given (with its password: never log it)
    bool postgres = false;
    qint64 startedAtMs = 0;

    Writer *writer = nullptr;
    std::unique_ptr<QThread> writerThread;
    Reader *reader = nullptr;
    std::unique_ptr<QThread> readerThread;
    std::unique_ptr<SimulatedRemediator> remediator;
    std::vector<Worker *> workers;
    mutable QMutex workersMutex; // workers is read by GET /api/v1/workers on HTTP threads
    std::vector<std::unique_ptr<QThread>> workerThreads;
    Simulator *simulator = nullptr;
    std::unique_ptr<QThread> simulatorThread;
    Sampler *sampler = nullptr;
    std::unique_ptr<QThread> samplerThread;
    std::shared_ptr<Admission> admission; // rate limits, tokens, backpressure; outlives `http`
    std::unique_ptr<HttpServer> http;
    std::shared_ptr<std::atomic<bool>> workersRunning = std::make_shared<std::atomic<bool>>(false);
};

Backend::Backend(ServerConfig config, QObject *parent)
    : QObject(parent)
    , m_config(std::move(config))
    , d(std::make_unique<Private>())
{
    if (m_config.nodeId.isEmpty())
        m_config.nodeId
            = QHostInfo::localHostName() + QLatin1Char(':') + QString::number(QCoreApplication::applicationPid());
    d->dbPath = m_config.databasePath;
    d->postgres = DatabaseLocation::isPostgresUrl(d->dbPath);
    if (d->postgres) {
        d->simulator = new Simulator(d->metrics);
        d->simulatorThread = startThread(QStringLiteral("vigil-simulator"), d->simulator);
        return;
    }
    if (d->dbPath.isEmpty())
        d->dbPath = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + QStringLiteral("/vigil.db");
    d->dbPath = QDir::cleanPath(QDir::current().absoluteFilePath(d->dbPath));
    // Resolve symlinks (of the file or its directory) so the lock file is the same for every
    // path that leads to one database: two Vigils must never share a SQLite file.
    const QFileInfo info(d->dbPath);
    if (info.exists())
        d->dbPath = info.canonicalFilePath();
    else if (const QString dir = QFileInfo(info.absolutePath()).canonicalFilePath(); !dir.isEmpty())
        d->dbPath = dir + QLatin1Char('/') + info.fileName();
    // The simulator exists before start() so the window can read its (idle) status at once.
    d->simulator = new Simulator(d->metrics);
    d->simulatorThread = startThread(QStringLiteral("vigil-simulator"), d->simulator);
}

Backend::~Backend()
{
    stop();
    joinThread(d->simulatorThread);
}

QString Backend::databasePath() const
{
    return d->postgres ? redactDatabaseUrl(d->dbPath) : d->dbPath;
}

MetricsRegistry &Backend::metrics()
{
    return d->metrics;
}

Simulator &Backend::simulator()
{
    return *d->simulator;
}

quint16 Backend::port() const
{
    return d->http ? d->http->port() : 0;
}

QUrl Backend::baseUrl() const
{
    QUrl url;
    url.setScheme(QStringLiteral("http"));
    const QHostAddress host = m_config.host == QHostAddress::Any || m_config.host == QHostAddress::AnyIPv4
        ? QHostAddress(QHostAddress::LocalHost)
        : m_config.host == QHostAddress::AnyIPv6 ? QHostAddress(QHostAddress::LocalHostIPv6)
                                                 : m_config.host;
    url.setHost(host.toString());
    url.setPort(port());
    return url;
}

// SQLite: one process per database file (DESIGN.md §1), enforced with a lock file beside it.
bool Backend::lockSqliteFile(QString *error)
{
    d->lock = std::make_unique<QLockFile>(d->dbPath + QStringLiteral(".lock"));
    d->lock->setStaleLockTime(0);
    if (!QDir().mkpath(QFileInfo(d->dbPath).absolutePath())) {
        *error = QStringLiteral("cannot create the data directory %1 (check the path and its permissions, or use --db)")
                     .arg(QFileInfo(d->dbPath).absolutePath());
        d->lock.reset();
        return false;
    }
    if (!d->lock->tryLock(200) && d->lock->error() != QLockFile::LockFailedError) {
        *error = QStringLiteral("cannot create the lock file %1.lock (check the permissions of %2, or use --db)")
                     .arg(d->dbPath, QFileInfo(d->dbPath).absolutePath());
        d->lock.reset();
        return false;
    }
    if (!d->lock->isLocked()) {
        qint64 pid = 0;
        QString host, app;
        d->lock->getLockInfo(&pid, &host, &app);
        *error
            = QStringLiteral("the database %1 is in use by another Vigil (pid %2 on %3); stop it or use --db to choose "
                             "another file")
                  .arg(d->dbPath)
                  .arg(pid)
                  .arg(host);
        d->lock.reset();
        return false;
    }

    return true;
}

bool Backend::start(QString *error)
{
    if (m_running)
        return true;
    d->startedAtMs = wallNowMs();
    m_failedOnListen = false;
    if (const QString problem = configProblem(m_config); !problem.isEmpty()) {
        *error = problem;
        return false;
    }
    // A taken port is the most common start-up failure: say so before opening the database and
    // starting workers (the real listen below still reports the rare port taken in between).
    if (m_config.port != 0) {
        QTcpServer probe;
        if (!probe.listen(m_config.host, m_config.port) && probe.serverError() == QAbstractSocket::AddressInUseError) {
            *error = HttpServer::portInUseMessage(m_config.host, m_config.port);
            m_failedOnListen = true;
            return false;
        }
    }
    registerProcessMetrics(d->metrics);

    if (d->postgres) {
        // Several nodes share one PostgreSQL database by design: no lock file. Reject a
        // malformed URL before any thread starts.
        DatabaseLocation where;
        if (!DatabaseLocation::parse(d->dbPath, &where, error))
            return false;
    } else if (!lockSqliteFile(error)) {
        return false;
    }

    d->writer = new Writer(m_config, d->metrics);
    d->writerThread = startThread(QStringLiteral("vigil-writer"), d->writer);
    bool opened = false;
    QString openError;
    QMetaObject::invokeMethod(
        d->writer, [this, &opened, &openError] { opened = d->writer->open(d->dbPath, &openError); },
        Qt::BlockingQueuedConnection);
    if (!opened) {
        *error = openError;
        joinThread(d->writerThread);
        d->writer = nullptr;
        d->lock.reset();
        return false;
    }
    {
        const QueueSnapshot q = d->writer->snapshot();
        logging::info("queue_opened",
            {{QStringLiteral("database"), databasePath()}, {QStringLiteral("ready"), q.ready},
                {QStringLiteral("leased"), q.leased}, {QStringLiteral("dead"), q.dead},
                {QStringLiteral("events"), q.events}, {QStringLiteral("actions"), q.actions}});
    }

    d->reader = new Reader;
    d->readerThread = startThread(QStringLiteral("vigil-reader"), d->reader);
    bool readerOpened = false;
    QMetaObject::invokeMethod(
        d->reader, [this, &readerOpened, &openError] { readerOpened = d->reader->open(d->dbPath, &openError); },
        Qt::BlockingQueuedConnection);
    if (!readerOpened) {
        *error = openError;
        m_running = true;
        stop();
        return false;
    }

    d->metrics.callbackGauge("queue_length", "Tasks waiting or in progress (ready + leased)", {},
        [w = d->writer] { return double(w->snapshot().depth()); });
    for (const char *state : {"ready", "scheduled", "leased", "done", "dead"}) {
        const QByteArray s(state);
        d->metrics.callbackGauge("queue_tasks", "Tasks by state (scheduled = ready, waiting for a retry time)",
            {{"state", s}}, [w = d->writer, s] {
                const QueueSnapshot q = w->snapshot();
                if (s == "ready")
                    return double(q.due());
                if (s == "scheduled")
                    return double(q.scheduledNow());
                if (s == "leased")
                    return double(q.leased);
                if (s == "done")
                    return double(q.done);
                return double(q.dead);
            });
    }
    d->metrics.callbackGauge("queue_oldest_age_seconds", "Age of the oldest task that is ready to run", {},
        [w = d->writer] { return w->snapshot().oldestReadyAgeSeconds; });

    d->metrics.callbackGauge("queue_paused", "1 while the queue is paused (workers do not claim), else 0", {},
        [w = d->writer] { return w->snapshot().paused ? 1.0 : 0.0; });
    // The remediator's effect ledger is the writer's (actions.executions): durable and ordered, so an
    // action delivered twice (rescue, crash, retry after a late success) is carried out once.
    d->remediator = std::make_unique<SimulatedRemediator>(m_config.remediator, quint64(steadyNowNs()),
        [w = d->writer](const QString &key, const QString &worker, std::function<void(bool, bool)> done) {
            w->submitExecution(key, worker, std::move(done));
        });
    for (int i = 0; i < std::max(1, m_config.workers); ++i) {
        auto *worker
            = new Worker(m_config.nodeId + QStringLiteral("/w%1").arg(i), m_config, *d->writer, *d->remediator);
        d->workerThreads.push_back(startThread(QStringLiteral("vigil-worker-%1").arg(i), worker));
        {
            QMutexLocker lock(&d->workersMutex);
            d->workers.push_back(worker);
        }
        connect(d->writer, &Writer::tasksAvailable, worker, &Worker::wake);
        QMetaObject::invokeMethod(worker, &Worker::start, Qt::QueuedConnection);
        logging::info("worker_started", {{QStringLiteral("worker"), worker->id()}});
    }

    registerIngestRoutes(d->router, *d->writer, d->metrics, m_config);
    *d->workersRunning = true;
    registerSystemRoutes(d->router,
        SystemContext {
            *d->writer, d->series, d->metrics, d->startedAtMs, [flag = d->workersRunning] { return flag->load(); }});
    registerSimulatorRoutes(d->router, *d->simulator,
        [w = d->writer](const QString &actor, const QString &kind, const QString &subject, const QJsonObject &details) {
            w->submitAudit(actor, kind, subject, details);
        });
    registerAuditRoutes(d->router, *d->reader);
    registerQueueRoutes(d->router, *d->writer, *d->reader, [this] { return workersJson(); });
    registerDataRoutes(d->router, *d->reader);
    registerPolicyRoutes(d->router, *d->writer, *d->reader);
    registerLogRoutes(d->router, logging::recentLines());

    d->admission = std::make_shared<Admission>(m_config, d->metrics,
        Admission::QueueProbe {[w = d->writer] { return w->snapshot().due(); },
            [series = &d->series] { return series->latest().dequeuePerS; }});
    d->metrics.callbackGauge("ingest_backpressure_active",
        "1 while ingest answers 503 because the queue is above its high-water mark", {},
        [a = std::weak_ptr<Admission>(d->admission)] {
            const auto admission = a.lock();
            return admission && admission->backpressureActive() ? 1.0 : 0.0;
        });
    d->metrics.callbackGauge("rate_limit_tracked_buckets",
        "Token buckets held in memory (client address x route class); bounded by --rate-limit-clients", {},
        [a = std::weak_ptr<Admission>(d->admission)] {
            const auto admission = a.lock();
            return admission ? double(admission->limiter().trackedBuckets()) : 0.0;
        });
    d->http = std::make_unique<HttpServer>(d->router, d->metrics, m_config);
    d->http->setAdmission(d->admission.get());
    QString listenError;
    if (!d->http->listen(m_config.host, m_config.port, &listenError)) {
        *error = listenError;
        m_failedOnListen = true;
        m_running = true; // let stop() unwind everything started so far
        stop();
        return false;
    }
    d->simulator->setDefaultTarget(baseUrl());
    // The built-in simulator ingests as the operator (ingest is a mutation).
    d->simulator->setDefaultToken(m_config.auth.operatorToken.toUtf8());

    d->sampler = new Sampler(d->series, d->metrics, *d->writer, *d->simulator);
    d->samplerThread = startThread(QStringLiteral("vigil-sampler"), d->sampler);
    QMetaObject::invokeMethod(d->sampler, &Sampler::start, Qt::QueuedConnection);

    m_running = true;
    logging::info("server_started",
        {{QStringLiteral("url"), baseUrl().toString()}, {QStringLiteral("database"), databasePath()},
            {QStringLiteral("workers"), m_config.workers}, {QStringLiteral("node"), m_config.nodeId},
            {QStringLiteral("fault_injection"), m_config.faultInjection}});
    return true;
}

QJsonArray Backend::workersJson() const
{
    // Read by HTTP threads: the worker list is fixed between start() and stop(), and stop() joins
    // the HTTP threads last, after the workers are gone — so take the list under its own lock.
    QMutexLocker lock(&d->workersMutex);
    QJsonArray out;
    for (const Worker *w : d->workers) {
        const Worker::Stats s = w->stats();
        const auto round2 = [](double v) { return std::round(v * 100.0) / 100.0; };
        out.append(QJsonObject {
            {QStringLiteral("id"), w->id()},
            {QStringLiteral("state"), s.state},
            {QStringLiteral("in_flight"), s.inFlight},
            {QStringLiteral("processed_per_minute"), s.processedLastMinute},
            {QStringLiteral("success_rate"),
                s.processedLastMinute > 0 ? QJsonValue(
                    round2(100.0 * double(s.processedLastMinute - s.failedLastMinute) / double(s.processedLastMinute)))
                                          : QJsonValue()},
            {QStringLiteral("avg_processing_ms"),
                s.processedLastMinute > 0 ? QJsonValue(round2(s.busyMsLastMinute / double(s.processedLastMinute)))
                                          : QJsonValue()},
            {QStringLiteral("totals"),
                QJsonObject {{QStringLiteral("processed"), s.processed}, {QStringLiteral("failed"), s.failed},
                    {QStringLiteral("success_rate"),
                        s.processed > 0
                            ? QJsonValue(round2(100.0 * double(s.processed - s.failed) / double(s.processed)))
                            : QJsonValue()},
                    {QStringLiteral("avg_processing_ms"),
                        s.processed > 0 ? QJsonValue(round2(s.busyMs / double(s.processed))) : QJsonValue()},
                    {QStringLiteral("heartbeats"), s.heartbeats}}},
        });
    }
    return out;
}

void Backend::stop()
{
    if (!m_running)
        return;
    m_running = false;
    const qint64 stopStartedNs = steadyNowNs();
    logging::info("server_stopping", {});
    // 1. Stop accepting new connections and stop generating load.
    if (d->http)
        d->http->stopAccepting();
    d->simulator->shutdown(3000);
    // 2. Answer what was accepted: the writer is still running, so waiting 202s get committed.
    //    New requests on open keep-alive connections are refused from here on.
    if (d->http) {
        d->http->refuseNewRequests();
        d->http->drain(5000);
    }
    *d->workersRunning = false;
    // 3. Workers stop claiming and finish what they hold (bounded by the remediator timeout).
    QSemaphore drained;
    for (Worker *w : d->workers)
        QMetaObject::invokeMethod(
            w,
            [w, &drained] {
                w->drain([w, &drained] {
                    const Worker::Stats s = w->stats();
                    logging::info("worker_stopped",
                        {{QStringLiteral("worker"), w->id()}, {QStringLiteral("processed"), s.processed},
                            {QStringLiteral("failed"), s.failed}});
                    drained.release();
                });
            },
            Qt::QueuedConnection);
    if (!drained.tryAcquire(int(d->workers.size()), m_config.remediator.timeoutMs + 2000))
        logging::warning("workers_not_drained", {{QStringLiteral("note"), QStringLiteral("leases released instead")}});
    {
        // Out of the list before the threads end (each deletes its worker): GET /api/v1/workers
        // may be reading it on an HTTP thread.
        QMutexLocker lock(&d->workersMutex);
        d->workers.clear();
    }
    for (auto &t : d->workerThreads)
        joinThread(t);
    d->workerThreads.clear();
    joinThread(d->samplerThread);
    d->sampler = nullptr;
    if (d->reader) {
        QMetaObject::invokeMethod(
            d->reader, [r = d->reader] { r->close(); }, Qt::BlockingQueuedConnection);
        joinThread(d->readerThread);
        d->reader = nullptr;
    }
    // 4. Flush the writer, give back any lease still held by this node, close the database.
    if (d->writer) {
        QMetaObject::invokeMethod(
            d->writer, [w = d->writer] { w->close(); }, Qt::BlockingQueuedConnection);
        const QueueSnapshot q = d->writer->snapshot();
        logging::info("queue_closed",
            {{QStringLiteral("ready"), q.ready}, {QStringLiteral("leased"), q.leased},
                {QStringLiteral("dead"), q.dead}});
        joinThread(d->writerThread);
        d->writer = nullptr;
    }
    // 5. Last: the HTTP threads (every Reply::send after this point is a no-op).
    if (d->http) {
        d->http->shutdown();
        d->http.reset();
    }
    d->admission.reset();
    d->remediator.reset();
    if (d->lock) {
        d->lock->unlock();
        d->lock.reset();
    }
    logging::info(
        "server_stopped", {{QStringLiteral("shutdown_ms"), double((steadyNowNs() - stopStartedNs) / 1000) / 1000.0}});
    emit stopped();
}

} // namespace vigil
