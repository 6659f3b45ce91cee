// vigil: the desktop console (default) or the headless server (--headless).
//
// --help, --version and --headless are decided before any application object exists:
// QApplication aborts without a display, and a server must never need one.

#include "backend.h"
#include "logger.h"
#include "sqldialect.h"
#include "mainwindow.h"
#include "apiclient.h"
#include "theme.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QInputDialog>
#include <QMessageBox>
#include <QRegularExpression>
#include <QSettings>
#include <QSocketNotifier>
#include <QStandardPaths>
#include <QTimer>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace vigil;

namespace {

int g_signalPipe[2] = {-1, -1};

void onSignal(int)
{
    const char c = 1;
    [[maybe_unused]] const auto n = ::write(g_signalPipe[1], &c, 1);
}

// Every client connection is a file descriptor: lift the soft limit (often 1024) to the hard one
// so that --max-connections, not EMFILE, decides when connections are refused.
void raiseFileLimit()
{
    rlimit limit {};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
}

// SIGINT/SIGTERM become an orderly shutdown on the main thread (self-pipe: async-signal-safe).
void installSignalHandlers(QObject *context, std::function<void()> onStop)
{
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, g_signalPipe) != 0)
        return;
    auto *notifier = new QSocketNotifier(g_signalPipe[0], QSocketNotifier::Read, context);
    QObject::connect(notifier, &QSocketNotifier::activated, context, [notifier, onStop = std::move(onStop)] {
        char c;
        [[maybe_unused]] const auto n = ::read(g_signalPipe[0], &c, 1);
        notifier->setEnabled(false);
        onStop();
    });
    struct sigaction sa
    {
    };
    sa.sa_handler = onSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

bool hasArg(int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], name) == 0)
            return true;
    return false;
}

bool displayAvailable()
{
    const QByteArray platform = qgetenv("QT_QPA_PLATFORM");
    if (!platform.isEmpty())
        return true; // the user chose a platform (offscreen, wayland, ...)
    return !qgetenv("DISPLAY").isEmpty() || !qgetenv("WAYLAND_DISPLAY").isEmpty();
}

