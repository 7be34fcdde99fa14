// Kernel benchmark driven by the op registry. For each case: time the Proctor
// kernel (and its vendor baseline where one exists) with CUDA events on one
// stream, then print a human-readable line and one JSON line:
//   {"bench":"kernels","op":...,"shape":...,"gpu":...,"time_us":...,
//    "gbps":...,"hbm_peak_gbps":...,"frac_hbm_peak":...,"tflops":...,
//    "baseline":...,"baseline_time_us":...,"ratio_vs_baseline":...}
// ratio_vs_baseline = baseline time / Proctor time (> 1: Proctor is faster).
// Exits 0 with a message when no CUDA device is present.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "kernels/cuda/gemm.cuh"
#include "kernels/cuda/op_registry.h"

// Flags are parsed by hand so that this binary needs nothing beyond the CUDA
// runtime and cuBLAS (scripts/gpu-check may build it on a bare GPU machine).
namespace proctor::kernels::cuda {
namespace {

struct BenchFlags {
  std::string filter;         // --filter=S: only cases whose name contains S
  double min_time_ms = 20.0;  // --min_time_ms=X: timed duration per case and variant
  int max_iters = 200;        // --max_iters=N: upper bound on timed iterations
};
BenchFlags flags;

// Returns false (after printing why) on an unknown or malformed flag.
bool ParseFlags(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* name) -> const char* {
      const std::string prefix = std::string("--") + name + "=";
      return arg.rfind(prefix, 0) == 0 ? argv[i] + prefix.size() : nullptr;
    };
    char* end = nullptr;
    if (const char* f = value("filter")) {
      flags.filter = f;
    } else if (const char* t = value("min_time_ms")) {
      flags.min_time_ms = std::strtod(t, &end);
      if (*end != '\0' || !(flags.min_time_ms > 0.0)) {
        std::fprintf(stderr, "bad --min_time_ms value '%s'\n", t);
        return false;
      }
    } else if (const char* m = value("max_iters")) {
      const long n = std::strtol(m, &end, 10);
      if (*end != '\0' || n < 1 || n > 1000000) {
        std::fprintf(stderr, "bad --max_iters value '%s'\n", m);
        return false;
      }
      flags.max_iters = static_cast<int>(n);
    } else {
      std::fprintf(stderr, "unknown flag '%s' (known: --filter= --min_time_ms= --max_iters=)\n",
                   argv[i]);
      return false;
    }
  }
  return true;
}

struct Timing {
  cudaError_t err = cudaSuccess;
  double us = 0.0;  // mean time of one run
};

template <typename Fn>
Timing TimeIt(Fn&& run, cudaStream_t stream) {
  Timing t;
  cudaEvent_t start = nullptr, stop = nullptr;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  // Warm up (first launch pays module loading and cuBLAS heuristics).
  for (int i = 0; i < 2 && t.err == cudaSuccess; ++i) t.err = run(stream);
  if (t.err == cudaSuccess) t.err = cudaStreamSynchronize(stream);
  // Estimate one run, then pick an iteration count that fills min_time_ms.
  float ms = 0.0f;
  if (t.err == cudaSuccess) {
    cudaEventRecord(start, stream);
    t.err = run(stream);
    cudaEventRecord(stop, stream);
    cudaEventSynchronize(stop);
    cudaEventElapsedTime(&ms, start, stop);
  }
  if (t.err == cudaSuccess) {
    const double target = flags.min_time_ms;
    const int iters =
        std::clamp(static_cast<int>(target / std::max(ms, 1e-3f)), 3, std::max(3, flags.max_iters));
    cudaEventRecord(start, stream);
    for (int i = 0; i < iters && t.err == cudaSuccess; ++i) t.err = run(stream);
    cudaEventRecord(stop, stream);
    if (t.err == cudaSuccess) t.err = cudaEventSynchronize(stop);
    cudaEventElapsedTime(&ms, start, stop);
    t.us = 1000.0 * static_cast<double>(ms) / iters;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return t;
}

// HBM peak in GB/s from the memory clock and bus width (DDR: 2 transfers per clock).
double HbmPeakGbps(int device) {
  int clock_khz = 0, bus_bits = 0;
  if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device) != cudaSuccess) {
    return 0.0;
  }
  return 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) / 1e9;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

