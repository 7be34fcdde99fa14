#include "kernels/cpu/cpu_features.h"

#include <algorithm>
#include <atomic>

namespace proctor::kernels {
namespace {

Isa Detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("f16c");
  if (!avx2) return Isa::kPortable;
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  return avx512 ? Isa::kAvx512 : Isa::kAvx2;
#else
  return Isa::kPortable;
#endif
}

const Isa kDetected = Detect();
std::atomic<int> g_active{static_cast<int>(kDetected)};

}  // namespace

Isa DetectedIsa() { return kDetected; }

Isa ActiveIsa() { return static_cast<Isa>(g_active.load(std::memory_order_relaxed)); }

Isa SetIsaForTest(Isa isa) {
  const int want = std::min(static_cast<int>(isa), static_cast<int>(kDetected));
  return static_cast<Isa>(g_active.exchange(want, std::memory_order_relaxed));
}

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kPortable:
      return "portable";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "?";
}

}  // namespace proctor::kernels
