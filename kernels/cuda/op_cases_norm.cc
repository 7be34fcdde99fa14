// Registry cases: AddRmsNorm and RoPE.
#include <cmath>
#include <cstdio>
#include <string>

#include "kernels/cpu/reference.h"
#include "kernels/cuda/op_registry.h"
#include "kernels/cuda/rms_norm.cuh"
#include "kernels/cuda/rope.cuh"

namespace proctor::kernels::cuda {
namespace {

__nv_bfloat16* Bf(const DeviceBuffer& b) { return b.as<__nv_bfloat16>(); }

class AddRmsNormCase : public OpCase {
 public:
  AddRmsNormCase(int64_t rows, int64_t dim, bool residual)
      : rows_(rows), dim_(dim), residual_(residual) {}
  std::string op() const override { return residual_ ? "add_rms_norm" : "rms_norm"; }
  std::string shape() const override {
    return "rows=" + std::to_string(rows_) + " dim=" + std::to_string(dim_);
  }
  cudaError_t Setup() override {
    const size_t n = static_cast<size_t>(rows_ * dim_);
    x_ = ToBf16(RandomUniform(n, -2.0f, 2.0f, 11 + n));
    r_ = ToBf16(RandomUniform(n, -4.0f, 4.0f, 12 + n));
    w_ = ToBf16(RandomUniform(static_cast<size_t>(dim_), 0.5f, 1.5f, 13));
    PROCTOR_CUDA_RETURN_IF_ERROR(dx_.Upload(x_));
    PROCTOR_CUDA_RETURN_IF_ERROR(dw_.Upload(w_));
    PROCTOR_CUDA_RETURN_IF_ERROR(dout_.Allocate(n * 2));
    if (residual_) PROCTOR_CUDA_RETURN_IF_ERROR(dr_.Upload(r_));
    return cudaSuccess;
  }
  cudaError_t Run(cudaStream_t stream) override {
    return AddRmsNormBf16(residual_ ? Bf(dr_) : nullptr, Bf(dx_), Bf(dw_), Bf(dout_), rows_, dim_,
                          kEps, stream);
  }
  OpCheck Check() override {
    OpCheck c;
    const size_t n = static_cast<size_t>(rows_ * dim_);
    std::vector<uint16_t> out(n), res(residual_ ? n : 0);
    cudaError_t err = dout_.Download(&out);
    if (err == cudaSuccess && residual_) err = dr_.Download(&res);
    if (err != cudaSuccess) {
      c.error = CudaErrorText("download", err);
      return c;
    }
    const std::vector<float> x = FromBf16(x_), w = FromBf16(w_);
    std::vector<float> ref_out(n), ref_res = FromBf16(r_);
    std::vector<float> naive_res = ref_res, naive_out(n);
    if (residual_) {
      ref::AddRmsNorm(ref_res.data(), x.data(), w.data(), ref_out.data(), rows_, dim_, kEps);
      for (size_t i = 0; i < n; ++i) naive_res[i] = RoundBf16(naive_res[i] + x[i]);
      ref::RmsNorm(naive_res.data(), w.data(), naive_out.data(), rows_, dim_, kEps);
    } else {
      ref::RmsNorm(x.data(), w.data(), ref_out.data(), rows_, dim_, kEps);
      ref::RmsNorm(x.data(), w.data(), naive_out.data(), rows_, dim_, kEps);
    }
    for (float& v : naive_out) v = RoundBf16(v);
    // Compare [out, residual] as one vector.
    std::vector<float> got = FromBf16(out), want = ref_out, naive = naive_out;
    if (residual_) {
      const std::vector<float> got_res = FromBf16(res);
      got.insert(got.end(), got_res.begin(), got_res.end());
      want.insert(want.end(), ref_res.begin(), ref_res.end());
      naive.insert(naive.end(), naive_res.begin(), naive_res.end());
    }
    c.max_err = MaxAbsError(got, want);
    c.naive_err = MaxAbsError(naive, want);
    c.tolerance = 2.0 * c.naive_err + 1e-6;
    return c;
  }
  double bytes_moved() const override {
    return 2.0 * static_cast<double>(rows_ * dim_) * (residual_ ? 4 : 2) + 2.0 * dim_;
  }