void addOptions(QCommandLineParser &p)
{
    p.setApplicationDescription(QStringLiteral(
        "Vigil Console: ingest monitoring events over REST, queue them durably, turn them into remediation actions, "
        "and load-test it all with the built-in simulator while watching live charts."));
    p.addHelpOption();
    p.addVersionOption();
    p.addOptions({
        {QStringLiteral("headless"), QStringLiteral("Run the server without a window (no display needed).")},
        {QStringLiteral("config"),
            QStringLiteral(
                "INI file with defaults for any option below, one 'name = value' per line (e.g. port = 9000); "
                "options on the command line win."),
            QStringLiteral("file")},
        {QStringLiteral("host"), QStringLiteral("Address to listen on (default 127.0.0.1)."), QStringLiteral("address"),
            QStringLiteral("127.0.0.1")},
        {QStringLiteral("port"), QStringLiteral("TCP port to listen on (default 8000; 0 = any free port)."),
            QStringLiteral("port"), QStringLiteral("8000")},
        {QStringLiteral("db"),
            QStringLiteral("SQLite database file (default: vigil.db in the user's data directory), or a PostgreSQL URL "
                           "postgresql://user:password@host:5432/database shared by several nodes."),
            QStringLiteral("path|url")},
        {QStringLiteral("node-id"),
            QStringLiteral("Name of this node in leases and logs (default host:pid). Give each node sharing a "
                           "PostgreSQL database a stable, unique id: a restarted node then takes its own leases back "
                           "at once."),
            QStringLiteral("id")},
        {QStringLiteral("workers"), QStringLiteral("Worker count (default 2)."), QStringLiteral("n"),
            QStringLiteral("2")},
        {QStringLiteral("http-threads"), QStringLiteral("HTTP threads (default 2)."), QStringLiteral("n"),
            QStringLiteral("2")},
        {QStringLiteral("max-body-bytes"), QStringLiteral("Largest request body accepted (default 1048576)."),
            QStringLiteral("bytes"), QStringLiteral("1048576")},
        {QStringLiteral("max-connections"),
            QStringLiteral("Open client connections before new ones get 503 (default 1024)."), QStringLiteral("n"),
            QStringLiteral("1024")},
        {QStringLiteral("header-timeout"),
            QStringLiteral("Seconds for a request's line and headers to arrive, else 408 (default 10)."),
            QStringLiteral("s"), QStringLiteral("10")},
        {QStringLiteral("request-timeout"),
            QStringLiteral("Seconds for a whole request, body included, to arrive, else 408 (default 30)."),
            QStringLiteral("s"), QStringLiteral("30")},
        {QStringLiteral("idle-timeout"),
            QStringLiteral("Seconds an idle keep-alive connection stays open (default 60)."), QStringLiteral("s"),
            QStringLiteral("60")},
        {QStringLiteral("durability"),
            QStringLiteral("normal (default: survives a crash of the process) or full (also survives power loss)."),
            QStringLiteral("mode"), QStringLiteral("normal")},
        {QStringLiteral("fault-injection"),
            QStringLiteral(
                "Honour X-Vigil-Fault markers: on or off (default: on when bound to loopback, off otherwise)."),
            QStringLiteral("on|off")},
        {QStringLiteral("remediator-latency-ms"),
            QStringLiteral("Mean latency of the simulated remediator (default 40)."), QStringLiteral("ms"),
            QStringLiteral("40")},
        {QStringLiteral("remediator-failure-rate"),
            QStringLiteral("Share of remediations that fail, 0..1 (default 0.05)."), QStringLiteral("share"),
            QStringLiteral("0.05")},
        {QStringLiteral("remediator-timeout-ms"), QStringLiteral("Remediation timeout (default 5000)."),
            QStringLiteral("ms"), QStringLiteral("5000")},
        {QStringLiteral("max-attempts"), QStringLiteral("Attempts before a task is dead-lettered (default 8)."),
            QStringLiteral("n"), QStringLiteral("8")},
        {QStringLiteral("retry-base"), QStringLiteral("Retry backoff base in seconds (default 1)."),
            QStringLiteral("s"), QStringLiteral("1")},
        {QStringLiteral("retry-cap"), QStringLiteral("Retry backoff cap in seconds (default 300)."),
            QStringLiteral("s"), QStringLiteral("300")},
        {QStringLiteral("retry-jitter"),
            QStringLiteral("Retry delay jitter, 0..0.99 (default 0.2: each delay is scaled by 0.8..1.2)."),
            QStringLiteral("share"), QStringLiteral("0.2")},
        {QStringLiteral("lease-seconds"), QStringLiteral("Task lease length (default 30)."), QStringLiteral("s"),
            QStringLiteral("30")},
        {QStringLiteral("connect"),
            QStringLiteral("Window only: watch a remote Vigil at this URL instead of starting the embedded server."),
            QStringLiteral("url")},
        {QStringLiteral("token"),
            QStringLiteral("Window only, with --connect: bearer token for the remote server (prefer the VIGIL_TOKEN "
                           "environment variable: the command line is visible to other users in ps)."),
            QStringLiteral("token")},
        {QStringLiteral("operator-token"),
            QStringLiteral("Bearer token for every call, including changes (prefer VIGIL_OPERATOR_TOKEN or the "
                           "config file: the command line is visible in ps). Required to listen on a "
                           "non-loopback address."),
            QStringLiteral("token")},
        {QStringLiteral("viewer-token"),
            QStringLiteral("Bearer token that may only read (GET); when set, reads need it or the operator token "
                           "(prefer VIGIL_VIEWER_TOKEN or the config file)."),
            QStringLiteral("token")},
        {QStringLiteral("rate-limit-ingest"),
            QStringLiteral("Ingest requests per second per client address (default 50; 0 = no limit)."),
            QStringLiteral("per-s"), QStringLiteral("50")},
        {QStringLiteral("rate-limit-ingest-burst"),
            QStringLiteral("Ingest requests a client may send at once before the rate applies (default 100)."),
            QStringLiteral("n"), QStringLiteral("100")},
        {QStringLiteral("rate-limit-query"),
            QStringLiteral("GET requests per second per client address (default 100; 0 = no limit)."),
            QStringLiteral("per-s"), QStringLiteral("100")},
        {QStringLiteral("rate-limit-query-burst"), QStringLiteral("Burst of GET requests (default 200)."),
            QStringLiteral("n"), QStringLiteral("200")},
        {QStringLiteral("rate-limit-control"),
            QStringLiteral(
                "Other mutating requests (simulator, policies, ...) per second per client address (default 10; "
                "0 = no limit)."),
            QStringLiteral("per-s"), QStringLiteral("10")},
        {QStringLiteral("rate-limit-control-burst"), QStringLiteral("Burst of mutating requests (default 20)."),
            QStringLiteral("n"), QStringLiteral("20")},
        {QStringLiteral("rate-limit-clients"),
            QStringLiteral("Rate-limit buckets kept in memory (default 65536; idle ones are dropped first)."),
            QStringLiteral("n"), QStringLiteral("65536")},
        {QStringLiteral("backpressure-high"),
            QStringLiteral("Ready tasks at which ingest answers 503 backpressure (default 20000; 0 = never)."),
            QStringLiteral("tasks"), QStringLiteral("20000")},
        {QStringLiteral("backpressure-low"),
            QStringLiteral("Ready tasks below which ingest is accepted again (default: half the high-water mark)."),
            QStringLiteral("tasks"), QStringLiteral("10000")},
        {QStringLiteral("log-format"), QStringLiteral("text (default) or json."), QStringLiteral("format"),
            QStringLiteral("text")},
        {QStringLiteral("log-level"), QStringLiteral("debug, info (default), warning or error."),
            QStringLiteral("level"), QStringLiteral("info")},
        {QStringLiteral("log-file"),
            QStringLiteral(
                "JSON log file, rotated at 10 MiB keeping 5 old files (default: logs/<database name>.log next to "
                "the database; none = no file)."),
            QStringLiteral("path|none")},
    });
}

