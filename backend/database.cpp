#include "database.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QRegularExpression>
#include <QSqlError>
#include <QSqlQuery>

namespace vigil::database {

namespace {
bool exec(QSqlDatabase &db, const QString &sql, QString *error)
{
    QSqlQuery q(db);
    if (!q.exec(sql)) {
        if (error)
            *error = q.lastError().text() + QStringLiteral(" in: ") + sql.left(200);
        return false;
    }
    return true;
}

struct Migration
{
    int version;
    QString resource;
};

QList<Migration> availableMigrations()
{
    QList<Migration> list;
    const QDir dir(QStringLiteral(":/migrations"));
    static const QRegularExpression name(QStringLiteral("^(\\d+)_.*\\.sql$"));
    for (const QString &file : dir.entryList({QStringLiteral("*.sql")}, QDir::Files, QDir::Name)) {
        const auto m = name.match(file);
        if (m.hasMatch())
            list.append({m.captured(1).toInt(), dir.filePath(file)});
    }
    std::sort(list.begin(), list.end(), [](const Migration &a, const Migration &b) { return a.version < b.version; });
    return list;
}
} // namespace

SqlDialect dialectOf(const QSqlDatabase &db)
{
    return db.driverName() == QLatin1String("QPSQL") ? SqlDialect::Postgres : SqlDialect::Sqlite;
}

namespace {
bool configurePostgresSession(QSqlDatabase &db, QString *error)
{
    // Times are bigint epoch milliseconds, so the session time zone does not matter; the
    // application name shows which node holds which connection in pg_stat_activity.
    return exec(db, QStringLiteral("SET application_name = 'vigil'"), error)
        && exec(db, QStringLiteral("SET client_min_messages = warning"), error);
}
} // namespace

bool openPostgres(const DatabaseLocation &location, const QString &connectionName, QString *error)
{
    if (!QSqlDatabase::isDriverAvailable(QStringLiteral("QPSQL"))) {
        *error = QStringLiteral("the PostgreSQL driver (QPSQL) is not available: install libqt6sql6-psql");
        return false;
    }
    QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QPSQL"), connectionName);
    db.setHostName(location.host);
    db.setPort(location.port);
    db.setUserName(location.user);
    db.setPassword(location.password);
    db.setDatabaseName(location.name);
    db.setConnectOptions(location.connectOptions);
    if (!db.open()) {
        // libpq's reason names host and port, never the password.
        *error = QStringLiteral("cannot connect to PostgreSQL at %1: %2")
                     .arg(location.display(), db.lastError().text().trimmed());
        return false;
    }
    if (!configurePostgresSession(db, error)) {
        *error = QStringLiteral("cannot configure the PostgreSQL session at %1: %2").arg(location.display(), *error);
        return false;
    }
    return true;
}

Liveness ensureConnected(const QString &connectionName, QString *error)
{
    QSqlDatabase db = QSqlDatabase::database(connectionName, false);
    if (dialectOf(db) != SqlDialect::Postgres)
        return Liveness::Alive;
    {
        QSqlQuery probe(db);
        if (db.isOpen() && probe.exec(QStringLiteral("SELECT 1")) && probe.next())
            return Liveness::Alive;
    }
    db.close();
    if (!db.open()) {
        *error = db.lastError().text().trimmed();
        return Liveness::Down;
    }
    if (!configurePostgresSession(db, error)) {
        db.close();
        return Liveness::Down;
    }
    return Liveness::Reconnected;
}

bool open(const DatabaseLocation &location, const QString &connectionName, Durability durability, QString *error)
{
    return location.isPostgres() ? openPostgres(location, connectionName, error)
                                 : openSqlite(location.path, connectionName, durability, error);
}

bool openSqlite(const QString &path, const QString &connectionName, Durability durability, QString *error)
{
    const QFileInfo info(path);
    if (!QDir().mkpath(info.absolutePath())) {
        *error = QStringLiteral("cannot create the data directory %1").arg(info.absolutePath());
        return false;
    }
    QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), connectionName);
    db.setDatabaseName(path);
    db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=5000"));
    if (!db.open()) {
        *error = QStringLiteral("cannot open the database %1: %2").arg(path, db.lastError().text());
        return false;
    }
    const QString sync = durability == Durability::Full ? QStringLiteral("FULL") : QStringLiteral("NORMAL");
    if (!exec(db, QStringLiteral("PRAGMA journal_mode=WAL"), error)
        || !exec(db, QStringLiteral("PRAGMA synchronous=") + sync, error)
        || !exec(db, QStringLiteral("PRAGMA foreign_keys=ON"), error)
        || !exec(db, QStringLiteral("PRAGMA temp_store=MEMORY"), error)) {
        *error = QStringLiteral("cannot configure the database %1: %2").arg(path, *error);
        return false;
    }
    return true;
}

