// Test databases on either backend. By default a fresh SQLite file in a temporary directory; with
// VIGIL_QUEUE_BACKEND=postgresql a fresh database on the PostgreSQL server named by VIGIL_TEST_PG_URL
// (scripts/test.sh starts a throwaway one), dropped again when the object goes. The CTest variants
// named *_pg run a test executable this way (label postgres).
#pragma once

#include "audit.h"
#include "database.h"

#include <QCoreApplication>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QStringList>
#include <QTemporaryDir>
#include <QUrl>

namespace vigil::testing {

class TestDatabases
{
public:
    TestDatabases() = default;
    TestDatabases(const TestDatabases &) = delete;
    TestDatabases &operator=(const TestDatabases &) = delete;
    ~TestDatabases()
    {
        for (const QString &name : std::as_const(m_created))
            adminExec(QStringLiteral("DROP DATABASE IF EXISTS %1 WITH (FORCE)").arg(name));
    }

    bool postgres() const { return m_pg; }
    // Why the PostgreSQL variant cannot run (empty when it can): the caller QSKIPs with it.
    QString unavailable() const
    {
        if (m_pg && m_pgUrl.isEmpty())
            return QStringLiteral(
                "VIGIL_TEST_PG_URL is not set: no PostgreSQL server to test against (scripts/test.sh starts a "
                "throwaway one; or export VIGIL_TEST_PG_URL=postgresql://user:password@127.0.0.1:5432/postgres)");
        if (!m_dir.isValid())
            return QStringLiteral("no temporary directory");
        return {};
    }
    QString serverUrl() const { return redactDatabaseUrl(m_pgUrl); }

    // A new, empty database: a SQLite file path, or the URL of a PostgreSQL database made for it.
    QString fresh(const QString &tag = QStringLiteral("db"))
    {
        ++m_n;
        if (!m_pg)
            return m_dir.filePath(QStringLiteral("%1-%2.db").arg(tag).arg(m_n));
        const QString name = QStringLiteral("vigil_t_%1_%2").arg(QCoreApplication::applicationPid()).arg(m_n);
        if (!adminExec(QStringLiteral("CREATE DATABASE %1").arg(name)))
            qFatal("cannot create a test database on the PostgreSQL server");
        m_created << name;
        QUrl url(m_pgUrl);
        url.setPath(QLatin1Char('/') + name);
        return url.toString();
    }
    QString dir() const { return m_dir.path(); }

    // One number from a separate connection to `location` (-1 when the query fails).
    static qint64 scalar(const QString &location, const QString &sql)
    {
        qint64 v = -1;
        withConnection(location, [&](QSqlDatabase &db) {
            QSqlQuery q(db);
            if (q.exec(sql) && q.next())
                v = q.value(0).toLongLong();
            else
                qWarning("%s: %s", qPrintable(sql), qPrintable(q.lastError().text()));
        });
        return v;
    }
    // Runs one statement (e.g. to tamper with a row); false when it fails.
    static bool exec(const QString &location, const QString &sql)
    {
        bool ok = false;
        withConnection(location, [&](QSqlDatabase &db) {
            QSqlQuery q(db);
            ok = q.exec(sql);
            if (!ok)
                qWarning("%s: %s", qPrintable(sql), qPrintable(q.lastError().text()));
        });
        return ok;
    }
    static audit::VerifyResult verifyAudit(const QString &location)
    {
        audit::VerifyResult r;
        withConnection(location, [&](QSqlDatabase &db) { r = audit::verify(db); });
        return r;
    }

    template <typename F> static void withConnection(const QString &location, F &&f)
    {
        static int serial = 0;
        const QString name = QStringLiteral("test-probe-%1").arg(++serial);
        {
            DatabaseLocation where;
            QString error;
            if (!DatabaseLocation::parse(location, &where, &error)
                || !database::open(where, name, Durability::Normal, &error))
                qWarning("%s", qPrintable(error));
            QSqlDatabase db = QSqlDatabase::database(name, false);
            f(db);
        }
        QSqlDatabase::removeDatabase(name);
    }

private:
    // Statements outside any test database (CREATE/DROP DATABASE), on the server's own database.
    bool adminExec(const QString &sql) const
    {
        bool ok = false;
        {
            DatabaseLocation where;
            QString error;
            if (!DatabaseLocation::parse(m_pgUrl, &where, &error)
                || !database::openPostgres(where, QStringLiteral("test-admin"), &error)) {
                qWarning("%s", qPrintable(error));
            } else {
                QSqlQuery q(QSqlDatabase::database(QStringLiteral("test-admin")));
                ok = q.exec(sql);
                if (!ok)
                    qWarning("%s: %s", qPrintable(sql), qPrintable(q.lastError().text()));
            }
        }
        QSqlDatabase::removeDatabase(QStringLiteral("test-admin"));
        return ok;
    }

    bool m_pg = qEnvironmentVariable("VIGIL_QUEUE_BACKEND") == QLatin1String("postgresql");
    QString m_pgUrl = qEnvironmentVariable("VIGIL_TEST_PG_URL");
    QTemporaryDir m_dir;
    QStringList m_created;
    int m_n = 0;
};

} // namespace vigil::testing
