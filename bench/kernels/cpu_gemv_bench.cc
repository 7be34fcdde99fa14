// proctor_cpu_gemv_bench: the matmuls of one SmolLM2-135M decode step on the
// CPU kernels (ops.h MatMul), with random weights in the GGUF block formats
// (reported, never asserted). Usage:
//   proctor_cpu_gemv_bench [--threads N] [--m M] [--steps S] [--isa avx2|avx512|portable]
//                          [--layer-format q4_1|q4_0|q8_0|f32|f16|bf16|q4_k|q6_k]
//                          [--out-format q8_0|...] [--layers L] [--vocab V]
//                          [--hidden H] [--ffn F]
// One step = 30 layers x (q 576x576, k 192x576, v 192x576, o 576x576,
// gate 1536x576, up 1536x576, down 576x1536) + the output projection
// 49152x576, every layer with its own weights (66 MiB of Q4_1 + 30 MiB of
// Q8_0: as in the real model, the step streams them from DRAM). M activation
// rows per matmul (1 = decode; 2..8 = batched decode). Prints per matrix
// class: milliseconds per step (wall and CPU), multiply-adds per second and
// weight bytes per second, then the same for a plain read of every weight
// byte (the memory-bandwidth ceiling), and one JSON line. Fewer --layers and
// a smaller --vocab keep the weights in cache (the kernels' compute rate).
// --hidden / --ffn change the shapes (k-quants need multiples of 256, e.g.
// --hidden 768 --ffn 2048; k/v rows are hidden / 3).
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/reference.h"
#include "kernels/cpu/thread_pool.h"