int Main() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::printf("proctor_kernels_bench: no CUDA device, nothing to measure\n");
    return 0;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  const double peak = HbmPeakGbps(0);
  std::printf("GPU: %s (%d SMs, sm_%d%d), HBM peak %.0f GB/s; CPU: %s\n", prop.name,
              prop.multiProcessorCount, prop.major, prop.minor, peak, CpuModel().c_str());
  // Which GEMM kernel family the automatic dispatch uses (gemm.cuh, GemmImpl).
  std::printf("GEMM dispatch: m <= 64 -> sm80 mma.sync; m > 64 -> %s\n",
              GemmSm90aDisabledByEnv() ? "sm80 mma.sync (PROCTOR_CUDA_GEMM=sm80)"
              : GemmSm90aAvailable()   ? "sm90a wgmma + TMA"
                                       : "sm80 mma.sync (sm_90a path not available here)");
  std::printf("%-18s %-52s %10s %9s %7s %9s %12s %7s\n", "op", "shape", "time_us", "GB/s", "%HBM",
              "TFLOP/s", "baseline_us", "ratio");
  cudaStream_t stream = nullptr;
  if (cudaStreamCreate(&stream) != cudaSuccess) return 1;
  const std::string filter = flags.filter;
  int failures = 0;
  for (auto& c : MakeBenchCases()) {
    if (!filter.empty() && c->name().find(filter) == std::string::npos) continue;
    if (!c->Supported()) {
      std::printf("%s: not supported on this device or binary, skipped\n", c->name().c_str());
      continue;
    }
    if (cudaError_t err = c->Setup(); err != cudaSuccess) {
      std::printf("%s: setup failed: %s\n", c->name().c_str(), cudaGetErrorString(err));
      ++failures;
      continue;
    }
    const Timing mine = TimeIt([&](cudaStream_t s) { return c->Run(s); }, stream);
    if (mine.err != cudaSuccess) {
      std::printf("%s: run failed: %s\n", c->name().c_str(), cudaGetErrorString(mine.err));
      ++failures;
      continue;
    }
    Timing base;
    if (c->has_baseline()) base = TimeIt([&](cudaStream_t s) { return c->RunBaseline(s); }, stream);
    const bool have_base = c->has_baseline() && base.err == cudaSuccess && base.us > 0.0;
    const double gbps = c->bytes_moved() / (mine.us * 1e-6) / 1e9;
    const double tflops = c->flops() / (mine.us * 1e-6) / 1e12;
    const double frac = peak > 0.0 ? gbps / peak : 0.0;
    const double ratio = have_base ? base.us / mine.us : 0.0;
    std::printf("%-18s %-52s %10.1f %9.0f %6.1f%% %9.1f %12s %7s\n", c->op().c_str(),
                c->shape().c_str(), mine.us, gbps, 100.0 * frac, tflops,
                have_base ? std::to_string(base.us).substr(0, 8).c_str() : "-",
                have_base ? std::to_string(ratio).substr(0, 5).c_str() : "-");
    std::printf(
        "{\"bench\":\"kernels\",\"op\":\"%s\",\"shape\":\"%s\",\"gpu\":\"%s\",\"time_us\":%.3f,"
        "\"gbps\":%.1f,\"hbm_peak_gbps\":%.1f,\"frac_hbm_peak\":%.4f,\"tflops\":%.2f,"
        "\"baseline\":\"%s\",\"baseline_time_us\":%.3f,\"ratio_vs_baseline\":%.4f}\n",
        JsonEscape(c->op()).c_str(), JsonEscape(c->shape()).c_str(), JsonEscape(prop.name).c_str(),
        mine.us, gbps, peak, frac, tflops, have_base ? c->baseline_name().c_str() : "",
        have_base ? base.us : 0.0, ratio);
    std::fflush(stdout);
    c.reset();  // free this case's device memory before the next one
  }
  cudaStreamDestroy(stream);
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace proctor::kernels::cuda

int main(int argc, char** argv) {
  if (!proctor::kernels::cuda::ParseFlags(argc, argv)) return 2;
  return proctor::kernels::cuda::Main();
}
