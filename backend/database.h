#pragma once

#include "config.h"
#include "sqldialect.h"

#include <QSqlDatabase>
#include <QString>

namespace vigil {

// Opening connections and running the versioned migrations in resources/migrations.
// A connection belongs to the thread that opened it (Qt 6.4 has no QSqlDatabase::moveToThread).
namespace database {

// Opens (creating if needed) the SQLite file with WAL, busy_timeout and the durability's synchronous mode.
// The connection is registered under `connectionName` in the calling thread.
bool openSqlite(const QString &path, const QString &connectionName, Durability durability, QString *error);
// Connects to PostgreSQL through QPSQL. Errors name the server (password redacted) and libpq's reason.
bool openPostgres(const DatabaseLocation &location, const QString &connectionName, QString *error);
// Either of the above, by the location's dialect.
bool open(const DatabaseLocation &location, const QString &connectionName, Durability durability, QString *error);
SqlDialect dialectOf(const QSqlDatabase &db);
// Brings the schema to the newest version; each migration in its own transaction. Returns false with a message.
// Migrations are written once, in the SQL both dialects share (sqldialect::translateMigration); on
// PostgreSQL, nodes starting together take turns (a session advisory lock around the whole run).
bool migrate(QSqlDatabase &db, QString *error);
int schemaVersion(QSqlDatabase &db);
// PostgreSQL: whether the named connection still reaches the server (`SELECT 1`); if not, closes and
// opens it again with the same settings (a server restart, a terminated backend, a network cut).
// Everything prepared on the old connection is gone: the caller prepares again on Reconnected.
// SQLite connections are always Alive (a file does not go away under an open handle).
enum class Liveness { Alive, Reconnected, Down };
Liveness ensureConnected(const QString &connectionName, QString *error);
// Removes the named connection (all queries on it must be gone).
void close(const QString &connectionName);

} // namespace database
} // namespace vigil