[[noreturn]] void fail(const QString &message)
{
    std::fprintf(stderr, "vigil: %s\n", qPrintable(message));
    std::exit(2);
}

// Command-line options with defaults from an optional --config file (command line wins).
class Options
{
public:
    explicit Options(const QCommandLineParser &parser)
        : m_parser(parser)
    {
        if (!parser.isSet(QStringLiteral("config")))
            return;
        const QString path = parser.value(QStringLiteral("config"));
        if (!QFileInfo::exists(path))
            fail(QStringLiteral("--config: no such file %1").arg(path));
        m_file = std::make_unique<QSettings>(path, QSettings::IniFormat);
        if (m_file->status() != QSettings::NoError)
            fail(QStringLiteral("--config: cannot parse %1 (expected lines like 'port = 9000')").arg(path));
        for (const QString &key : m_file->allKeys()) {
            // QSettings only knows ';' comments; "# port = 9000" would arrive as the key "# port".
            if (key.startsWith(QLatin1Char('#')))
                continue;
            const bool valueOption = key != QLatin1String("config") && key != QLatin1String("headless")
                && key != QLatin1String("help") && key != QLatin1String("version");
            if (!valueOption || !hasOption(key))
                fail(QStringLiteral("%1: unknown setting '%2' (settings are the long option names of vigil --help)")
                         .arg(path, key));
        }
    }
    bool isSet(const QString &name) const { return m_parser.isSet(name) || (m_file && m_file->contains(name)); }
    // A secret: the command line wins, then the environment variable, then the config file.
    QString secret(const QString &name, const char *envName) const
    {
        if (m_parser.isSet(name))
            return m_parser.value(name).trimmed();
        if (qEnvironmentVariableIsSet(envName))
            return qEnvironmentVariable(envName).trimmed();
        return value(name);
    }
    QString value(const QString &name) const
    {
        if (!m_parser.isSet(name) && m_file && m_file->contains(name))
            return m_file->value(name).toString().trimmed();
        return m_parser.value(name);
    }

private:
    bool hasOption(const QString &name) const
    {
        static const QStringList names = {
            QStringLiteral("host"),
            QStringLiteral("port"),
            QStringLiteral("db"),
            QStringLiteral("node-id"),
            QStringLiteral("workers"),
            QStringLiteral("http-threads"),
            QStringLiteral("max-body-bytes"),
            QStringLiteral("max-connections"),
            QStringLiteral("header-timeout"),
            QStringLiteral("request-timeout"),
            QStringLiteral("idle-timeout"),
            QStringLiteral("durability"),
            QStringLiteral("fault-injection"),
            QStringLiteral("remediator-latency-ms"),
            QStringLiteral("remediator-failure-rate"),
            QStringLiteral("remediator-timeout-ms"),
            QStringLiteral("max-attempts"),
            QStringLiteral("retry-base"),
            QStringLiteral("retry-cap"),
            QStringLiteral("retry-jitter"),
            QStringLiteral("lease-seconds"),
            QStringLiteral("connect"),
            QStringLiteral("token"),
            QStringLiteral("operator-token"),
            QStringLiteral("viewer-token"),
            QStringLiteral("rate-limit-ingest"),
            QStringLiteral("rate-limit-ingest-burst"),
            QStringLiteral("rate-limit-query"),
            QStringLiteral("rate-limit-query-burst"),
            QStringLiteral("rate-limit-control"),
            QStringLiteral("rate-limit-control-burst"),
            QStringLiteral("rate-limit-clients"),
            QStringLiteral("backpressure-high"),
            QStringLiteral("backpressure-low"),
            QStringLiteral("log-format"),
            QStringLiteral("log-level"),
            QStringLiteral("log-file"),
        };
        return names.contains(name);
    }
    const QCommandLineParser &m_parser;
    std::unique_ptr<QSettings> m_file;
};

