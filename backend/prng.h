#pragma once

#include <cstdint>

namespace vigil {

// Our own PRNG and distribution maths, so a seeded run is the same on every platform
// (std::uniform_real_distribution and friends differ between standard libraries).
// xoshiro256** seeded through SplitMix64.
class Prng final
{
public:
    explicit Prng(std::uint64_t seed = 0x9E3779B97F4A7C15ULL) { reseed(seed); }

    void reseed(std::uint64_t seed)
    {
        for (auto &word : m_s)
            word = splitMix64(seed);
    }

    std::uint64_t next()
    {
        const std::uint64_t result = rotl(m_s[1] * 5, 7) * 9;
        const std::uint64_t t = m_s[1] << 17;
        m_s[2] ^= m_s[0];
        m_s[3] ^= m_s[1];
        m_s[1] ^= m_s[2];
        m_s[0] ^= m_s[3];
        m_s[2] ^= t;
        m_s[3] = rotl(m_s[3], 45);
        return result;
    }

    // Uniform in [0, 1) with 53 random bits.
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    // Uniform integer in [0, n) (n > 0); multiply-shift, bias below 2^-32 for n < 2^32.
    std::uint64_t below(std::uint64_t n) { return static_cast<std::uint64_t>(uniform() * static_cast<double>(n)); }
    bool chance(double p) { return uniform() < p; }

    static std::uint64_t splitMix64(std::uint64_t &state)
    {
        std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    // A stateless hash of (seed, index) to [0,1): for values that must not depend on call order.
    static double hashUniform(std::uint64_t seed, std::uint64_t index)
    {
        std::uint64_t state = seed ^ (index * 0xD1B54A32D192ED03ULL);
        return static_cast<double>(splitMix64(state) >> 11) * 0x1.0p-53;
    }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    std::uint64_t m_s[4] {};
};

} // namespace vigil
