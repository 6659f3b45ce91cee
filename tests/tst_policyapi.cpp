// Policy editing over real HTTP against a real backend on port 0 and a temporary SQLite file (or, as
// tst_policyapi_pg, a fresh PostgreSQL database: see testdb.h): CRUD round trip,
// the validation table, 404/405/409/415, the audit entries every edit writes (actor, remote address, before/after),
// edits that take effect on the events ingested after them, and the audit chain still verifying. One writer-level
// case proves that an event evaluated with the policy set from before an edit is judged by the new set.
#include "backend.h"
#include "metrics.h"
#include "testdb.h"
#include "writer.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QSqlQuery>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtTest>

using namespace vigil;
using namespace Qt::StringLiterals;

class TestPolicyApi : public QObject
{
    Q_OBJECT

private:
    vigil::testing::TestDatabases m_dbs;
    QString m_location; // the database the backend runs on (a PostgreSQL URL with its password)
    std::unique_ptr<Backend> m_backend;
    QNetworkAccessManager m_nam;

    struct Answer
    {
        int status = 0;
        QJsonObject body;
        QByteArray raw;
        QByteArray location;
        QByteArray allow;
    };

    Answer call(const QByteArray &verb, const QString &path, const QByteArray &body = {},
        const QByteArray &contentType = QByteArrayLiteral("application/json"))
    {
        QNetworkRequest req(QUrl(m_backend->baseUrl().toString() + path));
        req.setTransferTimeout(30000);
        if (!body.isNull())
            req.setHeader(QNetworkRequest::ContentTypeHeader, contentType);
        QNetworkReply *reply = m_nam.sendCustomRequest(req, verb, body);
        QSignalSpy done(reply, &QNetworkReply::finished);
        if (!reply->isFinished())
            done.wait(30000);
        Answer a;
        a.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        a.raw = reply->readAll();
        a.body = QJsonDocument::fromJson(a.raw).object();
        a.location = reply->rawHeader("Location");
        a.allow = reply->rawHeader("Allow");
        reply->deleteLater();
        return a;
    }
    Answer send(const QByteArray &verb, const QString &path, const QJsonObject &body)
    {
        return call(verb, path, QJsonDocument(body).toJson(QJsonDocument::Compact));
    }

    qint64 scalar(const QString &sql) { return vigil::testing::TestDatabases::scalar(m_location, sql); }
    qint64 actionsOf(qint64 policyId)
    {
        return scalar(QStringLiteral("SELECT count(*) FROM actions WHERE policy_id = %1").arg(policyId));
    }
    QString eventTaskStatus(qint64 eventId)
    {
        const qint64 done = scalar(
            QStringLiteral("SELECT count(*) FROM tasks WHERE kind = 'event' AND ref_id = %1 AND status = 'done'")
                .arg(eventId));
        return done == 1 ? QStringLiteral("done") : QStringLiteral("pending");
    }
    // Ingests one event and waits until its evaluation is committed (the event task is done, which commits
    // in the same transaction as any action it triggers).
    qint64 ingestProcessed(const QString &metric, double value)
    {
        const Answer a = send("POST", QStringLiteral("/api/v1/ingest"),
            {{QStringLiteral("metric_name"), metric}, {QStringLiteral("value"), value},
                {QStringLiteral("source"), QStringLiteral("policy-test")}});
        if (a.status != 202)
            return -1;
        const qint64 id = a.body[QStringLiteral("id")].toInteger();
        if (!QTest::qWaitFor([&] { return eventTaskStatus(id) == QLatin1String("done"); }, 20000))
            return -1;
        return id;
    }
    QJsonArray auditOf(const QString &subject)
    {
        return call("GET", QStringLiteral("/api/v1/audit?subject=") + subject)
            .body[QStringLiteral("entries")]
            .toArray();
    }

