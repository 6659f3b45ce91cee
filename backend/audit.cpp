#include "audit.h"

#include <QCryptographicHash>
#include <QJsonDocument>
#include <QSqlError>
#include <QSqlQuery>

namespace vigil::audit {

QByteArray entryHash(const QByteArray &prevHash, qint64 seq, qint64 ts, const QString &actor, const QString &kind,
    const QString &subject, const QJsonObject &details)
{
    const QJsonObject canonical {{QStringLiteral("seq"), seq}, {QStringLiteral("ts"), ts},
        {QStringLiteral("actor"), actor}, {QStringLiteral("kind"), kind}, {QStringLiteral("subject"), subject},
        {QStringLiteral("details"), details}};
    QCryptographicHash h(QCryptographicHash::Sha256);
    h.addData(prevHash);
    h.addData(QByteArrayView("\n"));
    h.addData(QJsonDocument(canonical).toJson(QJsonDocument::Compact));
    return h.result().toHex();
}

VerifyResult verify(QSqlDatabase &db)
{
    VerifyResult r;
    QSqlQuery q(db);
    q.setForwardOnly(true);
    if (!q.exec(QStringLiteral(
            "SELECT seq, ts, actor, kind, subject, details, prev_hash, hash FROM audit_log ORDER BY seq"))) {
        r.ok = false;
        r.problem = QStringLiteral("cannot read the audit log: %1").arg(q.lastError().text());
        return r;
    }
    QByteArray prev = kGenesis;
    qint64 expectedSeq = 0;
    while (q.next()) {
        const qint64 seq = q.value(0).toLongLong();
        ++r.entries;
        auto fail = [&](const QString &problem) {
            r.ok = false;
            r.firstBadSeq = seq;
            r.problem = problem;
        };
        if (expectedSeq != 0 && seq != expectedSeq + 1) {
            fail(QStringLiteral("sequence gap: entry %1 follows entry %2").arg(seq).arg(expectedSeq));
            break;
        }
        expectedSeq = seq;
        const QByteArray storedPrev = q.value(6).toString().toLatin1();
        const QByteArray stored = q.value(7).toString().toLatin1();
        if (storedPrev != prev) {
            fail(QStringLiteral("prev_hash does not match the hash of the entry before"));
            break;
        }
        QJsonParseError err {};
        const QJsonDocument details = QJsonDocument::fromJson(q.value(5).toString().toUtf8(), &err);
        if (err.error != QJsonParseError::NoError || !details.isObject()) {
            fail(QStringLiteral("details are not a JSON object"));
            break;
        }
        const QByteArray computed = entryHash(prev, seq, q.value(1).toLongLong(), q.value(2).toString(),
            q.value(3).toString(), q.value(4).toString(), details.object());
        if (computed != stored) {
            fail(QStringLiteral("hash mismatch: the entry was changed after it was written"));
            break;
        }
        prev = stored;
    }
    return r;
}

} // namespace vigil::audit
