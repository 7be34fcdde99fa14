// Registry cases: GEMM with BF16 or FP16 inputs (F32 or 16-bit output,
// optional bias / residual epilogue) and the BF16 gate/up projection with fused SwiGLU, each either
// through the automatic dispatch or forced onto one kernel family (GemmImpl: the sm_90a cases only
// run on compute capability 9.0), with cuBLAS (cublasGemmEx, same input type, F32 compute) as the
// baseline.
#include <cublas_v2.h>

#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/cpu/reference.h"
#include "kernels/cuda/gemm.cuh"
#include "kernels/cuda/op_registry.h"

namespace proctor::kernels::cuda {
namespace {

// " impl=sm80" / " impl=sm90a" for a forced kernel family, "" for kAuto.
std::string ImplSuffix(GemmImpl impl) {
  switch (impl) {
    case GemmImpl::kSm80:
      return " impl=sm80";
    case GemmImpl::kSm90a:
      return " impl=sm90a";
    case GemmImpl::kAuto:
      break;
  }
  return "";
}

bool ImplSupported(GemmImpl impl) { return impl != GemmImpl::kSm90a || GemmSm90aAvailable(); }

// Host encoding of the 16-bit input types (round to nearest even).
template <typename T>
struct Elem16;
template <>
struct Elem16<__nv_bfloat16> {
  static constexpr const char* kName = "bf16";
  static constexpr cudaDataType_t kCuda = CUDA_R_16BF;
  static uint16_t Encode(float f) { return HostFloatToBf16(f); }
  static float Decode(uint16_t h) { return HostBf16ToFloat(h); }
};
template <>
struct Elem16<__half> {
  static constexpr const char* kName = "f16";
  static constexpr cudaDataType_t kCuda = CUDA_R_16F;
  static uint16_t Encode(float f) { return ref::FloatToHalf(f); }
  static float Decode(uint16_t h) { return ref::HalfToFloat(h); }
};

template <typename T>
std::vector<uint16_t> Encode16(const std::vector<float>& x) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) return ToBf16(x);  // multi-threaded
  std::vector<uint16_t> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = Elem16<T>::Encode(x[i]);
  return out;
}
template <typename T>
std::vector<float> Decode16(const std::vector<uint16_t>& x) {
  std::vector<float> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = Elem16<T>::Decode(x[i]);
  return out;
}

// Random 16-bit weights, remembered for the last (type, size, range, seed)
// asked for: the benchmark lists each weight shape at several m one after
// the other, and generating a 0.5-billion-element matrix on the host takes
// seconds. The registry is used from one thread (op_registry.h), so a plain
// static is safe.
template <typename T>
std::shared_ptr<const std::vector<uint16_t>> RandomWeights(size_t n, float lo, float hi,
                                                           uint64_t seed) {
  struct Key {
    bool f16;
    size_t n;
    float lo, hi;
    uint64_t seed;
    bool operator==(const Key& o) const {
      return f16 == o.f16 && n == o.n && lo == o.lo && hi == o.hi && seed == o.seed;
    }
  };
  static Key last_key{false, 0, 0.0f, 0.0f, 0};
  static std::shared_ptr<const std::vector<uint16_t>> last;
  const Key key{std::is_same_v<T, __half>, n, lo, hi, seed};
  if (last == nullptr || !(last_key == key)) {
    last.reset();  // free the previous matrix before building the next
    last =
        std::make_shared<const std::vector<uint16_t>>(Encode16<T>(RandomUniform(n, lo, hi, seed)));
    last_key = key;
  }
  return last;
}

