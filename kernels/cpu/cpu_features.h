// Which SIMD instruction sets the CPU kernels use, chosen once at run time
// (never at compile time: binaries built here run on CPUs without AVX-512).
//
// Thread-safety: ActiveIsa() may be called from any thread. SetIsaForTest
// must not run concurrently with kernels (tests call it between cases).
#ifndef PROCTOR_KERNELS_CPU_CPU_FEATURES_H_
#define PROCTOR_KERNELS_CPU_CPU_FEATURES_H_

namespace proctor::kernels {

// Ordered: each level implies the ones below it.
enum class Isa : int {
  kPortable = 0,  // plain C++ (the reference decoders, 8-way float dot)
  kAvx2 = 1,      // AVX2 + FMA + F16C
  kAvx512 = 2,    // AVX-512 F/BW/VL/DQ on top of kAvx2
};

// The best level this CPU supports (cpuid via __builtin_cpu_supports).
Isa DetectedIsa();

// The level kernels dispatch on: DetectedIsa() unless lowered for a test.
Isa ActiveIsa();

// Makes kernels use min(isa, DetectedIsa()) and returns the previous active
// level. For tests that exercise every path on one machine.
Isa SetIsaForTest(Isa isa);

// "portable", "avx2" or "avx512".
const char* IsaName(Isa isa);

}  // namespace proctor::kernels

#endif  // PROCTOR_KERNELS_CPU_CPU_FEATURES_H_
