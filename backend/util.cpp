#include "util.h"

#include <chrono>

namespace vigil {

std::int64_t steadyNowNs()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::int64_t wallNowMs()
{
    return QDateTime::currentMSecsSinceEpoch();
}

QString isoUtc(std::int64_t epochMs, bool withMs)
{
    return isoUtc(QDateTime::fromMSecsSinceEpoch(epochMs, Qt::UTC), withMs);
}

QString isoUtc(const QDateTime &t, bool withMs)
{
    return t.toUTC().toString(withMs ? Qt::ISODateWithMs : Qt::ISODate);
}

} // namespace vigil