// C = A B^T (+ bias) (+ residual) with InT inputs (__nv_bfloat16: GemmBf16,
// __half: GemmF16) and OutT = float or InT.
template <typename InT, typename OutT>
class GemmCase : public OpCase {
 public:
  static constexpr bool kF32Out = std::is_same_v<OutT, float>;
  static constexpr bool kF16In = std::is_same_v<InT, __half>;
  // in_place: the residual is C itself (residual == c, the in-place add the
  // contract allows); implies `residual`.
  GemmCase(int64_t m, int64_t n, int64_t k, bool bias, bool residual,
           GemmImpl impl = GemmImpl::kAuto, bool in_place = false)
      : m_(m),
        n_(n),
        k_(k),
        bias_(bias),
        residual_(residual || in_place),
        in_place_(in_place),
        impl_(impl) {}
  ~GemmCase() override {
    if (cublas_ != nullptr) cublasDestroy(cublas_);
  }
  std::string op() const override { return "gemm"; }
  std::string shape() const override {
    std::string s = "m=" + std::to_string(m_) + " n=" + std::to_string(n_) +
                    " k=" + std::to_string(k_) + (kF16In ? " in=f16" : "") +
                    " out=" + (kF32Out ? "f32" : Elem16<InT>::kName);
    if (bias_) s += " +bias";
    if (residual_) s += in_place_ ? " +residual=c" : " +residual";
    return s + ImplSuffix(impl_);
  }
  bool Supported() const override { return ImplSupported(impl_); }
  cudaError_t Setup() override {
    a_ = Encode16<InT>(RandomUniform(static_cast<size_t>(m_ * k_), -1.0f, 1.0f, 71 + m_));
    b_ = RandomWeights<InT>(static_cast<size_t>(n_ * k_), -1.0f, 1.0f, 72 + n_);
    PROCTOR_CUDA_RETURN_IF_ERROR(da_.Upload(a_));
    PROCTOR_CUDA_RETURN_IF_ERROR(db_.Upload(*b_));
    PROCTOR_CUDA_RETURN_IF_ERROR(dc_.Allocate(static_cast<size_t>(m_ * n_) * sizeof(OutT)));
    if (bias_) {
      bias_host_ = Encode16<InT>(RandomUniform(static_cast<size_t>(n_), -1.0f, 1.0f, 73));
      PROCTOR_CUDA_RETURN_IF_ERROR(dbias_.Upload(bias_host_));
    }
    if (residual_) {
      const std::vector<float> r = RandomUniform(static_cast<size_t>(m_ * n_), -2.0f, 2.0f, 74);
      DeviceBuffer& dst = in_place_ ? dc_ : dres_;
      if constexpr (kF32Out) {
        residual_host_ = r;
        PROCTOR_CUDA_RETURN_IF_ERROR(dst.Upload(r));
      } else {
        const std::vector<uint16_t> rb = Encode16<InT>(r);
        residual_host_ = Decode16<InT>(rb);
        PROCTOR_CUDA_RETURN_IF_ERROR(dst.Upload(rb));
      }
    }
    return cudaSuccess;
  }
  cudaError_t Run(cudaStream_t stream) override {
    const InT* bias = bias_ ? dbias_.as<InT>() : nullptr;
    const OutT* residual = residual_ ? (in_place_ ? dc_ : dres_).as<OutT>() : nullptr;
    if constexpr (kF16In) {
      return GemmF16(da_.as<InT>(), db_.as<InT>(), dc_.as<OutT>(), residual, bias, m_, n_, k_,
                     stream, impl_);
    } else {
      return GemmBf16(da_.as<InT>(), db_.as<InT>(), dc_.as<OutT>(), residual, bias, m_, n_, k_,
                      stream, impl_);
    }
  }
  OpCheck Check() override {
    OpCheck c;
    std::vector<float> got(static_cast<size_t>(m_ * n_));
    if constexpr (kF32Out) {
      if (cudaError_t err = dc_.Download(&got); err != cudaSuccess) {
        c.error = CudaErrorText("download", err);
        return c;
      }
    } else {
      std::vector<uint16_t> raw(got.size());
      if (cudaError_t err = dc_.Download(&raw); err != cudaSuccess) {
        c.error = CudaErrorText("download", err);
        return c;
      }
      got = Decode16<InT>(raw);
    }
    const std::vector<float> a = Decode16<InT>(a_), b = Decode16<InT>(*b_);
    std::vector<float> want(got.size());
    ref::Gemm(a.data(), b.data(), want.data(), m_, n_, k_);
    for (int64_t i = 0; i < m_; ++i) {
      for (int64_t j = 0; j < n_; ++j) {
        float& w = want[static_cast<size_t>(i * n_ + j)];
        if (bias_) w += Elem16<InT>::Decode(bias_host_[static_cast<size_t>(j)]);
        if (residual_) w += residual_host_[static_cast<size_t>(i * n_ + j)];
      }
    }
    // Naive same-precision GEMM: F32 accumulation, one rounding of C to the
    // input type (also for F32 output, where only the summation order differs).
    std::vector<float> naive = want;
    for (float& v : naive) v = Elem16<InT>::Decode(Elem16<InT>::Encode(v));
    c.max_err = MaxAbsError(got, want);
    c.naive_err = MaxAbsError(naive, want);
    // Floor: F32 summation in a different order, ~k * 2^-24 * sum|a*b|.
    c.tolerance = 2.0 * c.naive_err + 1e-6 * static_cast<double>(k_);
    return c;
  }
  double bytes_moved() const override {
    return 2.0 * static_cast<double>(m_ * k_ + n_ * k_) +
           static_cast<double>(sizeof(OutT)) * static_cast<double>(m_ * n_);
  }
  double flops() const override {
    return 2.0 * static_cast<double>(m_) * static_cast<double>(n_) * static_cast<double>(k_);
  }
  bool has_baseline() const override { return !bias_ && !residual_; }
  std::string baseline_name() const override { return "cublasGemmEx"; }
  cudaError_t RunBaseline(cudaStream_t stream) override {
    if (cublas_ == nullptr) {
      if (cublasCreate(&cublas_) != CUBLAS_STATUS_SUCCESS) {
        cublas_ = nullptr;
        return cudaErrorUnknown;
      }
      PROCTOR_CUDA_RETURN_IF_ERROR(dbase_.Allocate(static_cast<size_t>(m_ * n_) * sizeof(OutT)));
    }
    if (cublasSetStream(cublas_, stream) != CUBLAS_STATUS_SUCCESS) return cudaErrorUnknown;
    // Row-major C[m,n] = A[m,k] B[n,k]^T is column-major C^T[n,m] = B A^T:
    // B is a column-major [k, n] matrix used transposed, A a [k, m] one as is.
    const float alpha = 1.0f, beta = 0.0f;
    const cudaDataType_t in = Elem16<InT>::kCuda;
    const cublasStatus_t st = cublasGemmEx(
        cublas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n_), static_cast<int>(m_),
        static_cast<int>(k_), &alpha, db_.as<void>(), in, static_cast<int>(k_), da_.as<void>(), in,
        static_cast<int>(k_), &beta, dbase_.as<void>(), kF32Out ? CUDA_R_32F : in,
        static_cast<int>(n_), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    return st == CUBLAS_STATUS_SUCCESS ? cudaSuccess : cudaErrorUnknown;
  }

