#pragma once

#include <QByteArray>
#include <QJsonObject>
#include <QSqlDatabase>
#include <QString>

namespace vigil::audit {

// The hash chain of audit_log: hash(n) = SHA-256(hash(n-1) + "\n" + canonical(entry n)), where the
// canonical form is the compact JSON of {seq, ts, actor, kind, subject, details} with sorted keys.
// The first entry's previous hash is 64 zeros.
inline const QByteArray kGenesis = QByteArray(64, '0');

QByteArray entryHash(const QByteArray &prevHash, qint64 seq, qint64 ts, const QString &actor, const QString &kind,
    const QString &subject, const QJsonObject &details);

struct VerifyResult
{
    bool ok = true;
    qint64 entries = 0;
    qint64 firstBadSeq = 0; // 0 when ok
    QString problem; // what is wrong at firstBadSeq
};
// Walks the whole chain in seq order (no gaps allowed) and recomputes every hash.
VerifyResult verify(QSqlDatabase &db);

} // namespace vigil::audit
