// Registry cases: BF16 GEMM (F32 and BF16 output, optional bias / residual
// epilogue), with cuBLAS (cublasGemmEx, BF16 in, F32 compute) as the baseline.
#include <cublas_v2.h>

#include <string>
#include <type_traits>

#include "kernels/cpu/reference.h"
#include "kernels/cuda/gemm.cuh"
#include "kernels/cuda/op_registry.h"

namespace proctor::kernels::cuda {
namespace {

template <typename OutT>
class GemmCase : public OpCase {
 public:
  static constexpr bool kF32Out = std::is_same_v<OutT, float>;
  GemmCase(int64_t m, int64_t n, int64_t k, bool bias, bool residual)
      : m_(m), n_(n), k_(k), bias_(bias), residual_(residual) {}
  ~GemmCase() override {
    if (cublas_ != nullptr) cublasDestroy(cublas_);
  }
  std::string op() const override { return "gemm"; }
  std::string shape() const override {
    std::string s = "m=" + std::to_string(m_) + " n=" + std::to_string(n_) +
                    " k=" + std::to_string(k_) + (kF32Out ? " out=f32" : " out=bf16");
    if (bias_) s += " +bias";
    if (residual_) s += " +residual";
    return s;
  }
  cudaError_t Setup() override {
    a_ = ToBf16(RandomUniform(static_cast<size_t>(m_ * k_), -1.0f, 1.0f, 71 + m_));
    b_ = ToBf16(RandomUniform(static_cast<size_t>(n_ * k_), -1.0f, 1.0f, 72 + n_));
    PROCTOR_CUDA_RETURN_IF_ERROR(da_.Upload(a_));
    PROCTOR_CUDA_RETURN_IF_ERROR(db_.Upload(b_));
    PROCTOR_CUDA_RETURN_IF_ERROR(dc_.Allocate(static_cast<size_t>(m_ * n_) * sizeof(OutT)));
    if (bias_) {
      bias_host_ = ToBf16(RandomUniform(static_cast<size_t>(n_), -1.0f, 1.0f, 73));
      PROCTOR_CUDA_RETURN_IF_ERROR(dbias_.Upload(bias_host_));
    }
    if (residual_) {
      const std::vector<float> r = RandomUniform(static_cast<size_t>(m_ * n_), -2.0f, 2.0f, 74);
      if constexpr (kF32Out) {
        residual_host_ = r;
        PROCTOR_CUDA_RETURN_IF_ERROR(dres_.Upload(r));
      } else {
        const std::vector<uint16_t> rb = ToBf16(r);
        residual_host_ = FromBf16(rb);
        PROCTOR_CUDA_RETURN_IF_ERROR(dres_.Upload(rb));
      }
    }
    return cudaSuccess;
  }
  cudaError_t Run(cudaStream_t stream) override {
    return GemmBf16(da_.as<__nv_bfloat16>(), db_.as<__nv_bfloat16>(), dc_.as<OutT>(),
                    residual_ ? dres_.as<OutT>() : nullptr,
                    bias_ ? dbias_.as<__nv_bfloat16>() : nullptr, m_, n_, k_, stream);
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
      got = FromBf16(raw);
    }
    const std::vector<float> a = FromBf16(a_), b = FromBf16(b_);
    std::vector<float> want(got.size());
    ref::Gemm(a.data(), b.data(), want.data(), m_, n_, k_);
    for (int64_t i = 0; i < m_; ++i) {
      for (int64_t j = 0; j < n_; ++j) {
        float& w = want[static_cast<size_t>(i * n_ + j)];
        if (bias_) w += HostBf16ToFloat(bias_host_[static_cast<size_t>(j)]);
        if (residual_) w += residual_host_[static_cast<size_t>(i * n_ + j)];
      }
    }
    // Naive same-precision GEMM: F32 accumulation, one BF16 rounding of C.
    std::vector<float> naive = want;
    for (float& v : naive) v = RoundBf16(v);
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
    const cublasStatus_t st =
        cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n_), static_cast<int>(m_),
                     static_cast<int>(k_), &alpha, db_.as<void>(), CUDA_R_16BF,
                     static_cast<int>(k_), da_.as<void>(), CUDA_R_16BF, static_cast<int>(k_), &beta,
                     dbase_.as<void>(), kF32Out ? CUDA_R_32F : CUDA_R_16BF, static_cast<int>(n_),
                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    return st == CUBLAS_STATUS_SUCCESS ? cudaSuccess : cudaErrorUnknown;
  }

