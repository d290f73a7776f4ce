// Latency histogram of ringcast-load: log-linear buckets (HdrHistogram's layout at a fixed precision),
// so recording is one index computation and one add, and merging the workers' histograms is a sum.
// Pure: the counts live wherever the caller puts them (the workers keep theirs in shared memory).
#pragma once

#include <bit>
#include <cstdint>

namespace ringcast::load::histogram {

// 128 linear steps per power of two: a bucket is at most 1/128 (0.8%) of its value wide, so every
// reported figure has better than two significant digits. Values below 256 ns are counted exactly.
constexpr uint32_t kSubBits = 7;
constexpr uint32_t kSubBuckets = 1u << kSubBits;
constexpr uint32_t kExactBelow = 2 * kSubBuckets;  // 256
constexpr uint32_t kFirstExponent = kSubBits + 1;  // log2(kExactBelow)
// 2^40 ns is about 1,100 s, comfortably above the 100 s a run can measure; larger values are clamped.
constexpr uint32_t kLastExponent = 39;
constexpr uint64_t kValueMax = (uint64_t{1} << (kLastExponent + 1)) - 1;
constexpr uint32_t kBuckets = kExactBelow + (kLastExponent - kFirstExponent + 1) * kSubBuckets;

constexpr uint32_t bucket_of(uint64_t value_ns) {
  if (value_ns < kExactBelow) return static_cast<uint32_t>(value_ns);
  if (value_ns > kValueMax) value_ns = kValueMax;
  const uint32_t exponent = 63 - static_cast<uint32_t>(std::countl_zero(value_ns));
  const uint32_t sub = static_cast<uint32_t>(value_ns >> (exponent - kSubBits)) - kSubBuckets;
  return kExactBelow + (exponent - kFirstExponent) * kSubBuckets + sub;
}

constexpr uint64_t bucket_low(uint32_t bucket) {
  if (bucket < kExactBelow) return bucket;
  const uint32_t exponent = kFirstExponent + (bucket - kExactBelow) / kSubBuckets;
  const uint64_t sub = (bucket - kExactBelow) % kSubBuckets;
  return (kSubBuckets + sub) << (exponent - kSubBits);
}

constexpr uint64_t bucket_width(uint32_t bucket) {
  if (bucket < kExactBelow) return 1;
  const uint32_t exponent = kFirstExponent + (bucket - kExactBelow) / kSubBuckets;
  return uint64_t{1} << (exponent - kSubBits);
}

// The value reported for a bucket: its middle, which halves the worst-case error.
constexpr uint64_t bucket_value(uint32_t bucket) {
  return bucket_low(bucket) + (bucket_width(bucket) - 1) / 2;
}

static_assert(bucket_of(kExactBelow - 1) == kExactBelow - 1);
static_assert(bucket_of(kValueMax) == kBuckets - 1);
static_assert(bucket_low(bucket_of(1'000'000)) <= 1'000'000 &&
              1'000'000 < bucket_low(bucket_of(1'000'000)) + bucket_width(bucket_of(1'000'000)));

// The value at quantile q (0 < q <= 1) of counts[0..kBuckets): the bucket holding the sample of
// rank ceil(q * total). `count_at(i)` reads bucket i. Returns 0 for an empty histogram.
template <class CountAt>
uint64_t quantile(CountAt&& count_at, double q) {
  uint64_t total = 0;
  for (uint32_t i = 0; i < kBuckets; ++i) total += count_at(i);
  if (total == 0) return 0;
  double wanted = q * static_cast<double>(total);
  uint64_t rank = static_cast<uint64_t>(wanted);
  if (static_cast<double>(rank) < wanted) ++rank;
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (uint32_t i = 0; i < kBuckets; ++i) {
    seen += count_at(i);
    if (seen >= rank) return bucket_value(i);
  }
  return bucket_value(kBuckets - 1);
}

}  // namespace ringcast::load::histogram
