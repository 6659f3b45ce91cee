// The audit hash chain: entries written by the writer verify; changing, deleting or reordering a
// row makes verify fail exactly at that row.
#include "audit.h"
#include "metrics.h"
#include "writer.h"

#include <QSqlQuery>
#include <QTemporaryDir>
#include <QtTest>

using namespace vigil;

class TestAudit : public QObject
{
    Q_OBJECT

    QTemporaryDir m_dir;

    QString writeChain(const QString &name, int entries)
    {
        const QString path = m_dir.filePath(name);
        MetricsRegistry metrics;
        ServerConfig config;
        config.nodeId = QStringLiteral("test");
        Writer w(config, metrics);
        QString error;
        if (!w.open(path, &error))
            qFatal("open failed: %s", qPrintable(error));
        for (int i = 1; i <= entries; ++i)
            w.submitAudit(QStringLiteral("operator@127.0.0.1"), QStringLiteral("test_entry"),
                QStringLiteral("thing/%1").arg(i),
                {{QStringLiteral("n"), i}, {QStringLiteral("note"), QStringLiteral("ünïcode ✓")}});
        bool flushed = false;
        w.submitOutcomes({}, [&](bool) { flushed = true; });
        if (!QTest::qWaitFor([&] { return flushed; }, 10000))
            qFatal("writer did not flush");
        w.close();
        return path;
    }

    static audit::VerifyResult verifyFile(const QString &path, const QString &tamper = {})
    {
        audit::VerifyResult r;
        {
            QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), QStringLiteral("verify"));
            db.setDatabaseName(path);
            db.open();
            if (!tamper.isEmpty()) {
                QSqlQuery q(db);
                if (!q.exec(tamper))
                    qFatal("tamper failed");
            }
            r = audit::verify(db);
        }
        QSqlDatabase::removeDatabase(QStringLiteral("verify"));
        return r;
    }

private slots:
    void initTestCase() { QVERIFY(m_dir.isValid()); }

    void untouchedChainVerifies()
    {
        const auto r = verifyFile(writeChain(QStringLiteral("ok.db"), 50));
        QVERIFY2(r.ok, qPrintable(r.problem));
        QCOMPARE(r.entries, 50);
    }

    void chainContinuesAcrossRestarts()
    {
        const QString path = writeChain(QStringLiteral("restart.db"), 5);
        {
            MetricsRegistry metrics;
            Writer w(ServerConfig {}, metrics);
            QString error;
            QVERIFY(w.open(path, &error));
            w.submitAudit(QStringLiteral("a"), QStringLiteral("after_restart"), QStringLiteral("s"), {});
            bool flushed = false;
            w.submitOutcomes({}, [&](bool) { flushed = true; });
            QTRY_VERIFY(flushed);
            w.close();
        }
        const auto r = verifyFile(path);
        QVERIFY2(r.ok, qPrintable(r.problem));
        QCOMPARE(r.entries, 6);
    }

    void tamperingIsFoundAtTheRow_data()
    {
        QTest::addColumn<QString>("tamper");
        QTest::addColumn<qint64>("badSeq");
        QTest::newRow("details changed") << QStringLiteral("UPDATE audit_log SET details='{\"n\":999}' WHERE seq=7")
                                         << qint64(7);
        QTest::newRow("actor changed") << QStringLiteral("UPDATE audit_log SET actor='mallory' WHERE seq=3")
                                       << qint64(3);
        QTest::newRow("timestamp changed") << QStringLiteral("UPDATE audit_log SET ts=ts+1 WHERE seq=12") << qint64(12);
        QTest::newRow("row deleted") << QStringLiteral("DELETE FROM audit_log WHERE seq=9") << qint64(10);
        QTest::newRow("hash rewritten") << QStringLiteral("UPDATE audit_log SET hash='00' WHERE seq=5") << qint64(5);
        QTest::newRow("first row changed") << QStringLiteral("UPDATE audit_log SET kind='x' WHERE seq=1") << qint64(1);
        QTest::newRow("last row removed keeps a valid prefix")
            << QStringLiteral("DELETE FROM audit_log WHERE seq=20") << qint64(0);
    }

    void tamperingIsFoundAtTheRow()
    {
        QFETCH(QString, tamper);
        QFETCH(qint64, badSeq);
        static int n = 0;
        const auto r = verifyFile(writeChain(QStringLiteral("t%1.db").arg(++n), 20), tamper);
        QCOMPARE(r.ok, badSeq == 0);
        QCOMPARE(r.firstBadSeq, badSeq);
        if (badSeq)
            QVERIFY(!r.problem.isEmpty());
    }
};

QTEST_GUILESS_MAIN(TestAudit)
#include "tst_audit.moc"