double number(const Options &p, const QString &name, double lo, double hi)
{
    bool ok = false;
    const double v = p.value(name).toDouble(&ok);
    if (!ok || !(v >= lo && v <= hi))
        fail(QStringLiteral("--%1 must be a number in %2..%3 (got '%4')").arg(name).arg(lo).arg(hi).arg(p.value(name)));
    return v;
}

ServerConfig configFrom(const Options &p)
{
    ServerConfig c;
    if (!c.host.setAddress(p.value(QStringLiteral("host"))))
        fail(QStringLiteral("--host must be an IP address (got '%1')").arg(p.value(QStringLiteral("host"))));
    c.port = quint16(number(p, QStringLiteral("port"), 0, 65535));
    c.databasePath = p.value(QStringLiteral("db"));
    if (DatabaseLocation::isPostgresUrl(c.databasePath)) {
        DatabaseLocation where;
        QString error;
        if (!DatabaseLocation::parse(c.databasePath, &where, &error))
            fail(QStringLiteral("--db: %1").arg(error));
    }
    c.nodeId = p.value(QStringLiteral("node-id")).trimmed();
    static const QRegularExpression nodeIdPattern(QStringLiteral("^[A-Za-z0-9_.:-]{1,64}$"));
    if (p.isSet(QStringLiteral("node-id")) && !nodeIdPattern.match(c.nodeId).hasMatch())
        fail(QStringLiteral("--node-id must be 1-64 characters of A-Z a-z 0-9 _ . : -"));
    c.workers = int(number(p, QStringLiteral("workers"), 1, 64));
    c.httpThreads = int(number(p, QStringLiteral("http-threads"), 1, 32));
    c.maxBodyBytes = qint64(number(p, QStringLiteral("max-body-bytes"), 1024, 256.0 * 1024 * 1024));
    c.maxConnections = int(number(p, QStringLiteral("max-connections"), 1, 1'000'000));
    c.headerTimeoutMs = int(number(p, QStringLiteral("header-timeout"), 0.1, 3600) * 1000);
    c.requestTimeoutMs = int(number(p, QStringLiteral("request-timeout"), 0.1, 3600) * 1000);
    c.idleTimeoutMs = int(number(p, QStringLiteral("idle-timeout"), 0.1, 86400) * 1000);
    if (c.requestTimeoutMs < c.headerTimeoutMs)
        fail(QStringLiteral("--request-timeout must be at least --header-timeout"));
    const QString durability = p.value(QStringLiteral("durability"));
    if (durability == QLatin1String("full"))
        c.durability = Durability::Full;
    else if (durability != QLatin1String("normal"))
        fail(QStringLiteral("--durability must be normal or full"));
    c.faultInjection = c.host.isLoopback();
    if (p.isSet(QStringLiteral("fault-injection"))) {
        const QString v = p.value(QStringLiteral("fault-injection"));
        if (v != QLatin1String("on") && v != QLatin1String("off"))
            fail(QStringLiteral("--fault-injection must be on or off"));
        c.faultInjection = v == QLatin1String("on");
    }
    c.remediator.latencyMs = int(number(p, QStringLiteral("remediator-latency-ms"), 0, 600000));
    c.remediator.failureRate = number(p, QStringLiteral("remediator-failure-rate"), 0, 1);
    c.remediator.timeoutMs = int(number(p, QStringLiteral("remediator-timeout-ms"), 1, 600000));
    c.retry.maxAttempts = int(number(p, QStringLiteral("max-attempts"), 1, 1000));
    c.retry.baseSeconds = number(p, QStringLiteral("retry-base"), 0.001, 86400);
    c.retry.capSeconds = number(p, QStringLiteral("retry-cap"), c.retry.baseSeconds, 86400 * 7);
    c.retry.jitter = number(p, QStringLiteral("retry-jitter"), 0, 0.99);
    c.leaseSeconds = int(number(p, QStringLiteral("lease-seconds"), 1, 86400));
    // No check against the lease: workers extend the leases of what they hold (heartbeat every
    // lease/3), so a remediation may outlast the lease without being rescued while it runs.

    c.auth.operatorToken = p.secret(QStringLiteral("operator-token"), "VIGIL_OPERATOR_TOKEN");
    c.auth.viewerToken = p.secret(QStringLiteral("viewer-token"), "VIGIL_VIEWER_TOKEN");
    auto limit = [&p](const char *name, RateLimit *out) {
        const QString rate = QStringLiteral("rate-limit-") + QLatin1String(name);
        out->perSecond = number(p, rate, 0, 1e9);
        out->burst = number(p, rate + QStringLiteral("-burst"), 1, 1e9);
    };
    limit("ingest", &c.limits.ingest);
    limit("query", &c.limits.query);
    limit("control", &c.limits.control);
    c.limits.maxTrackedClients = int(number(p, QStringLiteral("rate-limit-clients"), 1, 1e8));
    c.limits.backpressureHigh = qint64(number(p, QStringLiteral("backpressure-high"), 0, 1e12));
    c.limits.backpressureLow = p.isSet(QStringLiteral("backpressure-low"))
        ? qint64(number(p, QStringLiteral("backpressure-low"), 0, 1e12))
        : c.limits.backpressureHigh / 2; // only the high mark given: release at half of it
    // Checked here too (Backend::start checks again) so a bad setting fails before anything starts.
    if (const QString problem = configProblem(c); !problem.isEmpty())
        fail(problem);
    return c;
}