namespace proctor::kernels {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double CpuNow() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

bool ParseFormat(const std::string& s, WeightFormat* f) {
  for (WeightFormat c :
       {WeightFormat::kF32, WeightFormat::kF16, WeightFormat::kBF16, WeightFormat::kQ8_0,
        WeightFormat::kQ4_0, WeightFormat::kQ4_1, WeightFormat::kQ4_K, WeightFormat::kQ6_K}) {
    std::string name = WeightFormatName(c);
    for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (name == s) {
      *f = c;
      return true;
    }
  }
  return false;
}

// Random bytes with every F16 scale field replaced by a small finite value
// (the scales sit at the start of Q8_0/Q4_0/Q4_1 blocks and at the end of
// Q6_K's; Q4_K's d/dmin at its start). F16/BF16/F32 get finite values.
std::vector<uint8_t> RandomWeights(WeightFormat f, int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t bytes = rows * RowBytes(f, cols);
  std::vector<uint8_t> raw(static_cast<size_t>(bytes));
  for (auto& b : raw) b = static_cast<uint8_t>(rng());
  auto put_half = [&](int64_t at, float v) {
    const uint16_t h = ref::FloatToHalf(v);
    raw[static_cast<size_t>(at)] = static_cast<uint8_t>(h & 0xff);
    raw[static_cast<size_t>(at + 1)] = static_cast<uint8_t>(h >> 8);
  };
  auto small = [&] { return 0.001f * static_cast<float>(rng() % 64 + 1); };
  const int64_t bb = BlockBytes(f);
  switch (f) {
    case WeightFormat::kF32:
      for (int64_t at = 0; at < bytes; at += 4) {
        const float v = small() - 0.032f;
        std::memcpy(&raw[static_cast<size_t>(at)], &v, 4);
      }
      break;
    case WeightFormat::kF16:
      for (int64_t at = 0; at < bytes; at += 2) put_half(at, small() - 0.032f);
      break;
    case WeightFormat::kBF16:
      for (int64_t at = 1; at < bytes; at += 2) raw[static_cast<size_t>(at)] &= 0xbf;  // |x| < 2
      break;
    case WeightFormat::kQ8_0:
    case WeightFormat::kQ4_0:
      for (int64_t at = 0; at < bytes; at += bb) put_half(at, small());
      break;
    case WeightFormat::kQ4_1:
    case WeightFormat::kQ4_K:
      for (int64_t at = 0; at < bytes; at += bb) {
        put_half(at, small());
        put_half(at + 2, -small());
      }
      break;
    case WeightFormat::kQ6_K:
      for (int64_t at = 0; at < bytes; at += bb) put_half(at + bb - 2, small());
      break;
  }
  return raw;
}

struct Matrix {
  const char* cls;
  std::vector<uint8_t> raw;
  WeightMatrix w;
};

struct ClassTotal {
  const char* cls;
  double wall = 0, macs = 0, bytes = 0;
};

int Main(int argc, char** argv) {
  int threads = 1, steps = 20, layers = 30;
  int64_t vocab = 49152, hidden = 576, ffn = 1536;
  int64_t m = 1;
  WeightFormat layer_format = WeightFormat::kQ4_1, out_format = WeightFormat::kQ8_0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--threads" && v) {
      threads = std::atoi(v), ++i;
    } else if (a == "--m" && v) {
      m = std::atoll(v), ++i;
    } else if (a == "--layers" && v) {
      layers = std::atoi(v), ++i;
    } else if (a == "--hidden" && v) {
      hidden = std::atoll(v), ++i;
    } else if (a == "--ffn" && v) {
      ffn = std::atoll(v), ++i;
    } else if (a == "--vocab" && v) {
      vocab = std::atoll(v), ++i;
    } else if (a == "--steps" && v) {
      steps = std::atoi(v), ++i;
    } else if (a == "--isa" && v) {
      const std::string s = v;
      SetIsaForTest(s == "portable" ? Isa::kPortable : s == "avx2" ? Isa::kAvx2 : Isa::kAvx512);
      ++i;
    } else if (a == "--layer-format" && v && ParseFormat(v, &layer_format)) {
      ++i;
    } else if (a == "--out-format" && v && ParseFormat(v, &out_format)) {
      ++i;
    } else {
      std::fprintf(stderr, "unknown or incomplete flag %s\n", a.c_str());
      return 2;
    }
  }
  if (threads < 1 || m < 1 || steps < 1 || layers < 0 || vocab < 0) return 2;

  const int64_t kHidden = hidden, kKv = hidden / 3, kFfn = ffn;
  for (int64_t cols : {kHidden, kFfn}) {
    for (WeightFormat f : {layer_format, out_format}) {
      if (hidden < 3 || cols % BlockValues(f) != 0) {
        std::fprintf(stderr, "%s needs rows of a multiple of %lld values; got %lld\n",
                     WeightFormatName(f), static_cast<long long>(BlockValues(f)),
                     static_cast<long long>(cols));
        return 2;
      }
    }
  }
  struct Shape {
    const char* cls;
    int64_t rows, cols;
  };
  const Shape layer[] = {{"attn q/o", kHidden, kHidden}, {"attn k/v", kKv, kHidden},
                         {"attn k/v", kKv, kHidden},     {"attn q/o", kHidden, kHidden},
                         {"ffn gate/up", kFfn, kHidden}, {"ffn gate/up", kFfn, kHidden},
                         {"ffn down", kHidden, kFfn}};
  std::vector<Matrix> mats;
  uint32_t seed = 1;
  for (int l = 0; l < layers; ++l) {
    for (const Shape& s : layer) {
      mats.push_back({s.cls, RandomWeights(layer_format, s.rows, s.cols, ++seed), {}});
      mats.back().w = WeightMatrix{layer_format, mats.back().raw.data(), s.rows, s.cols};
    }
  }
  if (vocab > 0) {
    mats.push_back({"output", RandomWeights(out_format, vocab, kHidden, ++seed), {}});
    mats.back().w = WeightMatrix{out_format, mats.back().raw.data(), vocab, kHidden};
  }

  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(m * kFfn)),
      out(static_cast<size_t>(m * std::max<int64_t>(vocab, kFfn)));
  for (float& e : x) e = nd(rng);

  ThreadPool pool(threads);
  ThreadPool* p = threads > 1 ? &pool : nullptr;
  std::vector<ClassTotal> totals;
  auto total_of = [&](const char* cls) -> ClassTotal& {
    for (ClassTotal& t : totals) {
      if (std::strcmp(t.cls, cls) == 0) return t;
    }
    totals.push_back({cls});
    return totals.back();
  };
  for (const Matrix& mt : mats) total_of(mt.cls);
  double weight_bytes = 0;
  for (const Matrix& mt : mats) weight_bytes += static_cast<double>(mt.raw.size());

  // One warm-up step, then `steps` timed ones.
  double wall = 0, cpu = 0;
  for (int s = 0; s <= steps; ++s) {
    const double t0 = Now(), c0 = CpuNow();
    for (const Matrix& mt : mats) {
      const double a = Now();
      MatMul(x.data(), m, mt.w, nullptr, out.data(), p);
      if (s > 0) {
        ClassTotal& t = total_of(mt.cls);
        t.wall += Now() - a;
        t.macs += static_cast<double>(m * mt.w.rows * mt.w.cols);
        t.bytes += static_cast<double>(mt.raw.size());
      }
    }
    if (s > 0) wall += Now() - t0, cpu += CpuNow() - c0;
  }

  // The bandwidth ceiling: read every weight byte once per step, split over
  // the same threads.
  volatile uint64_t sink = 0;
  double read_wall = 0;
  for (int s = 0; s <= steps; ++s) {
    const double t0 = Now();
    for (const Matrix& mt : mats) {
      const int64_t words = static_cast<int64_t>(mt.raw.size() / 8);
      auto body = [&](int64_t b, int64_t e) {
        uint64_t acc = 0;
        const uint8_t* base = mt.raw.data();
        for (int64_t i = b; i < e; ++i) {
          uint64_t v;
          std::memcpy(&v, base + i * 8, 8);
          acc += v;
        }
        sink = sink + acc;
      };
      if (p != nullptr) {
        p->ParallelFor(words, body, 4096);
      } else {
        body(0, words);
      }
    }
    if (s > 0) read_wall += Now() - t0;
  }

  std::printf("proctor_cpu_gemv_bench: isa=%s threads=%d m=%lld steps=%d layer=%s out=%s\n",
              IsaName(ActiveIsa()), threads, static_cast<long long>(m), steps,
              WeightFormatName(layer_format), WeightFormatName(out_format));
  for (const ClassTotal& t : totals) {
    std::printf("  %-12s %7.3f ms/step  %6.2f GMAC/s  %6.2f GB/s\n", t.cls, 1e3 * t.wall / steps,
                t.macs / t.wall * 1e-9, t.bytes / t.wall * 1e-9);
  }
  std::printf("  step: %.3f ms wall, %.3f ms cpu (%.1f steps/s, %.1f steps/cpu-s)\n",
              1e3 * wall / steps, 1e3 * cpu / steps, steps / wall, steps / cpu);
  std::printf("  plain read of the %.1f MiB of weights: %.3f ms/step = %.2f GB/s\n",
              weight_bytes / (1 << 20), 1e3 * read_wall / steps,
              weight_bytes * steps / read_wall * 1e-9);
  std::printf(
      "{\"bench\":\"cpu_gemv\",\"isa\":\"%s\",\"threads\":%d,\"m\":%lld,\"step_ms\":%.4f,"
      "\"step_cpu_ms\":%.4f,\"read_ms\":%.4f}\n",
      IsaName(ActiveIsa()), threads, static_cast<long long>(m), 1e3 * wall / steps,
      1e3 * cpu / steps, 1e3 * read_wall / steps);
  return 0;
}

}  // namespace
}  // namespace proctor::kernels

int main(int argc, char** argv) { return proctor::kernels::Main(argc, argv); }