int schemaVersion(QSqlDatabase &db)
{
    QSqlQuery q(db);
    if (!q.exec(QStringLiteral("SELECT max(version) FROM schema_version")) || !q.next())
        return 0;
    return q.value(0).toInt();
}

namespace {
bool migrateLocked(QSqlDatabase &db, QString *error);
}

bool migrate(QSqlDatabase &db, QString *error)
{
    if (dialectOf(db) == SqlDialect::Sqlite)
        return migrateLocked(db, error); // the lock file already makes this process the only one
    if (!exec(db, QStringLiteral("SELECT pg_advisory_lock(%1)").arg(sqldialect::kMigrationLock), error))
        return false;
    const bool ok = migrateLocked(db, error);
    QString ignored;
    exec(db, QStringLiteral("SELECT pg_advisory_unlock(%1)").arg(sqldialect::kMigrationLock), &ignored);
    return ok;
}

namespace {
bool migrateLocked(QSqlDatabase &db, QString *error)
{
    const SqlDialect dialect = dialectOf(db);
    if (!exec(db,
            QStringLiteral(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT NOT "
                "NULL)"),
            error))
        return false;
    const int current = schemaVersion(db);
    const QList<Migration> migrations = availableMigrations();
    if (!migrations.isEmpty() && current > migrations.last().version) {
        *error = QStringLiteral("the database has schema version %1, newer than this program knows (%2); "
                                "use a newer Vigil Console")
                     .arg(current)
                     .arg(migrations.last().version);
        return false;
    }
    for (const Migration &m : migrations) {
        if (m.version <= current)
            continue;
        QFile file(m.resource);
        if (!file.open(QIODevice::ReadOnly)) {
            *error = QStringLiteral("missing migration %1").arg(m.resource);
            return false;
        }
        const QString sql = sqldialect::translateMigration(dialect, QString::fromUtf8(file.readAll()));
        if (!db.transaction()) {
            *error = db.lastError().text();
            return false;
        }
        // Statements end with ';' at the end of a line; comments are whole lines starting with --.
        QString statement;
        const QStringList lines = sql.split(QLatin1Char('\n'));
        for (const QString &line : lines) {
            if (line.trimmed().startsWith(QLatin1String("--")))
                continue;
            statement += line + QLatin1Char('\n');
            if (line.trimmed().endsWith(QLatin1Char(';'))) {
                if (!exec(db, statement, error)) {
                    db.rollback();
                    *error = QStringLiteral("migration %1 failed: %2").arg(m.version).arg(*error);
                    return false;
                }
                statement.clear();
            }
        }
        QSqlQuery q(db);
        q.prepare(QStringLiteral("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)"));
        q.addBindValue(m.version);
        q.addBindValue(QDateTime::currentMSecsSinceEpoch());
        if (!q.exec() || !db.commit()) {
            *error = q.lastError().text();
            db.rollback();
            return false;
        }
    }
    return true;
}
} // namespace

void close(const QString &connectionName)
{
    {
        QSqlDatabase db = QSqlDatabase::database(connectionName, false);
        if (db.isOpen())
            db.close();
    }
    QSqlDatabase::removeDatabase(connectionName);
}

} // namespace vigil::database