// The same default as Backend: vigil.db in the user's data directory.
QString databasePath(const Options &p)
{
    QString path = p.value(QStringLiteral("db"));
    if (path.isEmpty())
        path = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + QStringLiteral("/vigil.db");
    return QDir::cleanPath(QDir::current().absoluteFilePath(path));
}

// The default log file of a server on PostgreSQL: the data directory, one file per node id.
QString postgresLogPath(const Options &p)
{
    QString node = p.value(QStringLiteral("node-id")).trimmed();
    if (node.isEmpty())
        node = QStringLiteral("postgresql");
    node.replace(QLatin1Char(':'), QLatin1Char('_'));
    return QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + QStringLiteral("/logs/vigil-") + node
        + QStringLiteral(".log");
}

// Returns the log file in use (empty: none). withServer: an embedded or headless server runs, so
// the default file sits next to its database; a window watching a remote server has no default.
QString setupLogging(const Options &p, bool withServer)
{
    const QString format = p.value(QStringLiteral("log-format"));
    if (format != QLatin1String("text") && format != QLatin1String("json"))
        fail(QStringLiteral("--log-format must be text or json"));
    QtMsgType level = QtInfoMsg;
    if (!logging::parseLevel(p.value(QStringLiteral("log-level")), &level))
        fail(QStringLiteral("--log-level must be debug, info, warning or error"));
    logging::Options options;
    options.format = format == QLatin1String("json") ? logging::Format::Json : logging::Format::Text;
    options.minimumLevel = level;
    const bool explicitFile = p.isSet(QStringLiteral("log-file"));
    if (explicitFile) {
        const QString file = p.value(QStringLiteral("log-file"));
        if (file.isEmpty())
            fail(QStringLiteral("--log-file needs a path, or none"));
        if (file != QLatin1String("none"))
            options.filePath = QDir::cleanPath(QDir::current().absoluteFilePath(file));
    } else if (withServer && DatabaseLocation::isPostgresUrl(p.value(QStringLiteral("db")))) {
        options.filePath = postgresLogPath(p);
    } else if (withServer) {
        const QFileInfo db(databasePath(p));
        options.filePath
            = db.absolutePath() + QStringLiteral("/logs/") + db.completeBaseName() + QStringLiteral(".log");
    }
    QString error;
    if (!logging::install(options, &error)) {
        if (explicitFile)
            fail(QStringLiteral("--log-file: %1").arg(error));
        // The default place is not writable: keep running, logging to stderr only.
        logging::warning(
            "log_file_unavailable", {{QStringLiteral("path"), options.filePath}, {QStringLiteral("error"), error}});
        options.filePath.clear();
    }
    return options.filePath;
}

