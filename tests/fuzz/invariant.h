// What every fuzz target does when an invariant breaks: say which one and with what input, then abort
// (libFuzzer saves the input as a crash artifact).
#pragma once

#include <QByteArray>

#include <cstdio>
#include <cstdlib>

namespace vigil::fuzz {

[[noreturn]] inline void fail(const char *what, const QByteArray &input)
{
    std::fprintf(stderr, "invariant violated: %s\ninput: %s\n", what, input.toPercentEncoding().constData());
    std::abort();
}

inline void check(bool condition, const char *what, const QByteArray &input)
{
    if (!condition)
        fail(what, input);
}

} // namespace vigil::fuzz