 private:
  int64_t m_, n_, k_;
  bool bias_, residual_, in_place_;
  GemmImpl impl_;
  std::vector<uint16_t> a_, bias_host_;
  std::shared_ptr<const std::vector<uint16_t>> b_;
  std::vector<float> residual_host_;
  DeviceBuffer da_, db_, dc_, dbias_, dres_, dbase_;
  cublasHandle_t cublas_ = nullptr;
};

// Gate/up projection with the fused SwiGLU epilogue; the baseline is cuBLAS
// computing the unfused [m, 2n] projection alone.
class GemmSwiGluCase : public OpCase {
 public:
  GemmSwiGluCase(int64_t m, int64_t n, int64_t k, GemmImpl impl = GemmImpl::kAuto)
      : m_(m), n_(n), k_(k), impl_(impl) {}
  ~GemmSwiGluCase() override {
    if (cublas_ != nullptr) cublasDestroy(cublas_);
  }
  std::string op() const override { return "gemm_swiglu"; }
  std::string shape() const override {
    return "m=" + std::to_string(m_) + " n=" + std::to_string(n_) + " k=" + std::to_string(k_) +
           ImplSuffix(impl_);
  }
  bool Supported() const override { return ImplSupported(impl_); }
  cudaError_t Setup() override {
    a_ = ToBf16(RandomUniform(static_cast<size_t>(m_ * k_), -1.0f, 1.0f, 75 + m_));
    b_ = RandomWeights<__nv_bfloat16>(static_cast<size_t>(2 * n_ * k_), -0.2f, 0.2f, 76 + n_);
    PROCTOR_CUDA_RETURN_IF_ERROR(da_.Upload(a_));
    PROCTOR_CUDA_RETURN_IF_ERROR(db_.Upload(*b_));
    return dc_.Allocate(static_cast<size_t>(m_ * n_) * 2);
  }
  cudaError_t Run(cudaStream_t stream) override {
    return GemmSwiGluBf16(da_.as<__nv_bfloat16>(), db_.as<__nv_bfloat16>(), dc_.as<__nv_bfloat16>(),
                          m_, n_, k_, stream, impl_);
  }
  OpCheck Check() override {
    OpCheck c;
    std::vector<uint16_t> raw(static_cast<size_t>(m_ * n_));
    if (cudaError_t err = dc_.Download(&raw); err != cudaSuccess) {
      c.error = CudaErrorText("download", err);
      return c;
    }
    const std::vector<float> a = FromBf16(a_), b = FromBf16(*b_);
    std::vector<float> gu(static_cast<size_t>(m_ * 2 * n_));
    ref::Gemm(a.data(), b.data(), gu.data(), m_, 2 * n_, k_);
    std::vector<float> gate(static_cast<size_t>(m_ * n_)), up(gate.size()), want(gate.size());
    std::vector<float> gate_b(gate.size()), up_b(gate.size()), naive(gate.size());
    for (size_t i = 0; i < gate.size(); ++i) {
      gate[i] = gu[2 * i];
      up[i] = gu[2 * i + 1];
      gate_b[i] = RoundBf16(gate[i]);
      up_b[i] = RoundBf16(up[i]);
    }
    ref::SwiGlu(gate.data(), up.data(), want.data(), m_ * n_);
    // Naive: the unfused path stores gate and up in BF16, then rounds again.
    ref::SwiGlu(gate_b.data(), up_b.data(), naive.data(), m_ * n_);
    for (float& v : naive) v = RoundBf16(v);
    c.max_err = MaxAbsError(FromBf16(raw), want);
    c.naive_err = MaxAbsError(naive, want);
    c.tolerance = 2.0 * c.naive_err + 1e-6 * static_cast<double>(k_);
    return c;
  }
  double bytes_moved() const override {
    return 2.0 * static_cast<double>(m_ * k_ + 2 * n_ * k_ + m_ * n_);
  }
  double flops() const override {
    return 2.0 * static_cast<double>(m_) * static_cast<double>(2 * n_) * static_cast<double>(k_);
  }
  bool has_baseline() const override { return true; }
  std::string baseline_name() const override { return "cublasGemmEx_unfused"; }
  cudaError_t RunBaseline(cudaStream_t stream) override {
    if (cublas_ == nullptr) {
      if (cublasCreate(&cublas_) != CUBLAS_STATUS_SUCCESS) {
        cublas_ = nullptr;
        return cudaErrorUnknown;
      }
      PROCTOR_CUDA_RETURN_IF_ERROR(dbase_.Allocate(static_cast<size_t>(m_ * 2 * n_) * 2));
    }
    if (cublasSetStream(cublas_, stream) != CUBLAS_STATUS_SUCCESS) return cudaErrorUnknown;
    const float alpha = 1.0f, beta = 0.0f;
    const int n2 = static_cast<int>(2 * n_);
    const cublasStatus_t st =
        cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, n2, static_cast<int>(m_),
                     static_cast<int>(k_), &alpha, db_.as<void>(), CUDA_R_16BF,
                     static_cast<int>(k_), da_.as<void>(), CUDA_R_16BF, static_cast<int>(k_), &beta,
                     dbase_.as<void>(), CUDA_R_16BF, n2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    return st == CUBLAS_STATUS_SUCCESS ? cudaSuccess : cudaErrorUnknown;
  }