int runHeadless(QCoreApplication &app, const Options &parser)
{
    const QString logFile = setupLogging(parser, true);
    Backend backend(configFrom(parser));
    QString error;
    if (!backend.start(&error)) {
        std::fprintf(stderr, "vigil: cannot start the server: %s\n", qPrintable(error));
        return 1;
    }
    // Before the banner: whoever reads the URL may send SIGTERM at once, and that must already be
    // an orderly stop (exit 0), not the default action (exit 143).
    installSignalHandlers(&app, [&app, &backend] {
        backend.stop();
        app.quit();
    });
    const QString url = backend.baseUrl().toString();
    // With tokens the hints carry the header (never the token itself: this output may be logged).
    const AuthConfig &auth = backend.config().auth;
    const QString opHeader = auth.operatorToken.isEmpty()
        ? QString()
        : QStringLiteral("-H \"Authorization: Bearer $VIGIL_OPERATOR_TOKEN\" ");
    const QString readHeader = auth.viewerToken.isEmpty() ? QString() : opHeader;
    std::fprintf(stdout,
        "Vigil Console %s serving on %s (database %s)\n"
        "Start the simulator:  curl %s-X POST '%s/api/v1/ui/simulator/start?rate=600&mode=steady'\n"
        "Watch it:             curl %s%s/api/v1/ui/simulator/status\n"
        "Stop with Ctrl+C.\n",
        VIGIL_VERSION, qPrintable(url), qPrintable(backend.databasePath()), qPrintable(opHeader), qPrintable(url),
        qPrintable(readHeader), qPrintable(url));
    if (auth.enabled())
        std::fprintf(stdout, "Tokens:               operator%s required (Authorization: Bearer …)\n",
            auth.viewerToken.isEmpty() ? " for changes; reads open" : " or viewer for reads, operator for changes");
    if (!logFile.isEmpty())
        std::fprintf(stdout, "Log file:             %s\n", qPrintable(logFile));
    std::fflush(stdout);
    const int rc = app.exec();
    backend.stop();
    logging::shutdown();
    return rc;
}