 private:
  static constexpr float kEps = 1e-5f;
  int64_t rows_, dim_;
  bool residual_;
  std::vector<uint16_t> x_, r_, w_;
  DeviceBuffer dx_, dr_, dw_, dout_;
};

class RopeCase : public OpCase {
 public:
  RopeCase(int64_t tokens, int64_t n_heads, int64_t head_dim, RopeConfig config, int32_t max_pos,
           std::string label)
      : tokens_(tokens),
        n_heads_(n_heads),
        head_dim_(head_dim),
        config_(config),
        max_pos_(max_pos),
        label_(std::move(label)) {}
  std::string op() const override { return "rope"; }
  std::string shape() const override {
    return "tokens=" + std::to_string(tokens_) + " heads=" + std::to_string(n_heads_) +
           " hd=" + std::to_string(head_dim_) + " " + label_;
  }
  cudaError_t Setup() override {
    const size_t n = static_cast<size_t>(tokens_ * n_heads_ * head_dim_);
    x_ = ToBf16(RandomUniform(n, -1.0f, 1.0f, 21 + n));
    const std::vector<float> p =
        RandomUniform(static_cast<size_t>(tokens_), 0.0f, static_cast<float>(max_pos_), 22);
    pos_.resize(p.size());
    for (size_t i = 0; i < p.size(); ++i) pos_[i] = static_cast<int32_t>(p[i]);
    PROCTOR_CUDA_RETURN_IF_ERROR(dx_.Upload(x_));
    return dpos_.Upload(pos_);
  }
  cudaError_t Run(cudaStream_t stream) override {
    return RopeBf16(Bf(dx_), dpos_.as<int32_t>(), tokens_, n_heads_, head_dim_, config_, stream);
  }
  OpCheck Check() override {
    OpCheck c;
    std::vector<uint16_t> got(x_.size());
    if (cudaError_t err = dx_.Download(&got); err != cudaSuccess) {
      c.error = CudaErrorText("download", err);
      return c;
    }
    ref::RopeParams p;
    p.theta = config_.theta;
    p.neox_layout = config_.neox_layout;
    p.n_rot = config_.n_rot;
    p.linear_factor = config_.linear_factor;
    p.llama3_factor = config_.llama3_factor;
    p.llama3_low_freq_factor = config_.llama3_low_freq_factor;
    p.llama3_high_freq_factor = config_.llama3_high_freq_factor;
    p.llama3_original_max_position = config_.llama3_original_max_position;
    std::vector<float> want = FromBf16(x_);
    ref::Rope(want.data(), pos_.data(), tokens_, n_heads_, head_dim_, p);
    std::vector<float> naive = want;
    for (float& v : naive) v = RoundBf16(v);
    c.max_err = MaxAbsError(FromBf16(got), want);
    c.naive_err = MaxAbsError(naive, want);
    // Floor: F32 angle arithmetic differs in the last bits between powf and
    // std::pow at positions in the thousands (~1e-3 rad worst case).
    c.tolerance = 2.0 * c.naive_err + 2e-3;
    return c;
  }
  double bytes_moved() const override {
    const int64_t n_rot = config_.n_rot > 0 ? config_.n_rot : head_dim_;
    return 2.0 * 2.0 * static_cast<double>(tokens_ * n_heads_ * n_rot) + 4.0 * tokens_;
  }

 private:
  int64_t tokens_, n_heads_, head_dim_;
  RopeConfig config_;
  int32_t max_pos_;
  std::string label_;
  std::vector<uint16_t> x_;
  std::vector<int32_t> pos_;
  DeviceBuffer dx_, dpos_;
};

RopeConfig Neox(float theta) {
  RopeConfig c;
  c.theta = theta;
  c.neox_layout = true;
  return c;
}

}  // namespace

void AddNormCases(bool bench, OpCaseList* out) {
  if (bench) {
    out->push_back(std::make_unique<AddRmsNormCase>(4096, 4096, true));
    out->push_back(std::make_unique<AddRmsNormCase>(4096, 8192, true));
    out->push_back(std::make_unique<RopeCase>(4096, 32, 128, Neox(10000.0f), 4096, "neox"));
    out->push_back(std::make_unique<RopeCase>(4096, 32, 128, RopeConfig{}, 4096, "interleaved"));
    return;
  }
  out->push_back(std::make_unique<AddRmsNormCase>(1, 4096, true));
  out->push_back(std::make_unique<AddRmsNormCase>(7, 4096, true));
  out->push_back(std::make_unique<AddRmsNormCase>(5, 1000, true));  // scalar path
  out->push_back(std::make_unique<AddRmsNormCase>(3, 4104, false));
  out->push_back(std::make_unique<AddRmsNormCase>(2, 77, false));

  out->push_back(std::make_unique<RopeCase>(5, 4, 128, Neox(10000.0f), 64, "neox"));
  out->push_back(std::make_unique<RopeCase>(9, 3, 64, RopeConfig{}, 2048, "interleaved"));
  RopeConfig partial;
  partial.n_rot = 32;
  out->push_back(std::make_unique<RopeCase>(4, 2, 64, partial, 300, "interleaved n_rot=32"));
  RopeConfig linear = Neox(10000.0f);
  linear.linear_factor = 4.0f;
  out->push_back(std::make_unique<RopeCase>(6, 8, 128, linear, 4000, "neox linear=4"));
  RopeConfig llama3 = Neox(500000.0f);
  llama3.llama3_factor = 8.0f;
  out->push_back(std::make_unique<RopeCase>(6, 8, 128, llama3, 8000, "neox llama3 theta=5e5"));
}

}  // namespace proctor::kernels::cuda
