#include "reader.h"

#include "database.h"
#include "logger.h"

#include <QSqlError>

#include <atomic>

namespace vigil {

namespace {
std::atomic<int> g_readerIds {0};
}

Reader::Reader(QObject *parent)
    : QObject(parent)
    , m_connection(QStringLiteral("vigil-reader-%1").arg(++g_readerIds))
{ }

Reader::~Reader()
{
    close();
}

bool Reader::open(const QString &location, QString *error)
{
    DatabaseLocation where;
    if (!DatabaseLocation::parse(location, &where, error)
        || !database::open(where, m_connection, Durability::Normal, error))
        return false;
    m_open = true;
    return true;
}

void Reader::close()
{
    if (!m_open)
        return;
    m_open = false;
    database::close(m_connection);
}

void Reader::run(Query query, Reply reply)
{
    QMetaObject::invokeMethod(
        this,
        [this, query = std::move(query), reply] {
            if (!m_open) {
                reply.send(
                    HttpResponse::error(503, QStringLiteral("unavailable"), QStringLiteral("the server is stopping")));
                return;
            }
            QSqlDatabase db = QSqlDatabase::database(m_connection, false);
            HttpResponse response = query(db);
            // A query that failed may have failed because the PostgreSQL connection is gone (server
            // restart): open it again and answer this request with a second try (reads are safe to repeat).
            QString error;
            if (response.status == 503
                && database::ensureConnected(m_connection, &error) == database::Liveness::Reconnected) {
                logging::info("database_reconnected", {{QStringLiteral("connection"), m_connection}});
                response = query(db);
            }
            if (response.status == 503) {
                // The driver's text (host names, "QPSQL: Unable to send query") is for the log, not the client.
                logging::warning(
                    "read_failed", {{QStringLiteral("detail"), QString::fromUtf8(response.body).left(500)}});
                response = HttpResponse::error(503, QStringLiteral("storage_unavailable"),
                    QStringLiteral("the database could not be read; retry later"))
                               .withHeader("Retry-After", "1");
            }
            reply.send(std::move(response));
        },
        Qt::QueuedConnection);
}

} // namespace vigil
