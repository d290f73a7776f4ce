// Assertions for programmer errors. They stay on in release builds (TigerBeetle's rule): a broken
// invariant in a push server must stop the process loudly, not corrupt what it sends.
#pragma once

#include <cstdio>
#include <cstdlib>

#define RC_ASSERT(cond)                                                                      \
  do {                                                                                       \
    if (__builtin_expect(!(cond), 0)) {                                                      \
      std::fprintf(stderr, "ringcast: assertion failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)
