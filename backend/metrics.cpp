#include "metrics.h"

#include <QMutexLocker>

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <limits>
#include <sstream>
#include <cmath>

namespace vigil {

const std::array<double, Histogram::kBuckets> &Histogram::bounds()
{
    static const std::array<double, kBuckets> values = [] {
        std::array<double, kBuckets> b {};
        const double steps[] = {1, 1.5, 2, 3, 5, 7};
        int i = 0;
        // 5e-5 .. 3e1: start at 5e-5 so the smallest bucket holds sub-0.05 ms answers.
        for (int decade = -5; decade <= 1 && i < kBuckets; ++decade)
            for (double s : steps) {
                const double v = s * std::pow(10.0, decade);
                if (v < 4.99e-5)
                    continue;
                if (i < kBuckets)
                    b[static_cast<size_t>(i++)] = v;
            }
        return b;
    }();
    return values;
}

void Histogram::observe(double seconds)
{
    if (!(seconds >= 0))
        seconds = 0;
    const auto &b = bounds();
    const auto it = std::lower_bound(b.begin(), b.end(), seconds);
    const auto index = static_cast<size_t>(it - b.begin());
    m_counts[index].fetch_add(1, std::memory_order_relaxed);
    m_count.fetch_add(1, std::memory_order_relaxed);
    m_sumNs.fetch_add(static_cast<std::uint64_t>(seconds * 1e9), std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const
{
    Snapshot s;
    for (size_t i = 0; i < m_counts.size(); ++i) {
        s.counts[i] = m_counts[i].load(std::memory_order_relaxed);
        s.count += s.counts[i];
    }
    s.sum = static_cast<double>(m_sumNs.load(std::memory_order_relaxed)) / 1e9;
    return s;
}

Histogram::Snapshot Histogram::Snapshot::operator-(const Snapshot &older) const
{
    Snapshot d;
    for (size_t i = 0; i < counts.size(); ++i) {
        d.counts[i] = counts[i] >= older.counts[i] ? counts[i] - older.counts[i] : 0;
        d.count += d.counts[i];
    }
    d.sum = std::max(0.0, sum - older.sum);
    return d;
}

double Histogram::Snapshot::quantile(double q) const
{
    if (count == 0)
        return 0;
    q = std::clamp(q, 0.0, 1.0);
    const double rank = q * static_cast<double>(count);
    const auto &b = bounds();
    std::uint64_t seen = 0;
    for (size_t i = 0; i < counts.size(); ++i) {
        if (counts[i] == 0)
            continue;
        if (static_cast<double>(seen + counts[i]) >= rank) {
            const double lower = i == 0 ? 0.0 : b[i - 1];
            if (i >= b.size())
                return lower; // +Inf bucket: the best we can say is "above the last bound"
            const double upper = b[i];
            const double within = (rank - static_cast<double>(seen)) / static_cast<double>(counts[i]);
            return lower + (upper - lower) * std::clamp(within, 0.0, 1.0);
        }
        seen += counts[i];
    }
    return b.back();
}

MetricsRegistry::Child &MetricsRegistry::child(
    const QByteArray &name, const QByteArray &help, Type type, const Labels &labels)
{
    QMutexLocker lock(&m_mutex);
    Family *family = nullptr;
    for (Family &f : m_families)
        if (f.name == name) {
            family = &f;
            break;
        }
    if (!family) {
        m_families.push_back(Family {name, help, type, {}});
        family = &m_families.back();
    }
    if (family->help.isEmpty() && !help.isEmpty())
        family->help = help; // a reader (e.g. the sampler) may have looked the family up first
    for (Child &c : family->children)
        if (c.labels == labels)
            return c;
    family->children.push_back(Child {labels, nullptr, nullptr, nullptr, {}});
    Child &c = family->children.back();
    switch (type) {
    case Type::Counter:
        c.counter = std::make_unique<Counter>();
        break;
    case Type::Gauge:
        c.gauge = std::make_unique<Gauge>();
        break;
    case Type::Histogram:
        c.histogram = std::make_unique<Histogram>();
        break;
    }
    return c;
}

Counter &MetricsRegistry::counter(const QByteArray &name, const QByteArray &help, const Labels &labels)
{
    return *child(name, help, Type::Counter, labels).counter;
}

Gauge &MetricsRegistry::gauge(const QByteArray &name, const QByteArray &help, const Labels &labels)
{
    return *child(name, help, Type::Gauge, labels).gauge;
}

Histogram &MetricsRegistry::histogram(const QByteArray &name, const QByteArray &help, const Labels &labels)
{
    return *child(name, help, Type::Histogram, labels).histogram;
}

void MetricsRegistry::callbackGauge(
    const QByteArray &name, const QByteArray &help, const Labels &labels, std::function<double()> read)
{
    Child &c = child(name, help, Type::Gauge, labels);
    QMutexLocker lock(&m_mutex);
    c.read = std::move(read);
}

void MetricsRegistry::callbackCounter(
    const QByteArray &name, const QByteArray &help, const Labels &labels, std::function<double()> read)
{
    Child &c = child(name, help, Type::Counter, labels);
    QMutexLocker lock(&m_mutex);
    c.read = std::move(read);
}

std::uint64_t MetricsRegistry::counterTotal(const QByteArray &name) const
{
    QMutexLocker lock(&m_mutex);
    std::uint64_t total = 0;
    for (const Family &f : m_families)
        if (f.name == name)
            for (const Child &c : f.children)
                if (c.counter)
                    total += c.counter->value();
    return total;
}

namespace {
std::vector<prometheus::ClientMetric::Label> toLabels(const Labels &labels)
{
    std::vector<prometheus::ClientMetric::Label> out;
    out.reserve(static_cast<size_t>(labels.size()));
    for (const auto &[k, v] : labels)
        out.push_back({k.toStdString(), v.toStdString()});
    return out;
}
} // namespace

// The text format itself (escaping, number formatting, _bucket/_sum/_count, +Inf) is prometheus-cpp's
// TextSerializer, the Prometheus project's C++ client from Debian's archive. Our own lock-free
// primitives stay: the latency histogram also feeds the charts' percentiles, which needs its
// per-bucket snapshots and deltas (prometheus-cpp's Histogram offers neither).
QByteArray MetricsRegistry::exposition() const
{
    std::vector<prometheus::MetricFamily> families;
    {
        QMutexLocker lock(&m_mutex);
        families.reserve(m_families.size());
        const auto &b = Histogram::bounds();
        for (const Family &f : m_families) {
            prometheus::MetricFamily out;
            out.name = f.name.toStdString();
            out.help = f.help.toStdString();
            out.type = f.type == Type::Counter ? prometheus::MetricType::Counter
                : f.type == Type::Gauge        ? prometheus::MetricType::Gauge
                                               : prometheus::MetricType::Histogram;
            for (const Child &c : f.children) {
                prometheus::ClientMetric m;
                m.label = toLabels(c.labels);
                if (c.read) {
                    (f.type == Type::Counter ? m.counter.value : m.gauge.value) = c.read();
                } else if (c.counter) {
                    m.counter.value = static_cast<double>(c.counter->value());
                } else if (c.gauge) {
                    m.gauge.value = c.gauge->value();
                } else if (c.histogram) {
                    const Histogram::Snapshot s = c.histogram->snapshot();
                    std::uint64_t cumulative = 0;
                    m.histogram.bucket.reserve(b.size() + 1);
                    for (size_t i = 0; i < b.size(); ++i) {
                        cumulative += s.counts[i];
                        m.histogram.bucket.push_back({cumulative, b[i]});
                    }
                    cumulative += s.counts[b.size()];
                    m.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
                    m.histogram.sample_count = cumulative;
                    m.histogram.sample_sum = s.sum;
                }
                out.metric.push_back(std::move(m));
            }
            families.push_back(std::move(out));
        }
    }
    std::ostringstream text;
    prometheus::TextSerializer().Serialize(text, families);
    const std::string str = text.str();
    return QByteArray(str.data(), static_cast<qsizetype>(str.size()));
}

} // namespace vigil