int runWindow(QApplication &app, const Options &parser)
{
    setupLogging(parser, !parser.isSet(QStringLiteral("connect")));
    theme::apply(app);
    std::unique_ptr<Backend> backend;
    QUrl url;
    if (parser.isSet(QStringLiteral("connect"))) {
        url = QUrl(parser.value(QStringLiteral("connect")));
        if (!url.isValid() || url.scheme().isEmpty())
            fail(QStringLiteral("--connect needs a URL such as http://host:8000"));
    } else {
        ServerConfig config = configFrom(parser);
        for (;;) {
            backend = std::make_unique<Backend>(config);
            QString error;
            if (backend->start(&error))
                break;
            const bool portProblem = backend->failedOnListen();
            backend.reset();
            if (!portProblem) {
                QMessageBox::critical(nullptr, QStringLiteral("Vigil Console"),
                    QStringLiteral("The embedded server could not start:\n%1").arg(error));
                return 1;
            }
            // Never a silent failure: say what happened and let the user pick another port.
            bool ok = false;
            const int port = QInputDialog::getInt(nullptr, QStringLiteral("Vigil Console"),
                QStringLiteral("The embedded server could not start:\n%1\n\n"
                               "Choose another port (0 = any free port):")
                    .arg(error),
                config.port == 65535 ? 0 : config.port + 1, 0, 65535, 1, &ok);
            if (!ok) {
                QMessageBox::critical(nullptr, QStringLiteral("Vigil Console"),
                    QStringLiteral("The server did not start:\n%1").arg(error));
                return 1;
            }
            config.port = quint16(port);
        }
        url = backend->baseUrl();
    }
    ApiClient client(url);
    // The embedded server: the window acts as its operator. A remote one: --token or VIGIL_TOKEN.
    if (backend)
        client.setToken(backend->config().auth.operatorToken);
    else
        client.setToken(parser.secret(QStringLiteral("token"), "VIGIL_TOKEN"));
    MainWindow window(&client);
    window.show();
    installSignalHandlers(&app, [&app] { app.quit(); });
    // Window closed or signal: stop the embedded server cleanly (nothing accepted is lost).
    QObject::connect(&app, &QCoreApplication::aboutToQuit, &app, [&backend, &client] {
        client.stopPolling();
        if (backend)
            backend->stop();
    });
    const int rc = app.exec();
    logging::shutdown();
    return rc;
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication::setApplicationName(QStringLiteral("vigil-console"));
    QCoreApplication::setApplicationVersion(QStringLiteral(VIGIL_VERSION));
    QCoreApplication::setOrganizationName(QString());
    raiseFileLimit();

    // The command line is checked before anything else happens (before the display check, which
    // prints a line of its own): an unknown option or a stray argument is a usage error, exit 2,
    // like a bad option value.
    {
        QStringList args;
        for (int i = 0; i < argc; ++i)
            args << QString::fromLocal8Bit(argv[i]);
        QCommandLineParser check;
        addOptions(check);
        if (!check.parse(args)) {
            QString why = check.errorText();
            if (why.endsWith(QLatin1Char('.')))
                why.chop(1);
            fail(why + QStringLiteral(" (see vigil --help)"));
        }
        if (!check.positionalArguments().isEmpty())
            fail(QStringLiteral("unexpected argument '%1' (options start with --; see vigil --help)")
                     .arg(check.positionalArguments().constFirst()));
    }
    const bool wantsInfo = hasArg(argc, argv, "--help") || hasArg(argc, argv, "-h") || hasArg(argc, argv, "--version")
        || hasArg(argc, argv, "-v") || hasArg(argc, argv, "--help-all");
    bool headless = hasArg(argc, argv, "--headless");
    if (!headless && !wantsInfo && !displayAvailable()) {
        std::fprintf(stderr, "vigil: no display found; running the headless server (use --headless to silence this)\n");
        headless = true;
    }
    if (headless || wantsInfo) {
        QCoreApplication app(argc, argv);
        QCommandLineParser parser;
        addOptions(parser);
        parser.process(app); // --help / --version print and exit here
        return runHeadless(app, Options(parser));
    }
    QApplication app(argc, argv);
    QCommandLineParser parser;
    addOptions(parser);
    parser.process(app);
    return runWindow(app, Options(parser));
}
