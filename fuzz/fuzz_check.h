#pragma once
// Property checks for the fuzz harnesses: a broken property aborts with the file and line, so
// libFuzzer records the input as a crash and the replay test (replay_main.cpp) fails, with or
// without sanitizers and whatever NDEBUG says.
#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                              \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)