 private:
  int64_t m_, n_, k_;
  GemmImpl impl_;
  std::vector<uint16_t> a_;
  std::shared_ptr<const std::vector<uint16_t>> b_;
  DeviceBuffer da_, db_, dc_, dbase_;
  cublasHandle_t cublas_ = nullptr;
};

}  // namespace

void AddGemmCases(bool bench, OpCaseList* out) {
  using Bf16Gemm = GemmCase<__nv_bfloat16, __nv_bfloat16>;
  using Bf16GemmF32 = GemmCase<__nv_bfloat16, float>;
  using F16Gemm = GemmCase<__half, __half>;
  using F16GemmF32 = GemmCase<__half, float>;
  if (bench) {
    // Projection shapes (n = output features, k = input features; gate/up is
    // the fused SwiGLU projection with n = FFN width):
    //   Llama-2-7B:   qkv 12288x4096, o 4096x4096, down 4096x11008, FFN 11008
    //   Llama-2-70B:  qkv 10240x8192 (GQA 64/8), o 8192x8192, down 8192x28672,
    //                 FFN 28672
    //   InternLM-104B: hidden 10240 (82 layers, 80 heads x 128, MHA), FFN
    //                 27392; derived from its published layer count and size,
    //                 see docs/design/kernels.md.
    struct Model {
      int64_t hidden, qkv, ffn;
      std::vector<int64_t> ms;
      // Also time the Ampere kernel at m = 4096 (next to the automatic row,
      // which is the wgmma path on an H100/H200: shows what it gains).
      bool with_sm80;
    };
    const Model models[] = {{4096, 12288, 11008, {16, 512, 4096}, true},
                            {8192, 10240, 28672, {16, 4096}, false},
                            {10240, 30720, 27392, {16, 4096}, false}};
    // m varies fastest so consecutive cases share their weights (RandomWeights).
    for (const Model& md : models) {
      const int64_t nk[][2] = {{md.qkv, md.hidden}, {md.hidden, md.hidden}, {md.hidden, md.ffn}};
      for (const auto& s : nk) {
        for (int64_t m : md.ms) {
          out->push_back(std::make_unique<Bf16Gemm>(m, s[0], s[1], false, false));
        }
        if (md.with_sm80) {
          out->push_back(
              std::make_unique<Bf16Gemm>(4096, s[0], s[1], false, false, GemmImpl::kSm80));
        }
      }
      for (int64_t m : md.ms)
        out->push_back(std::make_unique<GemmSwiGluCase>(m, md.ffn, md.hidden));
      if (md.with_sm80) {
        out->push_back(std::make_unique<GemmSwiGluCase>(4096, md.ffn, md.hidden, GemmImpl::kSm80));
      }
    }
    // FP16 inputs on the Llama-2-7B down projection.
    out->push_back(std::make_unique<F16Gemm>(4096, 4096, 11008, false, false));
    return;
  }
  // Automatic dispatch (sm80 for m <= 64; sm90a above on an H100/H200).
  out->push_back(std::make_unique<Bf16GemmF32>(1, 64, 64, false, false));
  out->push_back(std::make_unique<Bf16GemmF32>(16, 256, 512, false, false));
  out->push_back(std::make_unique<Bf16Gemm>(17, 1000, 200, true, false));
  out->push_back(std::make_unique<Bf16GemmF32>(64, 128, 256, false, true));
  out->push_back(std::make_unique<Bf16Gemm>(65, 130, 72, true, true));
  out->push_back(std::make_unique<Bf16GemmF32>(130, 257, 40, true, false));
  out->push_back(std::make_unique<Bf16Gemm>(300, 512, 520, false, false));
  out->push_back(std::make_unique<Bf16GemmF32>(257, 96, 4096, false, false));
  out->push_back(std::make_unique<Bf16Gemm>(129, 127, 8, false, true));
  // m <= 64 with enough columns for the 64x64 tile on any GPU up to 150 SMs
  // (smaller n uses the 64x32 tile).
  out->push_back(std::make_unique<Bf16GemmF32>(3, 9700, 64, true, false));

  // The Ampere kernel forced at prefill sizes (kAuto takes sm90a there on Hopper).
  out->push_back(std::make_unique<Bf16Gemm>(300, 512, 520, true, true, GemmImpl::kSm80));
  out->push_back(std::make_unique<Bf16GemmF32>(130, 257, 40, false, false, GemmImpl::kSm80));

  // The Hopper kernel forced at every size, including decode-sized m that
  // kAuto keeps on sm80: m in {1, 16, 17, 512, 4096}, n and k off the
  // 128x256x64 tile (k = 8: one partial k-tile; k = 40: below one k-tile;
  // k = 4096: 64 k-tiles = 16 laps of the 4-stage ring), odd n (no paired
  // stores), 150+ tiles (more than one tile per persistent block).
  constexpr GemmImpl kH = GemmImpl::kSm90a;
  out->push_back(std::make_unique<Bf16GemmF32>(1, 64, 64, false, false, kH));
  out->push_back(std::make_unique<Bf16GemmF32>(16, 256, 512, false, false, kH));
  out->push_back(std::make_unique<Bf16Gemm>(17, 1000, 200, true, false, kH));
  out->push_back(std::make_unique<Bf16Gemm>(65, 130, 72, true, true, kH));
  out->push_back(std::make_unique<Bf16GemmF32>(129, 257, 40, true, false, kH));
  out->push_back(std::make_unique<Bf16Gemm>(129, 127, 8, false, true, kH));
  out->push_back(std::make_unique<Bf16Gemm>(130, 301, 136, false, true, kH));
  out->push_back(std::make_unique<Bf16GemmF32>(257, 96, 4096, false, false, kH));
  out->push_back(std::make_unique<Bf16GemmF32>(512, 1000, 520, true, true, kH));
  out->push_back(std::make_unique<Bf16Gemm>(4096, 1100, 72, true, false, kH));
  // residual == C (in-place add) through both families.
  out->push_back(std::make_unique<Bf16Gemm>(130, 300, 136, true, true, kH, true));
  out->push_back(std::make_unique<Bf16GemmF32>(70, 257, 72, false, true, kH, true));
  out->push_back(std::make_unique<Bf16Gemm>(130, 300, 136, true, true, GemmImpl::kSm80, true));

  // FP16 inputs through both families.
  for (GemmImpl impl : {GemmImpl::kAuto, GemmImpl::kSm80, kH}) {
    out->push_back(std::make_unique<F16GemmF32>(17, 1000, 200, true, false, impl));
    out->push_back(std::make_unique<F16Gemm>(300, 301, 520, true, true, impl));
  }

  out->push_back(std::make_unique<GemmSwiGluCase>(1, 100, 64));
  out->push_back(std::make_unique<GemmSwiGluCase>(17, 1001, 200));
  out->push_back(std::make_unique<GemmSwiGluCase>(70, 300, 520));
  out->push_back(std::make_unique<GemmSwiGluCase>(3, 5000, 64));  // 64x64 tiles
  out->push_back(std::make_unique<GemmSwiGluCase>(70, 300, 520, GemmImpl::kSm80));
  out->push_back(std::make_unique<GemmSwiGluCase>(1, 100, 64, kH));
  out->push_back(std::make_unique<GemmSwiGluCase>(17, 1001, 200, kH));
  out->push_back(std::make_unique<GemmSwiGluCase>(600, 700, 136, kH));
}

}  // namespace proctor::kernels::cuda
