#pragma once

#include "http/httptypes.h"

#include <QObject>
#include <QSqlDatabase>

#include <functional>

namespace vigil {

// Runs read-only SQL for GET endpoints on its own thread and connection (DESIGN.md §1: WAL
// readers never block the writer, and HTTP threads never wait on SQL). Answers go back through
// the same thread-safe Reply path as everything else.
class Reader final : public QObject
{
    Q_OBJECT
    Q_DISABLE_COPY_MOVE(Reader)
public:
    explicit Reader(QObject *parent = nullptr);
    ~Reader() override;

    // Reader thread.
    bool open(const QString &location, QString *error); // SQLite path or postgresql:// URL
    void close();

    using Query = std::function<HttpResponse(QSqlDatabase &db)>;
    // Thread-safe: runs `query` on the reader thread and sends its response.
    void run(Query query, Reply reply);

private:
    QString m_connection;
    bool m_open = false;
};

} // namespace vigil
