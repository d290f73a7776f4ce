// The clocks (see clock.h): two system calls in the server, the simulator's counter in ringcast-sim.
#include "engine/base/clock.h"

#include <time.h>

#include "engine/base/check.h"

namespace ringcast::clock {

#ifdef RINGCAST_SIM

namespace {
const int64_t* simulated_now_ns = nullptr;  // ringcast-sim only: the simulator owns the one clock
constexpr int64_t kSimulatedEpochS = 1'800'000'000;  // 2027-01-15, any fixed date will do
}  // namespace

void simulate(const int64_t* now_ns) { simulated_now_ns = now_ns; }

int64_t monotonic_ns() {
  RC_ASSERT(simulated_now_ns != nullptr);
  return *simulated_now_ns;
}

int64_t wall_s() { return kSimulatedEpochS + monotonic_ns() / 1'000'000'000; }

#else

int64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int64_t wall_s() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec);
}

#endif

}  // namespace ringcast::clock
