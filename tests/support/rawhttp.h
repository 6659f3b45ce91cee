#pragma once
// Raw HTTP/1.1 helpers for tests that must send bytes no well-behaved client would (tst_hostile; tst_http has its
// own copy from before this header existed and can move to it). Header-only, test code only.

#include <QByteArray>
#include <QHostAddress>
#include <QJsonDocument>
#include <QJsonObject>
#include <QList>
#include <QPair>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QString>
#include <QTcpSocket>

#include <algorithm>
#include <atomic>

namespace vigil::testsupport {

struct RawResponse
{
    int status = 0;
    QByteArray statusLine;
    QList<QPair<QByteArray, QByteArray>> headers; // names in lower case
    QByteArray body;

    QByteArray header(const QByteArray &lowerName) const
    {
        for (const auto &[name, value] : headers)
            if (name == lowerName)
                return value;
        return {};
    }
    bool hasHeader(const QByteArray &lowerName) const
    {
        return std::any_of(headers.begin(), headers.end(), [&](const auto &h) { return h.first == lowerName; });
    }
    QJsonObject json() const { return QJsonDocument::fromJson(body).object(); }
    QString errorCode() const
    {
        return json().value(QStringLiteral("error")).toObject().value(QStringLiteral("code")).toString();
    }
};

struct Parsed
{
    QList<RawResponse> responses; // complete answers in arrival order, interim 1xx included
    QString error; // a malformed or unframed answer

    QList<RawResponse> finals() const
    {
        QList<RawResponse> out;
        for (const RawResponse &r : responses)
            if (r.status >= 200)
                out.append(r);
        return out;
    }
};

// Insists on framing: every final answer carries a Content-Length. isHead[i]: the i-th final answer has no body.
inline Parsed parseResponses(const QByteArray &data, const QList<bool> &isHead = {})
{
    Parsed out;
    qsizetype pos = 0;
    qsizetype finalIndex = 0;
    while (pos < data.size()) {
        const qsizetype end = data.indexOf("\r\n\r\n", pos);
        if (end < 0)
            break; // incomplete head
        const QList<QByteArray> lines = data.mid(pos, end - pos).split('\n');
        RawResponse r;
        r.statusLine = lines.first().trimmed();
        if (!r.statusLine.startsWith("HTTP/1.1 ") || r.statusLine.size() < 12) {
            out.error = QStringLiteral("bad status line: %1").arg(QString::fromLatin1(r.statusLine.left(60)));
            break;
        }
        r.status = r.statusLine.mid(9, 3).toInt();
        for (qsizetype i = 1; i < lines.size(); ++i) {
            const QByteArray line = lines.at(i).trimmed();
            const qsizetype colon = line.indexOf(':');
            if (colon <= 0) {
                out.error = QStringLiteral("bad header line: %1").arg(QString::fromLatin1(line.left(60)));
                return out;
            }
            r.headers.append({line.left(colon).trimmed().toLower(), line.mid(colon + 1).trimmed()});
        }
        qsizetype next = end + 4;
        if (r.status >= 200) {
            bool ok = false;
            const qsizetype length = r.header("content-length").toLongLong(&ok);
            if (!ok) {
                out.error = QStringLiteral("answer %1 has no Content-Length (unframed)").arg(finalIndex);
                break;
            }
            const bool head = finalIndex < isHead.size() && isHead.at(finalIndex);
            if (!head) {
                if (data.size() < next + length)
                    break; // body still arriving
                r.body = data.mid(next, length);
                next += length;
            }
            ++finalIndex;
        }
        out.responses.append(r);
        pos = next;
    }
    return out;
}

// A raw keep-alive connection: what the server sends is collected as it arrives.
class RawClient final
{
    Q_DISABLE_COPY_MOVE(RawClient)
public:
    explicit RawClient(quint16 port)
    {
        QObject::connect(&m_socket, &QTcpSocket::readyRead, &m_socket, [this] { m_received += m_socket.readAll(); });
        QObject::connect(&m_socket, &QTcpSocket::disconnected, &m_socket, [this] {
            if (m_socket.isOpen())
                m_received += m_socket.readAll();
            m_closed = true;
        });
        m_socket.connectToHost(QHostAddress::LocalHost, port);
    }

    bool waitConnected(int ms) { return m_socket.waitForConnected(ms); }
    void send(const QByteArray &bytes)
    {
        m_socket.write(bytes);
        m_socket.flush();
    }
    bool closed() const { return m_closed || m_socket.state() == QAbstractSocket::UnconnectedState; }
    const QByteArray &received() const { return m_received; }
    Parsed parsed(const QList<bool> &isHead = {}) const { return parseResponses(m_received, isHead); }
    qsizetype finalCount(const QList<bool> &isHead = {}) const { return parsed(isHead).finals().size(); }

private:
    QTcpSocket m_socket;
    QByteArray m_received;
    bool m_closed = false;
};

inline QByteArray rawGet(const QByteArray &target, const QByteArray &extraHeaders = {})
{
    return "GET " + target + " HTTP/1.1\r\nHost: localhost\r\n" + extraHeaders + "\r\n";
}

inline QByteArray rawPost(const QByteArray &target, const QByteArray &body, const QByteArray &extraHeaders = {},
    const QByteArray &contentType = "application/json")
{
    QByteArray head = "POST " + target + " HTTP/1.1\r\nHost: localhost\r\n";
    if (!contentType.isEmpty())
        head += "Content-Type: " + contentType + "\r\n";
    return head + "Content-Length: " + QByteArray::number(body.size()) + "\r\n" + extraHeaders + "\r\n" + body;
}

// One value from an SQLite file through a connection of our own (WAL: never blocks the writer); -1 on error.
inline qint64 sqliteScalar(const QString &dbPath, const QString &sql)
{
    static std::atomic<int> serial {0};
    const QString name = QStringLiteral("testsupport_probe_%1").arg(++serial);
    qint64 v = -1;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
        db.setDatabaseName(dbPath);
        db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=5000"));
        if (db.open()) {
            QSqlQuery q(db);
            if (q.exec(sql) && q.next())
                v = q.value(0).toLongLong();
        }
    }
    QSqlDatabase::removeDatabase(name);
    return v;
}

} // namespace vigil::testsupport
