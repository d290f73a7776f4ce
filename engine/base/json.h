// The one place simdjson is included from. simdjson 3.0's single header uses assert() without
// including <cassert> in builds without NDEBUG (our sanitizer builds), so it is included first here.
#pragma once

#include <cassert>

#include <simdjson.h>