    static QJsonObject validPolicy(const QString &name)
    {
        return {{QStringLiteral("name"), name}, {QStringLiteral("metric_name"), QStringLiteral("queue_lag")},
            {QStringLiteral("op"), QStringLiteral(">=")}, {QStringLiteral("threshold"), 12.5},
            {QStringLiteral("for_count"), 2}, {QStringLiteral("cooldown_s"), 60},
            {QStringLiteral("action"), QStringLiteral("clear_cache")},
            {QStringLiteral("params"), QJsonObject {{QStringLiteral("cache"), QStringLiteral("redis")}}},
            {QStringLiteral("enabled"), true}};
    }
    static QString actor() { return QStringLiteral("anonymous@127.0.0.1"); }

private slots:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        if (const QString why = m_dbs.unavailable(); !why.isEmpty())
            QSKIP(qPrintable(why));
        ServerConfig config;
        config.port = 0;
        m_location = m_dbs.fresh(QStringLiteral("vigil"));
        config.databasePath = m_location;
        config.remediator.latencyMs = 1;
        config.remediator.failureRate = 0;
        // Dozens of control calls a second: far above the default control limit, not what this test is about.
        config.limits.control = {0, 0};
        config.limits.ingest = {0, 0};
        m_backend = std::make_unique<Backend>(config);
        QString error;
        QVERIFY2(m_backend->start(&error), qPrintable(error));
    }

    void listsTheDefaultSet()
    {
        const Answer a = call("GET", QStringLiteral("/api/v1/policies"));
        QCOMPARE(a.status, 200);
        QCOMPARE(a.body[QStringLiteral("total")].toInt(), 4);
        const QJsonArray list = a.body[QStringLiteral("policies")].toArray();
        QCOMPARE(list.size(), 4);
        QStringList names;
        for (const QJsonValue &p : list)
            names << p[QStringLiteral("name")].toString();
        QCOMPARE(names, QStringList({u"high-cpu"_s, u"high-memory"_s, u"high-error-rate"_s, u"disk-full"_s}));
        const QJsonObject cpu = list[0].toObject();
        QCOMPARE(cpu[QStringLiteral("metric_name")].toString(), QStringLiteral("cpu_usage"));
        QCOMPARE(cpu[QStringLiteral("op")].toString(), QStringLiteral(">"));
        QCOMPARE(cpu[QStringLiteral("threshold")].toDouble(), 90.0);
        QVERIFY(cpu[QStringLiteral("created_at")].toString().endsWith(u'Z'));
        QCOMPARE(cpu[QStringLiteral("state")][QStringLiteral("sources")].toInt(), 0);
        QVERIFY(cpu[QStringLiteral("state")][QStringLiteral("last_fired_at")].isNull());
        QCOMPARE(a.body[QStringLiteral("actions")].toArray().size(), 4);
        QCOMPARE(call("GET", QStringLiteral("/api/v1/policies?enabled=1")).status, 400);
    }

    void crudRoundTrip()
    {
        // Create.
        const QJsonObject body = validPolicy(QStringLiteral("lagging-queue"));
        const Answer created = send("POST", QStringLiteral("/api/v1/policies"), body);
        QCOMPARE(created.status, 201);
        const QJsonObject stored = created.body[QStringLiteral("policy")].toObject();
        const qint64 id = stored[QStringLiteral("id")].toInteger();
        QVERIFY(id > 4);
        QCOMPARE(created.location, QByteArray("/api/v1/policies/" + QByteArray::number(id)));
        for (auto it = body.constBegin(); it != body.constEnd(); ++it)
            QCOMPARE(stored.value(it.key()), it.value());
        const QString path = QStringLiteral("/api/v1/policies/%1").arg(id);

        // Read back: the same policy, from the database (reader thread).
        Answer got = call("GET", path);
        QCOMPARE(got.status, 200);
        for (auto it = body.constBegin(); it != body.constEnd(); ++it)
            QCOMPARE(got.body[QStringLiteral("policy")][it.key()], it.value());
        QCOMPARE(scalar(QStringLiteral("SELECT threshold * 10 FROM policies WHERE id = %1").arg(id)), 125);

        // Replace: the threshold changes, so the streaks restart.
        QJsonObject replaced = body;
        replaced.insert(QStringLiteral("threshold"), 20);
        replaced.insert(QStringLiteral("id"), id); // the id of the path may be repeated
        const Answer put = send("PUT", path, replaced);
        QCOMPARE(put.status, 200);
        QCOMPARE(put.body[QStringLiteral("changed")].toArray(), QJsonArray({QStringLiteral("threshold")}));
        QVERIFY(put.body[QStringLiteral("streak_reset")].toBool());
        QCOMPARE(call("GET", path).body[QStringLiteral("policy")][QStringLiteral("threshold")].toDouble(), 20.0);

        // Patch: only the fields sent; a cooldown change keeps the streaks.
        const Answer patch = send("PATCH", path, {{QStringLiteral("cooldown_s"), 5}});
        QCOMPARE(patch.status, 200);
        QCOMPARE(patch.body[QStringLiteral("changed")].toArray(), QJsonArray({QStringLiteral("cooldown_s")}));
        QVERIFY(!patch.body[QStringLiteral("streak_reset")].toBool());
        got = call("GET", path);
        QCOMPARE(got.body[QStringLiteral("policy")][QStringLiteral("cooldown_s")].toInt(), 5);
        QCOMPARE(got.body[QStringLiteral("policy")][QStringLiteral("threshold")].toDouble(), 20.0);
        QCOMPARE(
            got.body[QStringLiteral("policy")][QStringLiteral("name")].toString(), QStringLiteral("lagging-queue"));

        // Delete (no action refers to it): gone, and a second delete is a 404.
        const Answer del = call("DELETE", path);
        QCOMPARE(del.status, 200);
        QCOMPARE(del.body[QStringLiteral("deleted")][QStringLiteral("id")].toInteger(), id);
        QCOMPARE(call("GET", path).status, 404);
        QCOMPARE(call("DELETE", path).status, 404);
        QCOMPARE(scalar(QStringLiteral("SELECT count(*) FROM policies WHERE id = %1").arg(id)), 0);

        // Every edit is audited with its actor, remote address and before/after, oldest last.
        const QJsonArray audit = auditOf(QStringLiteral("policy/%1").arg(id));
        QCOMPARE(audit.size(), 4);
        QStringList kinds;
        for (const QJsonValue &e : audit) {
            kinds.prepend(e[QStringLiteral("kind")].toString());
            QCOMPARE(e[QStringLiteral("actor")].toString(), actor());
            QCOMPARE(
                e[QStringLiteral("details")][QStringLiteral("remote_address")].toString(), QStringLiteral("127.0.0.1"));
        }
        QCOMPARE(
            kinds, QStringList({u"policy_created"_s, u"policy_updated"_s, u"policy_updated"_s, u"policy_deleted"_s}));
        const QJsonObject firstUpdate = audit[2].toObject()[QStringLiteral("details")].toObject();
        QCOMPARE(firstUpdate[QStringLiteral("before")][QStringLiteral("threshold")].toDouble(), 12.5);
        QCOMPARE(firstUpdate[QStringLiteral("after")][QStringLiteral("threshold")].toDouble(), 20.0);
        QCOMPARE(
            audit[0][QStringLiteral("details")][QStringLiteral("before")][QStringLiteral("cooldown_s")].toInt(), 5);
        QCOMPARE(audit[3][QStringLiteral("details")][QStringLiteral("after")][QStringLiteral("name")].toString(),
            QStringLiteral("lagging-queue"));
    }

    void validation_data()
    {
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<int>("status");
        QTest::addColumn<QString>("code");
        QTest::addColumn<QString>("field");

        const auto with = [](const QString &key, const QJsonValue &value) {
            QJsonObject o = validPolicy(QStringLiteral("v"));
            if (value.isUndefined())
                o.remove(key);
            else
                o.insert(key, value);
            return QJsonDocument(o).toJson(QJsonDocument::Compact);
        };
        const QJsonValue absent(QJsonValue::Undefined);
        QTest::newRow("empty body") << QByteArray() << 400 << "invalid_json"
                                    << "";
        QTest::newRow("not json") << QByteArray("{\"name\":") << 400 << "invalid_json"
                                  << "";
        QTest::newRow("array") << QByteArray("[]") << 400 << "invalid_json"
                               << "";
        QTest::newRow("duplicate key") << QByteArray(R"({"name":"a","name":"b"})") << 400 << "duplicate_field"
                                       << "name";
        QTest::newRow("unknown field") << with(QStringLiteral("treshold"), 5) << 400 << "unknown_field"
                                       << "treshold";
        QTest::newRow("id given") << with(QStringLiteral("id"), 3) << 400 << "invalid_value"
                                  << "id";
        QTest::newRow("name missing") << with(QStringLiteral("name"), absent) << 400 << "missing_field"
                                      << "name";
        QTest::newRow("name number") << with(QStringLiteral("name"), 7) << 400 << "invalid_type"
                                     << "name";
        QTest::newRow("name empty") << with(QStringLiteral("name"), QString()) << 400 << "invalid_value"
                                    << "name";
        QTest::newRow("name 129 chars") << with(QStringLiteral("name"), QString(129, u'x')) << 400 << "invalid_value"
                                        << "name";
        QTest::newRow("name control char")
            << with(QStringLiteral("name"), QStringLiteral("a\tb")) << 400 << "invalid_value"
            << "name";
        QTest::newRow("metric missing") << with(QStringLiteral("metric_name"), absent) << 400 << "missing_field"
                                        << "metric_name";
        QTest::newRow("metric bad pattern")
            << with(QStringLiteral("metric_name"), QStringLiteral("cpu usage")) << 400 << "invalid_value"
            << "metric_name";
        QTest::newRow("op unknown") << with(QStringLiteral("op"), QStringLiteral("!=")) << 400 << "invalid_value"
                                    << "op";
        QTest::newRow("op number") << with(QStringLiteral("op"), 1) << 400 << "invalid_type"
                                   << "op";
        QTest::newRow("threshold string")
            << with(QStringLiteral("threshold"), QStringLiteral("90")) << 400 << "invalid_type"
            << "threshold";
        QTest::newRow("threshold null") << with(QStringLiteral("threshold"), QJsonValue::Null) << 400 << "missing_field"
                                        << "threshold";
        QTest::newRow("threshold overflow") << QByteArray(R"({"name":"v","metric_name":"m","op":">","threshold":1e400,)"
                                                          R"("action":"rollback"})")
                                            << 400 << "invalid_value"
                                            << "threshold";
        QTest::newRow("for_count 0") << with(QStringLiteral("for_count"), 0) << 400 << "invalid_value"
                                     << "for_count";
        QTest::newRow("for_count fraction") << with(QStringLiteral("for_count"), 1.5) << 400 << "invalid_value"
                                            << "for_count";
        QTest::newRow("for_count string")
            << with(QStringLiteral("for_count"), QStringLiteral("2")) << 400 << "invalid_type"
            << "for_count";
        QTest::newRow("cooldown negative") << with(QStringLiteral("cooldown_s"), -1) << 400 << "invalid_value"
                                           << "cooldown_s";
        QTest::newRow("cooldown over a year") << with(QStringLiteral("cooldown_s"), 31536001) << 400 << "invalid_value"
                                              << "cooldown_s";
        QTest::newRow("action unsupported")
            << with(QStringLiteral("action"), QStringLiteral("reboot_world")) << 400 << "invalid_value"
            << "action";
        QTest::newRow("action missing") << with(QStringLiteral("action"), absent) << 400 << "missing_field"
                                        << "action";
        QTest::newRow("params array") << with(QStringLiteral("params"), QJsonArray()) << 400 << "invalid_type"
                                      << "params";
        QTest::newRow("enabled string") << with(QStringLiteral("enabled"), QStringLiteral("yes")) << 400
                                        << "invalid_type"
                                        << "enabled";
        QTest::newRow("bad escape") << QByteArray(R"({"name":"a\x41"})") << 400 << "invalid_json"
                                    << "";
    }

    void validation()
    {
        QFETCH(QByteArray, body);
        QFETCH(int, status);
        QFETCH(QString, code);
        QFETCH(QString, field);
        const qint64 policies = scalar(QStringLiteral("SELECT count(*) FROM policies"));
        const qint64 audit = scalar(QStringLiteral("SELECT count(*) FROM audit_log"));
        const Answer a = call("POST", QStringLiteral("/api/v1/policies"), body);
        QCOMPARE(a.status, status);
        QVERIFY2(!a.body[QStringLiteral("ok")].toBool(true), a.raw.constData());
        QCOMPARE(a.body[QStringLiteral("error")][QStringLiteral("code")].toString(), code);
        QCOMPARE(a.body[QStringLiteral("error")][QStringLiteral("field")].toString(), field);
        QVERIFY(!a.body[QStringLiteral("error")][QStringLiteral("message")].toString().isEmpty());
        // Refused edits change nothing and are not audited.
        QCOMPARE(scalar(QStringLiteral("SELECT count(*) FROM policies")), policies);
        QCOMPARE(scalar(QStringLiteral("SELECT count(*) FROM audit_log")), audit);

        // The same body as a replacement of an existing policy is refused the same way (ids aside).
        if (field != QLatin1String("id")) {
            const Answer put = call("PUT", QStringLiteral("/api/v1/policies/1"), body);
            QCOMPARE(put.status, status);
            QCOMPARE(put.body[QStringLiteral("error")][QStringLiteral("code")].toString(), code);
            QCOMPARE(put.body[QStringLiteral("error")][QStringLiteral("field")].toString(), field);
        }
    }

    void patchValidatesTheMergedPolicy()
    {
        const QString path = QStringLiteral("/api/v1/policies/1");
        const QJsonObject before = call("GET", path).body[QStringLiteral("policy")].toObject();
        struct Case
        {
            QByteArray body;
            const char *code;
            const char *field;
        };
        const Case cases[] = {
            {R"({"threshold":"high"})", "invalid_type", "threshold"},
            {R"({"for_count":0})", "invalid_value", "for_count"},
            {R"({"name":null})", "missing_field", "name"},
            {R"({"action":"launch_missiles"})", "invalid_value", "action"},
            {R"({"colour":"red"})", "unknown_field", "colour"},
            {R"({"id":2,"enabled":false})", "invalid_value", "id"},
            {R"({})", "missing_field", ""},
        };
        for (const Case &c : cases) {
            const Answer a = call("PATCH", path, c.body);
            QVERIFY2(a.status == 400, c.body.constData());
            QCOMPARE(a.body[QStringLiteral("error")][QStringLiteral("code")].toString(), QLatin1String(c.code));
            QCOMPARE(a.body[QStringLiteral("error")][QStringLiteral("field")].toString(), QLatin1String(c.field));
        }
        QCOMPARE(call("GET", path).body[QStringLiteral("policy")].toObject(), before);
    }

    void notFoundMethodsConflicts()
    {
        // Unknown or impossible ids: 404 JSON naming the id.
        for (const QString &id : {u"999999"_s, u"0"_s, u"-1"_s, u"abc"_s, u"9007199254740992"_s}) {
            const QString path = QStringLiteral("/api/v1/policies/") + id;
            for (const QByteArray verb : {"GET", "DELETE"}) {
                const Answer a = call(verb, path);
                QCOMPARE(a.status, 404);
                QCOMPARE(
                    a.body[QStringLiteral("error")][QStringLiteral("code")].toString(), QStringLiteral("not_found"));
                QCOMPARE(a.body[QStringLiteral("error")][QStringLiteral("field")].toString(), QStringLiteral("id"));
            }
        }
        QCOMPARE(send("PUT", QStringLiteral("/api/v1/policies/999999"), validPolicy(QStringLiteral("x"))).status, 404);
        QCOMPARE(
            send("PATCH", QStringLiteral("/api/v1/policies/999999"), {{QStringLiteral("enabled"), false}}).status, 404);

        // Methods the paths do not have: 405 with Allow.
        Answer a = call("DELETE", QStringLiteral("/api/v1/policies"));
        QCOMPARE(a.status, 405);
        QVERIFY2(a.allow.contains("GET") && a.allow.contains("POST"), a.allow.constData());
        a = send("POST", QStringLiteral("/api/v1/policies/1"), validPolicy(QStringLiteral("x")));
        QCOMPARE(a.status, 405);
        QVERIFY2(
            a.allow.contains("PUT") && a.allow.contains("PATCH") && a.allow.contains("DELETE"), a.allow.constData());

        // Not JSON.
        a = call("POST", QStringLiteral("/api/v1/policies"), "name=x", "application/x-www-form-urlencoded");
        QCOMPARE(a.status, 415);

        // Names are unique: on create, on replace and on rename by patch.
        a = send("POST", QStringLiteral("/api/v1/policies"), validPolicy(QStringLiteral("high-cpu")));
        QCOMPARE(a.status, 409);
        QCOMPARE(a.body[QStringLiteral("error")][QStringLiteral("code")].toString(), QStringLiteral("duplicate_name"));
        QCOMPARE(a.body[QStringLiteral("error")][QStringLiteral("field")].toString(), QStringLiteral("name"));
        a = send("PUT", QStringLiteral("/api/v1/policies/2"), validPolicy(QStringLiteral("high-cpu")));
        QCOMPARE(a.status, 409);
        a = send(
            "PATCH", QStringLiteral("/api/v1/policies/2"), {{QStringLiteral("name"), QStringLiteral("disk-full")}});
        QCOMPARE(a.status, 409);
        QCOMPARE(call("GET", QStringLiteral("/api/v1/policies/2"))
                     .body[QStringLiteral("policy")][QStringLiteral("name")]
                     .toString(),
            QStringLiteral("high-memory"));
        // Renaming a policy to its own name is no conflict.
        QCOMPARE(send("PATCH", QStringLiteral("/api/v1/policies/2"),
                     {{QStringLiteral("name"), QStringLiteral("high-memory")}})
                     .status,
            200);
    }

    void editsTakeEffectOnTheNextEvents()
    {
        const QString metric = QStringLiteral("edit_test_latency");
        const Answer created = send("POST", QStringLiteral("/api/v1/policies"),
            {{QStringLiteral("name"), QStringLiteral("slow-responses")}, {QStringLiteral("metric_name"), metric},
                {QStringLiteral("op"), QStringLiteral(">")}, {QStringLiteral("threshold"), 10},
                {QStringLiteral("action"), QStringLiteral("restart_service")}});
        QCOMPARE(created.status, 201);
        const qint64 id = created.body[QStringLiteral("policy")][QStringLiteral("id")].toInteger();
        const QString path = QStringLiteral("/api/v1/policies/%1").arg(id);

        // Crossing the new policy's threshold fires it, and the action is carried out.
        QVERIFY(ingestProcessed(metric, 50) > 0);
        QCOMPARE(actionsOf(id), 1);
        QTRY_COMPARE_WITH_TIMEOUT(
            scalar(
                QStringLiteral("SELECT count(*) FROM actions WHERE policy_id = %1 AND status = 'succeeded'").arg(id)),
            1, 20000);
        QCOMPARE(call("GET", path)
                     .body[QStringLiteral("policy")][QStringLiteral("state")][QStringLiteral("last_fired_at")]
                     .isString(),
            true);

        // Raise the threshold: the same value no longer fires.
        QCOMPARE(send("PATCH", path, {{QStringLiteral("threshold"), 100}}).status, 200);
        QVERIFY(ingestProcessed(metric, 50) > 0);
        QCOMPARE(actionsOf(id), 1);
        // ... but a value above the new threshold does (no cooldown on this policy).
        QVERIFY(ingestProcessed(metric, 150) > 0);
        QCOMPARE(actionsOf(id), 2);

        // Disabled: nothing fires; enabled again: it fires again.
        QCOMPARE(send("PATCH", path, {{QStringLiteral("enabled"), false}}).status, 200);
        QVERIFY(ingestProcessed(metric, 500) > 0);
        QCOMPARE(actionsOf(id), 2);
        QCOMPARE(send("PATCH", path, {{QStringLiteral("enabled"), true}}).status, 200);
        QVERIFY(ingestProcessed(metric, 500) > 0);
        QCOMPARE(actionsOf(id), 3);

        // for_count raised to 2: one breach is not enough, the second in a row fires.
        QCOMPARE(send("PATCH", path, {{QStringLiteral("for_count"), 2}}).status, 200);
        QVERIFY(ingestProcessed(metric, 500) > 0);
        QCOMPARE(actionsOf(id), 3);
        QVERIFY(ingestProcessed(metric, 500) > 0);
        QCOMPARE(actionsOf(id), 4);

        // A policy with history cannot be deleted (its actions refer to it); it stays, disabled on request.
        const Answer del = call("DELETE", path);
        QCOMPARE(del.status, 409);
        QCOMPARE(del.body[QStringLiteral("error")][QStringLiteral("code")].toString(), QStringLiteral("policy_in_use"));
        QCOMPARE(scalar(QStringLiteral("SELECT count(*) FROM policies WHERE id = %1").arg(id)), 1);
        QCOMPARE(scalar(QStringLiteral("SELECT count(*) FROM audit_log WHERE kind = 'policy_deleted' AND subject = "
                                       "'policy/%1'")
                            .arg(id)),
            0);
        // The actions' history still names the policy.
        const QJsonArray actions
            = call("GET", QStringLiteral("/api/v1/actions?limit=10")).body[QStringLiteral("actions")].toArray();
        QVERIFY(!actions.isEmpty());
        QCOMPARE(actions[0][QStringLiteral("policy")].toString(), QStringLiteral("slow-responses"));
    }

    void deletedPolicyNoLongerFires()
    {
        // for_count 2: the first breach only starts a streak (state, no action), so the policy may be deleted.
        const QString metric = QStringLiteral("delete_test_metric");
        const Answer created = send("POST", QStringLiteral("/api/v1/policies"),
            {{QStringLiteral("name"), QStringLiteral("short-lived")}, {QStringLiteral("metric_name"), metric},
                {QStringLiteral("op"), QStringLiteral("<")}, {QStringLiteral("threshold"), 0},
                {QStringLiteral("for_count"), 2}, {QStringLiteral("action"), QStringLiteral("rollback")}});
        QCOMPARE(created.status, 201);
        const qint64 id = created.body[QStringLiteral("policy")][QStringLiteral("id")].toInteger();
        QVERIFY(ingestProcessed(metric, -5) > 0);
        QCOMPARE(scalar(QStringLiteral("SELECT streak FROM policy_state WHERE policy_id = %1").arg(id)), 1);
        QCOMPARE(call("GET", QStringLiteral("/api/v1/policies/%1").arg(id))
                     .body[QStringLiteral("policy")][QStringLiteral("state")][QStringLiteral("sources_in_streak")]
                     .toInt(),
            1);
        QCOMPARE(actionsOf(id), 0);
        QCOMPARE(call("DELETE", QStringLiteral("/api/v1/policies/%1").arg(id)).status, 200);
        QCOMPARE(scalar(QStringLiteral("SELECT count(*) FROM policy_state WHERE policy_id = %1").arg(id)), 0);
        // The second breach in a row would have fired it.
        QVERIFY(ingestProcessed(metric, -5) > 0);
        QCOMPARE(actionsOf(id), 0);
        QCOMPARE(scalar(QStringLiteral("SELECT count(*) FROM policy_state WHERE policy_id = %1").arg(id)), 0);
    }

    void auditChainStillVerifies()
    {
        QVERIFY(scalar(QStringLiteral("SELECT count(*) FROM audit_log WHERE kind LIKE 'policy_%'")) >= 10);
        const Answer v = call("GET", QStringLiteral("/api/v1/audit/verify"));
        QCOMPARE(v.status, 200);
        QVERIFY2(v.body[QStringLiteral("valid")].toBool(), v.raw.constData());
        QCOMPARE(v.body[QStringLiteral("entries_checked")].toInteger(),
            scalar(QStringLiteral("SELECT count(*) FROM audit_log")));
    }

    // Writer level: a worker that evaluated an event with the set from before an edit is overruled by the writer,
    // which evaluates the value again with the set that is current when the outcome commits.
    void staleEvaluationIsRedone()
    {
        MetricsRegistry metrics;
        ServerConfig config;
        config.nodeId = QStringLiteral("stale");
        Writer w(config, metrics);
        QString error;
        QVERIFY2(w.open(m_dbs.fresh(QStringLiteral("stale")), &error), qPrintable(error));
        const qint64 cpu = w.policies()->at(0).id;
        QCOMPARE(w.policies()->at(0).metricName, QStringLiteral("cpu_usage"));

        const auto ingestAndClaim = [&](double value) {
            IngestEvent e;
            e.metricName = QStringLiteral("cpu_usage");
            e.value = value;
            e.source = QStringLiteral("host-1");
            e.timestampMs = QDateTime::currentMSecsSinceEpoch();
            bool ingested = false;
            w.submitIngest(e, [&](const IngestResult &) { ingested = true; });
            if (!QTest::qWaitFor([&] { return ingested; }, 5000))
                qFatal("ingest did not complete");
            QList<TaskItem> got;
            bool claimed = false;
            w.submitClaim(QStringLiteral("stale/w0"), 10, [&](QList<TaskItem> t) {
                got = std::move(t);
                claimed = true;
            });
            if (!QTest::qWaitFor([&] { return claimed; }, 5000))
                qFatal("claim did not complete");
            // Action tasks of earlier firings are claimed too (and left leased): only the event matters here.
            for (const TaskItem &item : got)
                if (item.kind == QLatin1String("event"))
                    return item;
            return TaskItem {};
        };
        const auto evaluateWith = [&](const TaskItem &t, const std::shared_ptr<const QList<Policy>> &set) {
            TaskOutcome o;
            o.taskId = t.taskId;
            o.kind = QStringLiteral("event");
            o.attempts = t.attempts;
            o.workerId = QStringLiteral("stale/w0");
            o.metricName = t.metricName;
            o.source = t.source;
            o.eventId = t.refId;
            o.value = t.value;
            o.policies = set;
            for (const Policy &p : *set)
                if (breaches(p, t.metricName, t.value))
                    o.breached.append(p.id);
            bool done = false;
            w.submitOutcomes({o}, [&](bool) { done = true; });
            if (!QTest::qWaitFor([&] { return done; }, 5000))
                qFatal("outcome did not complete");
        };
        const auto patch = [&](const QJsonObject &fields) {
            PolicyResult result;
            bool done = false;
            w.submitPolicyPatch(
                cpu, fields, AuditActor {QStringLiteral("test"), QStringLiteral("::1")}, [&](PolicyResult r) {
                    result = r;
                    done = true;
                });
            if (!QTest::qWaitFor([&] { return done; }, 5000))
                qFatal("patch did not complete");
            return result.status;
        };

        // 95 breaches "> 90" as the worker saw it; the threshold becomes 99 before the outcome commits: no action.
        TaskItem t = ingestAndClaim(95);
        QVERIFY(t.taskId > 0);
        auto old = w.policies();
        QCOMPARE(
            patch({{QStringLiteral("threshold"), 99}, {QStringLiteral("cooldown_s"), 0}}), PolicyResult::Status::Ok);
        QVERIFY(w.policies() != old);
        evaluateWith(t, old);
        QCOMPARE(w.snapshot().actions, 0);

        // 95 does not breach "> 99" as the worker saw it; the threshold goes back to 90 first: an action.
        t = ingestAndClaim(95);
        QVERIFY(t.taskId > 0);
        old = w.policies();
        QCOMPARE(patch({{QStringLiteral("threshold"), 90}}), PolicyResult::Status::Ok);
        evaluateWith(t, old);
        QCOMPARE(w.snapshot().actions, 1);

        // Evaluated with the current set: taken as is.
        t = ingestAndClaim(95);
        QVERIFY(t.taskId > 0);
        evaluateWith(t, w.policies());
        QCOMPARE(w.snapshot().actions, 2);
        w.close();
    }

    void cleanupTestCase() { m_backend.reset(); }
};

QTEST_GUILESS_MAIN(TestPolicyApi)
#include "tst_policyapi.moc"
