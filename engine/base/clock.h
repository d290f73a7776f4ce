// The engine's clocks, behind a seam chosen at build time like the I/O (engine/shard/io.h): the real
// CLOCK_MONOTONIC and CLOCK_REALTIME in the server; in the deterministic simulation (RINGCAST_SIM)
// the simulator's virtual time, so that every time that feeds a decision (timers, merge windows,
// history TTL, publish times, token expiry, Nano's servertime) is the simulation's own.
#pragma once

#include <cstdint>

namespace ringcast::clock {

// Nanoseconds of CLOCK_MONOTONIC: deadlines, merge windows, publish times (history TTL, latency).
int64_t monotonic_ns();
// Seconds since the epoch (CLOCK_REALTIME): connect tokens' exp/nbf, Nano's handshake servertime.
// The token's issuer and this node share the wall clock through NTP.
int64_t wall_s();

#ifdef RINGCAST_SIM
// The simulation's virtual CLOCK_MONOTONIC, read through this pointer from then on. Its wall clock is
// a fixed date plus the virtual time.
void simulate(const int64_t* now_ns);
#endif

}  // namespace ringcast::clock
