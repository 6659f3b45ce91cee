// libFuzzer target over ingest validation (DESIGN.md §3): arbitrary bytes go through parseIngest, the function
// POST /api/v1/ingest runs on every body. Besides "no crash, no UB, no leak" (ASan + UBSan + LeakSanitizer), every
// accepted event must satisfy the documented input rules, validateIngestObject must agree with parseIngest, and the
// canonical JSON of an accepted event must parse again to the same event.
#include "invariant.h"
#include "validation.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QJsonValue>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

using namespace vigil;
using vigil::fuzz::check;
using vigil::fuzz::fail;

namespace {

// A fixed clock keeps every run reproducible: 2026-01-19T12:30:00Z.
constexpr qint64 kNowMs = 1'768'825'800'000;

qsizetype codePoints(const QString &s)
{
    return s.toUcs4().size();
}

bool sameEvent(const IngestEvent &a, const IngestEvent &b)
{
    // Bit-for-bit on the value: -0 and 0 differ, and the canonical JSON must not lose that either.
    return a.metricName == b.metricName && a.value == b.value && std::signbit(a.value) == std::signbit(b.value)
        && a.source == b.source && a.timestampMs == b.timestampMs && a.labels == b.labels
        && a.idempotencyKey == b.idempotencyKey;
}

void checkRules(const IngestEvent &e, const IngestLimits &limits, const QByteArray &input)
{
    check(isValidMetricName(e.metricName, limits.maxNameLength), "metric_name breaks the name rule", input);
    check(std::isfinite(e.value), "value is not finite", input);
    if (!e.source.isEmpty())
        check(codePoints(e.source) <= limits.maxSourceLength && isPrintableText(e.source),
            "source is too long or not printable", input);
    if (!e.idempotencyKey.isEmpty())
        check(codePoints(e.idempotencyKey) <= limits.maxKeyLength && isPrintableText(e.idempotencyKey),
            "idempotency_key is too long or not printable", input);
    check(std::llabs(e.timestampMs - kNowMs) <= limits.timestampSkewMs, "timestamp outside the window", input);
    check(e.labels.size() <= limits.maxLabels, "too many labels", input);
    for (auto it = e.labels.constBegin(); it != e.labels.constEnd(); ++it) {
        check(isValidMetricName(it.key(), limits.maxNameLength), "label key breaks the name rule", input);
        check(it.value().isString(), "label value is not a string", input);
        const QString v = it.value().toString();
        check(codePoints(v) <= limits.maxLabelValueLength && isPrintableText(v), "label value too long or unprintable",
            input);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const QByteArray input(reinterpret_cast<const char *>(data), static_cast<qsizetype>(size));
    const IngestLimits limits;
    IngestEvent event;
    const auto error = parseIngest(input, kNowMs, &event, limits);
    if (error) {
        // Every rejection is a documented 400 code; body-level errors carry no field.
        static const QStringList codes
            = {QStringLiteral("invalid_json"), QStringLiteral("duplicate_field"), QStringLiteral("unknown_field"),
                QStringLiteral("missing_field"), QStringLiteral("invalid_type"), QStringLiteral("invalid_value")};
        check(codes.contains(error->code), "undocumented error code", input);
        check(!error->message.isEmpty(), "error without a message", input);
        if (error->code == QLatin1String("invalid_json"))
            check(error->field.isEmpty(), "invalid_json names a field", input);
        return 0;
    }

    checkRules(event, limits, input);

    // The batch endpoint validates already parsed objects: it must accept the same event. Unless the body has a raw
    // U+FEFF opening a string, which Qt's own parser drops and parseIngest keeps (so a batch body must go through the
    // same pre-scan before QJsonDocument sees it).
    const QJsonDocument doc = QJsonDocument::fromJson(input);
    if (doc.isObject() && !input.contains("\"\xEF\xBB\xBF")) {
        IngestEvent again;
        check(!validateIngestObject(doc.object(), kNowMs, &again, limits), "validateIngestObject rejects it", input);
        check(sameEvent(event, again), "validateIngestObject reads a different event", input);
    }

    // Canonical JSON round trip: serialise, parse as a request body again, same event.
    const QByteArray canonical = QJsonDocument(ingestEventToJson(event)).toJson(QJsonDocument::Compact);
    IngestEvent reparsed;
    if (const auto e = parseIngest(canonical, kNowMs, &reparsed, limits)) {
        std::fprintf(stderr, "canonical: %s\nerror: %s %s\n", canonical.constData(), qPrintable(e->code),
            qPrintable(e->message));
        fail("canonical JSON of an accepted event is rejected", input);
    }
    check(sameEvent(event, reparsed), "canonical JSON reads back as a different event", input);
    return 0;
}
