#include "sqldialect.h"

#include <QRegularExpression>
#include <QUrl>
#include <QUrlQuery>

namespace vigil {

bool DatabaseLocation::isPostgresUrl(const QString &spec)
{
    return spec.startsWith(QLatin1String("postgresql://"), Qt::CaseInsensitive)
        || spec.startsWith(QLatin1String("postgres://"), Qt::CaseInsensitive);
}

QString redactDatabaseUrl(const QString &given)
{
    if (!DatabaseLocation::isPostgresUrl(given))
        return given;
    static const QRegularExpression passwordParameter(QStringLiteral("([?&]password=)[^&]*"));
    QString spec = given;
    spec.replace(passwordParameter, QStringLiteral("\\1***"));
    // Textual, so that even a URL QUrl rejects is redacted: the user-info ends at the last '@'
    // before the path; everything between the first ':' after "//" and that '@' is the password.
    const qsizetype start = spec.indexOf(QLatin1String("//")) + 2;
    qsizetype end = spec.indexOf(QLatin1Char('/'), start);
    if (end < 0)
        end = spec.size();
    const qsizetype at = spec.lastIndexOf(QLatin1Char('@'), end - 1);
    if (at < start)
        return spec;
    const qsizetype colon = spec.indexOf(QLatin1Char(':'), start);
    if (colon < 0 || colon > at)
        return spec;
    return spec.left(colon + 1) + QStringLiteral("***") + spec.mid(at);
}

QString DatabaseLocation::display() const
{
    if (!isPostgres())
        return path;
    QString s = QStringLiteral("postgresql://");
    if (!user.isEmpty()) {
        s += QString::fromUtf8(QUrl::toPercentEncoding(user));
        if (!password.isEmpty())
            s += QStringLiteral(":***");
        s += QLatin1Char('@');
    }
    s += host.contains(QLatin1Char(':')) ? QLatin1Char('[') + host + QLatin1Char(']') : host;
    s += QLatin1Char(':') + QString::number(port) + QLatin1Char('/') + name;
    return s;
}

bool DatabaseLocation::parse(const QString &spec, DatabaseLocation *out, QString *error)
{
    DatabaseLocation loc;
    if (!isPostgresUrl(spec)) {
        loc.dialect = SqlDialect::Sqlite;
        loc.path = spec;
        *out = loc;
        return true;
    }
    loc.dialect = SqlDialect::Postgres;
    const QString shown = redactDatabaseUrl(spec);
    auto bad = [&](const QString &why) {
        *error
            = QStringLiteral("malformed PostgreSQL URL %1: %2 (expected postgresql://user:password@host:port/database)")
                  .arg(shown, why);
        return false;
    };
    const QUrl url(spec, QUrl::StrictMode);
    if (!url.isValid())
        return bad(QStringLiteral("not a valid URL"));
    loc.host = url.host();
    if (loc.host.isEmpty())
        return bad(QStringLiteral("no host"));
    if (url.port() == 0)
        return bad(QStringLiteral("the port must be 1..65535"));
    loc.port = url.port(5432);
    loc.user = url.userName(QUrl::FullyDecoded);
    loc.password = url.password(QUrl::FullyDecoded);
    QString name = url.path(QUrl::FullyDecoded);
    if (name.startsWith(QLatin1Char('/')))
        name.remove(0, 1);
    if (name.isEmpty() || name.contains(QLatin1Char('/')))
        return bad(QStringLiteral("no database name after the host"));
    loc.name = name;
    // Query parameters are libpq connection parameters (sslmode, connect_timeout, …).
    static const QRegularExpression keyPattern(QStringLiteral("^[a-z_]{1,64}$"));
    QStringList options;
    bool timeoutGiven = false;
    for (const auto &[key, value] : QUrlQuery(url).queryItems(QUrl::FullyDecoded)) {
        if (!keyPattern.match(key).hasMatch())
            return bad(QStringLiteral("unknown parameter '%1'").arg(key.left(64)));
        if (key == QLatin1String("password") || key == QLatin1String("user") || key == QLatin1String("host")
            || key == QLatin1String("port") || key == QLatin1String("dbname"))
            return bad(QStringLiteral("'%1' belongs in the URL itself, not in its parameters").arg(key));
        if (value.contains(QLatin1Char(';')) || value.contains(QLatin1Char(' ')) || value.contains(QLatin1Char('\'')))
            return bad(QStringLiteral("the value of '%1' may not contain spaces, quotes or ';'").arg(key));
        timeoutGiven = timeoutGiven || key == QLatin1String("connect_timeout");
        options << key + QLatin1Char('=') + value;
    }
    // An unreachable server must fail the start quickly with a clear message, not hang.
    if (!timeoutGiven)
        options << QStringLiteral("connect_timeout=5");
    loc.connectOptions = options.join(QLatin1Char(';'));
    *out = loc;
    return true;
}

namespace sqldialect {

QString beginWrite(SqlDialect d)
{
    return d == SqlDialect::Postgres ? QStringLiteral("BEGIN") : QStringLiteral("BEGIN IMMEDIATE");
}

QString claimTasks(SqlDialect d)
{
    if (d == SqlDialect::Postgres)
        // SKIP LOCKED: a row another node is claiming (or finishing) is left to it instead of
        // waiting for it. The CTE returns the payload in the same round trip.
        return QStringLiteral(
            "WITH c AS (UPDATE tasks SET status='leased', attempts=attempts+1, lease_until=?, leased_by=? "
            "WHERE id IN (SELECT id FROM tasks WHERE status='ready' AND run_at <= ? "
            // A pause through any node stops every node's claims at once (not at their next refresh).
            "AND NOT EXISTS (SELECT 1 FROM queue_settings WHERE name='paused' AND value='1') "
            "ORDER BY run_at, id LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING id, kind, ref_id, attempts, max_attempts) "
            "SELECT c.id, c.kind, c.ref_id, c.attempts, c.max_attempts, e.metric_name, e.value, e.source, "
            "a.type, a.idempotency_key, a.event_id, p.name, p.params FROM c "
            "LEFT JOIN events e ON c.kind='event' AND e.id=c.ref_id "
            "LEFT JOIN actions a ON c.kind='action' AND a.id=c.ref_id "
            "LEFT JOIN policies p ON p.id=a.policy_id ORDER BY c.id");
    return QStringLiteral("UPDATE tasks SET status='leased', attempts=attempts+1, lease_until=?, leased_by=? "
                          "WHERE id IN (SELECT id FROM tasks WHERE status='ready' AND run_at <= ? "
                          "ORDER BY run_at, id LIMIT ?) RETURNING id, kind, ref_id, attempts, max_attempts");
}

bool claimCarriesPayload(SqlDialect d)
{
    return d == SqlDialect::Postgres;
}

QString idsFromJson(SqlDialect d)
{
    return d == SqlDialect::Postgres
        ? QStringLiteral("SELECT value::bigint FROM json_array_elements_text(CAST(? AS json))")
        : QStringLiteral("SELECT value FROM json_each(?)");
}

QString finishEventTasks(SqlDialect d)
{
    if (d == SqlDialect::Postgres)
        return QStringLiteral(
            "UPDATE tasks SET status='done', finished_at=?, lease_until=NULL WHERE status='leased' "
            "AND id IN (SELECT (value->>0)::bigint FROM json_array_elements(CAST(? AS json))) "
            "AND (id, attempts, leased_by) IN (SELECT (value->>0)::bigint, (value->>1)::int, value->>2 "
            "FROM json_array_elements(CAST(? AS json))) RETURNING id");
    return QStringLiteral(
        "UPDATE tasks SET status='done', finished_at=?, lease_until=NULL WHERE status='leased' "
        "AND id IN (SELECT json_extract(value, '$[0]') FROM json_each(?)) "
        "AND (id, attempts, leased_by) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
        "json_extract(value, '$[2]') FROM json_each(?)) RETURNING id");
}

QString skipLocked(SqlDialect d)
{
    return d == SqlDialect::Postgres ? QStringLiteral(" FOR UPDATE SKIP LOCKED") : QString();
}

QString translateMigration(SqlDialect d, const QString &sql)
{
    if (d == SqlDialect::Sqlite)
        return sql;
    static const QRegularExpression autoKey(QStringLiteral("\\bINTEGER PRIMARY KEY\\b"));
    QString out = sql;
    out.replace(autoKey, QStringLiteral("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"));
    return out;
}

QString containsFolded(SqlDialect d, const QString &haystack)
{
    return d == SqlDialect::Postgres ? QStringLiteral("strpos(lower(%1), lower(?)) > 0").arg(haystack)
                                     : QStringLiteral("instr(lower(%1), lower(?)) > 0").arg(haystack);
}

QString newline(SqlDialect d)
{
    return d == SqlDialect::Postgres ? QStringLiteral(" || chr(10) || ") : QStringLiteral(" || char(10) || ");
}

} // namespace sqldialect
} // namespace vigil