 private:
  int64_t m_, n_, k_;
  bool bias_, residual_;
  std::vector<uint16_t> a_, b_, bias_host_;
  std::vector<float> residual_host_;
  DeviceBuffer da_, db_, dc_, dbias_, dres_, dbase_;
  cublasHandle_t cublas_ = nullptr;
};

// Gate/up projection with the fused SwiGLU epilogue; the baseline is cuBLAS
// computing the unfused [m, 2n] projection alone.
class GemmSwiGluCase : public OpCase {
 public:
  GemmSwiGluCase(int64_t m, int64_t n, int64_t k) : m_(m), n_(n), k_(k) {}
  ~GemmSwiGluCase() override {
    if (cublas_ != nullptr) cublasDestroy(cublas_);
  }
  std::string op() const override { return "gemm_swiglu"; }
  std::string shape() const override {
    return "m=" + std::to_string(m_) + " n=" + std::to_string(n_) + " k=" + std::to_string(k_);
  }
  cudaError_t Setup() override {
    a_ = ToBf16(RandomUniform(static_cast<size_t>(m_ * k_), -1.0f, 1.0f, 75 + m_));
    b_ = ToBf16(RandomUniform(static_cast<size_t>(2 * n_ * k_), -0.2f, 0.2f, 76 + n_));
    PROCTOR_CUDA_RETURN_IF_ERROR(da_.Upload(a_));
    PROCTOR_CUDA_RETURN_IF_ERROR(db_.Upload(b_));
    return dc_.Allocate(static_cast<size_t>(m_ * n_) * 2);
  }
  cudaError_t Run(cudaStream_t stream) override {
    return GemmSwiGluBf16(da_.as<__nv_bfloat16>(), db_.as<__nv_bfloat16>(), dc_.as<__nv_bfloat16>(),
                          m_, n_, k_, stream);
  }
  OpCheck Check() override {
    OpCheck c;
    std::vector<uint16_t> raw(static_cast<size_t>(m_ * n_));
    if (cudaError_t err = dc_.Download(&raw); err != cudaSuccess) {
      c.error = CudaErrorText("download", err);
      return c;
    }
    const std::vector<float> a = FromBf16(a_), b = FromBf16(b_);
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
  std::vector<uint16_t> a_, b_;
  DeviceBuffer da_, db_, dc_, dbase_;
  cublasHandle_t cublas_ = nullptr;
};

}  // namespace

void AddGemmCases(bool bench, OpCaseList* out) {
  if (bench) {
    // Llama-2-7B projections (qkv/o, gate/up, down) and two Llama-2-70B ones.
    const int64_t nk[][2] = {
        {4096, 4096}, {11008, 4096}, {4096, 11008}, {8192, 8192}, {28672, 8192}};
    for (int64_t m : {16, 512, 4096}) {
      for (const auto& s : nk) {
        out->push_back(std::make_unique<GemmCase<__nv_bfloat16>>(m, s[0], s[1], false, false));
      }
      out->push_back(std::make_unique<GemmSwiGluCase>(m, 11008, 4096));
    }
    return;
  }
  out->push_back(std::make_unique<GemmCase<float>>(1, 64, 64, false, false));
  out->push_back(std::make_unique<GemmCase<float>>(16, 256, 512, false, false));
  out->push_back(std::make_unique<GemmCase<__nv_bfloat16>>(17, 1000, 200, true, false));
  out->push_back(std::make_unique<GemmCase<float>>(64, 128, 256, false, true));
  out->push_back(std::make_unique<GemmCase<__nv_bfloat16>>(65, 130, 72, true, true));
  out->push_back(std::make_unique<GemmCase<float>>(130, 257, 40, true, false));
  out->push_back(std::make_unique<GemmCase<__nv_bfloat16>>(300, 512, 520, false, false));
  out->push_back(std::make_unique<GemmCase<float>>(257, 96, 4096, false, false));
  out->push_back(std::make_unique<GemmCase<__nv_bfloat16>>(129, 127, 8, false, true));
  // m <= 64 with enough columns for the 64x64 tile on any GPU up to 150 SMs
  // (smaller n uses the 64x32 tile).
  out->push_back(std::make_unique<GemmCase<float>>(3, 9700, 64, true, false));

  out->push_back(std::make_unique<GemmSwiGluCase>(1, 100, 64));
  out->push_back(std::make_unique<GemmSwiGluCase>(17, 1001, 200));
  out->push_back(std::make_unique<GemmSwiGluCase>(70, 300, 520));
  out->push_back(std::make_unique<GemmSwiGluCase>(3, 5000, 64));  // 64x64 tiles
}

}  // namespace proctor::kernels::cuda
