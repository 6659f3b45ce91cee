#pragma once

#include <QByteArray>
#include <QList>
#include <QMutex>
#include <QPair>

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

namespace vigil {

using Labels = QList<QPair<QByteArray, QByteArray>>;

class Counter final
{
public:
    void inc(std::uint64_t n = 1) { m_value.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t value() const { return m_value.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> m_value {0};
};

class Gauge final
{
public:
    void set(double v) { m_value.store(v, std::memory_order_relaxed); }
    double value() const { return m_value.load(std::memory_order_relaxed); }

private:
    std::atomic<double> m_value {0};
};

// Log-bucketed latency histogram (seconds): 1, 1.5, 2, 3, 5, 7 per decade from 50 µs to 30 s.
// Lock-free to observe; the same buckets feed /metrics and the percentiles the charts draw, so
// both always agree.
class Histogram final
{
public:
    static constexpr int kBuckets = 36; // finite upper bounds; one more slot for +Inf
    static const std::array<double, kBuckets> &bounds();

    struct Snapshot
    {
        std::array<std::uint64_t, kBuckets + 1> counts {}; // per bucket, not cumulative
        std::uint64_t count = 0;
        double sum = 0; // seconds

        Snapshot operator-(const Snapshot &older) const;
        // q in [0,1]; linear interpolation inside the bucket; 0 when empty.
        double quantile(double q) const;
    };

    void observe(double seconds);
    Snapshot snapshot() const;

private:
    std::array<std::atomic<std::uint64_t>, kBuckets + 1> m_counts {};
    std::atomic<std::uint64_t> m_count {0};
    std::atomic<std::uint64_t> m_sumNs {0};
};

// Prometheus text exposition (prometheus-cpp's TextSerializer) over counters, gauges and histograms created on first
// use. Children are never destroyed, so callers may keep the returned references for the life of the registry (do that
// on hot paths: lookup takes a mutex).
class MetricsRegistry final
{
public:
    MetricsRegistry() = default;
    MetricsRegistry(const MetricsRegistry &) = delete;
    MetricsRegistry &operator=(const MetricsRegistry &) = delete;

    Counter &counter(const QByteArray &name, const QByteArray &help, const Labels &labels = {});
    Gauge &gauge(const QByteArray &name, const QByteArray &help, const Labels &labels = {});
    Histogram &histogram(const QByteArray &name, const QByteArray &help, const Labels &labels = {});
    // A gauge read when scraped (e.g. process metrics, queue depth held elsewhere).
    void callbackGauge(
        const QByteArray &name, const QByteArray &help, const Labels &labels, std::function<double()> read);
    // Families whose type is counter but whose value is computed (e.g. process_cpu_seconds_total).
    void callbackCounter(
        const QByteArray &name, const QByteArray &help, const Labels &labels, std::function<double()> read);

    QByteArray exposition() const;

    // Sum of a counter family over all label sets (0 if unknown).
    std::uint64_t counterTotal(const QByteArray &name) const;

private:
    enum class Type { Counter, Gauge, Histogram };
    struct Child
    {
        Labels labels;
        std::unique_ptr<Counter> counter;
        std::unique_ptr<Gauge> gauge;
        std::unique_ptr<Histogram> histogram;
        std::function<double()> read;
    };
    struct Family
    {
        QByteArray name;
        QByteArray help;
        Type type;
        std::deque<Child> children;
    };
    Child &child(const QByteArray &name, const QByteArray &help, Type type, const Labels &labels);

    mutable QMutex m_mutex;
    std::deque<Family> m_families;
};

} // namespace vigil
