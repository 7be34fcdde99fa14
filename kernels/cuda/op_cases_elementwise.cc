// Registry cases: SwiGLU, embedding gather, Q8_0/Q4_0 dequantisation and the
// fused log-softmax + gather / argmax.
#include <cmath>
#include <cstring>
#include <string>

#include "kernels/cpu/reference.h"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/log_softmax_gather.cuh"
#include "kernels/cuda/op_registry.h"

namespace proctor::kernels::cuda {
namespace {

__nv_bfloat16* Bf(const DeviceBuffer& b) { return b.as<__nv_bfloat16>(); }

OpCheck DownloadFailed(cudaError_t err) {
  OpCheck c;
  c.error = CudaErrorText("download", err);
  return c;
}

class SwiGluCase : public OpCase {
 public:
  explicit SwiGluCase(int64_t n) : n_(n) {}
  std::string op() const override { return "swiglu"; }
  std::string shape() const override { return "n=" + std::to_string(n_); }
  cudaError_t Setup() override {
    gate_ = ToBf16(RandomUniform(static_cast<size_t>(n_), -6.0f, 6.0f, 31));
    up_ = ToBf16(RandomUniform(static_cast<size_t>(n_), -3.0f, 3.0f, 32));
    PROCTOR_CUDA_RETURN_IF_ERROR(dgate_.Upload(gate_));
    PROCTOR_CUDA_RETURN_IF_ERROR(dup_.Upload(up_));
    return dout_.Allocate(static_cast<size_t>(n_) * 2);
  }
  cudaError_t Run(cudaStream_t stream) override {
    return SwiGluBf16(Bf(dgate_), Bf(dup_), Bf(dout_), n_, stream);
  }
  OpCheck Check() override {
    std::vector<uint16_t> got(static_cast<size_t>(n_));
    if (cudaError_t err = dout_.Download(&got); err != cudaSuccess) return DownloadFailed(err);
    const std::vector<float> g = FromBf16(gate_), u = FromBf16(up_);
    std::vector<float> want(g.size());
    ref::SwiGlu(g.data(), u.data(), want.data(), n_);
    std::vector<float> naive = want;
    for (float& v : naive) v = RoundBf16(v);
    OpCheck c;
    c.max_err = MaxAbsError(FromBf16(got), want);
    c.naive_err = MaxAbsError(naive, want);
    c.tolerance = 2.0 * c.naive_err + 1e-5;  // floor: __expf vs std::exp
    return c;
  }
  double bytes_moved() const override { return 3.0 * 2.0 * static_cast<double>(n_); }

 private:
  int64_t n_;
  std::vector<uint16_t> gate_, up_;
  DeviceBuffer dgate_, dup_, dout_;
};

// Ids include out-of-range values when `hostile`: those rows must be zeros.
class EmbeddingCase : public OpCase {
 public:
  EmbeddingCase(int64_t vocab, int64_t dim, int64_t n, bool hostile)
      : vocab_(vocab), dim_(dim), n_(n), hostile_(hostile) {}
  std::string op() const override { return "embedding_gather"; }
  std::string shape() const override {
    return "vocab=" + std::to_string(vocab_) + " dim=" + std::to_string(dim_) +
           " n=" + std::to_string(n_) + (hostile_ ? " bad-ids" : "");
  }
  cudaError_t Setup() override {
    table_ = ToBf16(RandomUniform(static_cast<size_t>(vocab_ * dim_), -1.0f, 1.0f, 41));
    const std::vector<float> r =
        RandomUniform(static_cast<size_t>(n_), 0.0f, static_cast<float>(vocab_), 42);
    ids_.resize(r.size());
    for (size_t i = 0; i < r.size(); ++i) ids_[i] = static_cast<int32_t>(r[i]);
    if (hostile_ && n_ >= 3) {
      ids_[0] = -1;
      ids_[1] = static_cast<int32_t>(vocab_);
      ids_[2] = INT32_MIN;
    }
    PROCTOR_CUDA_RETURN_IF_ERROR(dtable_.Upload(table_));
    PROCTOR_CUDA_RETURN_IF_ERROR(dids_.Upload(ids_));
    return dout_.Allocate(static_cast<size_t>(n_ * dim_) * 2);
  }
  cudaError_t Run(cudaStream_t stream) override {
    return EmbeddingGatherBf16(Bf(dtable_), vocab_, dids_.as<int32_t>(), n_, dim_, Bf(dout_),
                               stream);
  }
  OpCheck Check() override {
    std::vector<uint16_t> got(static_cast<size_t>(n_ * dim_));
    if (cudaError_t err = dout_.Download(&got); err != cudaSuccess) return DownloadFailed(err);
    const std::vector<float> table = FromBf16(table_);
    std::vector<float> want(got.size(), 0.0f);
    for (int64_t i = 0; i < n_; ++i) {
      if (ids_[i] < 0 || ids_[i] >= vocab_) continue;  // stays zero
      ref::EmbeddingGather(table.data(), &ids_[i], 1, dim_, want.data() + i * dim_);
    }
    OpCheck c;  // a gather is exact: tolerance 0
    c.max_err = MaxAbsError(FromBf16(got), want);
    return c;
  }
  double bytes_moved() const override { return 2.0 * 2.0 * static_cast<double>(n_ * dim_); }

 private:
  int64_t vocab_, dim_, n_;
  bool hostile_;
  std::vector<uint16_t> table_;
  std::vector<int32_t> ids_;
  DeviceBuffer dtable_, dids_, dout_;
};

// Random GGML Q8_0 / Q4_0 blocks (random f16 scales, random quants).
class DequantCase : public OpCase {
 public:
  DequantCase(bool q8, int64_t rows, int64_t n) : q8_(q8), rows_(rows), n_(n) {}
  std::string op() const override { return q8_ ? "dequant_q8_0" : "dequant_q4_0"; }
  std::string shape() const override {
    return "rows=" + std::to_string(rows_) + " n=" + std::to_string(n_);
  }
  int64_t block_bytes() const { return q8_ ? ref::kBlockBytesQ8_0 : ref::kBlockBytesQ4_0; }
  cudaError_t Setup() override {
    const int64_t blocks = rows_ * n_ / 32;
    src_.assign(static_cast<size_t>(blocks * block_bytes()), 0);
    const std::vector<float> scales = RandomUniform(static_cast<size_t>(blocks), -0.05f, 0.05f, 51);
    const std::vector<float> q = RandomUniform(src_.size(), 0.0f, 256.0f, 52);
    for (int64_t b = 0; b < blocks; ++b) {
      uint8_t* p = src_.data() + b * block_bytes();
      const uint16_t d = ref::FloatToHalf(scales[static_cast<size_t>(b)]);
      std::memcpy(p, &d, 2);  // little-endian host
      for (int64_t j = 2; j < block_bytes(); ++j) {
        p[j] = static_cast<uint8_t>(q[static_cast<size_t>(b * block_bytes() + j)]);
      }
    }
    PROCTOR_CUDA_RETURN_IF_ERROR(dsrc_.Upload(src_));
    return dout_.Allocate(static_cast<size_t>(rows_ * n_) * 2);
  }
  cudaError_t Run(cudaStream_t stream) override {
    return q8_ ? DequantizeQ8_0ToBf16(dsrc_.as<void>(), rows_, n_, Bf(dout_), stream)
               : DequantizeQ4_0ToBf16(dsrc_.as<void>(), rows_, n_, Bf(dout_), stream);
  }
  OpCheck Check() override {
    std::vector<uint16_t> got(static_cast<size_t>(rows_ * n_));
    if (cudaError_t err = dout_.Download(&got); err != cudaSuccess) return DownloadFailed(err);
    std::vector<float> want(got.size());
    const int64_t row_bytes = n_ / 32 * block_bytes();
    for (int64_t r = 0; r < rows_; ++r) {
      const uint8_t* src = src_.data() + r * row_bytes;
      if (q8_) {
        ref::DequantizeRow_Q8_0(src, want.data() + r * n_, n_);
      } else {
        ref::DequantizeRow_Q4_0(src, want.data() + r * n_, n_);
      }
    }
    std::vector<float> naive = want;
    for (float& v : naive) v = RoundBf16(v);
    OpCheck c;
    c.max_err = MaxAbsError(FromBf16(got), want);
    c.naive_err = MaxAbsError(naive, want);
    c.tolerance = c.naive_err;  // d * q is exact in F32: ours must round identically
    return c;
  }
  double bytes_moved() const override {
    return static_cast<double>(src_.size()) + 2.0 * static_cast<double>(rows_ * n_);
  }

 private:
  bool q8_;
  int64_t rows_, n_;
  std::vector<uint8_t> src_;
  DeviceBuffer dsrc_, dout_;
};

class LogSoftmaxGatherCase : public OpCase {
 public:
  LogSoftmaxGatherCase(int64_t rows, int64_t vocab, float spread)
      : rows_(rows), vocab_(vocab), spread_(spread) {}
  std::string op() const override { return "log_softmax_gather"; }
  std::string shape() const override {
    return "rows=" + std::to_string(rows_) + " vocab=" + std::to_string(vocab_) +
           " spread=" + std::to_string(static_cast<int>(spread_));
  }
  cudaError_t Setup() override {
    logits_ = RandomUniform(static_cast<size_t>(rows_ * vocab_), -spread_, spread_, 61);
    const std::vector<float> t =
        RandomUniform(static_cast<size_t>(rows_), 0.0f, static_cast<float>(vocab_), 62);
    targets_.resize(t.size());
    for (size_t i = 0; i < t.size(); ++i) targets_[i] = static_cast<int32_t>(t[i]);
    PROCTOR_CUDA_RETURN_IF_ERROR(dlogits_.Upload(logits_));
    PROCTOR_CUDA_RETURN_IF_ERROR(dtargets_.Upload(targets_));
    PROCTOR_CUDA_RETURN_IF_ERROR(dlogprob_.Allocate(static_cast<size_t>(rows_) * 4));
    return dargmax_.Allocate(static_cast<size_t>(rows_) * 4);
  }
  cudaError_t Run(cudaStream_t stream) override {
    return LogSoftmaxGatherF32(dlogits_.as<float>(), dtargets_.as<int32_t>(), dlogprob_.as<float>(),
                               dargmax_.as<int32_t>(), rows_, vocab_, stream);
  }
  OpCheck Check() override {
    std::vector<float> lp(static_cast<size_t>(rows_));
    std::vector<int32_t> am(static_cast<size_t>(rows_));
    cudaError_t err = dlogprob_.Download(&lp);
    if (err == cudaSuccess) err = dargmax_.Download(&am);
    if (err != cudaSuccess) return DownloadFailed(err);
    std::vector<float> want_lp(lp.size());
    std::vector<int32_t> want_am(am.size());
    ref::LogSoftmaxGather(logits_.data(), targets_.data(), want_lp.data(), want_am.data(), rows_,
                          vocab_);
    OpCheck c;
    c.max_err = MaxAbsError(lp, want_lp);
    // Input and output are F32, so the naive implementation is the reference
    // itself; the floor covers __expf and a different summation order.
    c.tolerance = 1e-4 * (1.0 + std::log(static_cast<double>(vocab_)));
    for (size_t i = 0; i < am.size(); ++i) {
      if (am[i] != want_am[i]) {
        c.max_err = HUGE_VAL;
        c.detail = "argmax of row " + std::to_string(i) + " is " + std::to_string(am[i]) +
                   ", reference " + std::to_string(want_am[i]);
        break;
      }
    }
    return c;
  }
  double bytes_moved() const override { return 4.0 * static_cast<double>(rows_ * vocab_); }

 private:
  int64_t rows_, vocab_;
  float spread_;
  std::vector<float> logits_;
  std::vector<int32_t> targets_;
  DeviceBuffer dlogits_, dtargets_, dlogprob_, dargmax_;
};

}  // namespace

void AddElementwiseCases(bool bench, OpCaseList* out) {
  if (bench) {
    out->push_back(std::make_unique<SwiGluCase>(4096LL * 11008));
    out->push_back(std::make_unique<EmbeddingCase>(32000, 4096, 4096, false));
    out->push_back(std::make_unique<DequantCase>(true, 4096, 4096));
    out->push_back(std::make_unique<DequantCase>(false, 4096, 4096));
    out->push_back(std::make_unique<LogSoftmaxGatherCase>(512, 32000, 10.0f));
    out->push_back(std::make_unique<LogSoftmaxGatherCase>(64, 128256, 10.0f));
    return;
  }
  out->push_back(std::make_unique<SwiGluCase>(11008 * 3));
  out->push_back(std::make_unique<SwiGluCase>(1001));
  out->push_back(std::make_unique<SwiGluCase>(1));
  out->push_back(std::make_unique<EmbeddingCase>(1000, 4096, 17, true));
  out->push_back(std::make_unique<EmbeddingCase>(50, 100, 9, false));  // scalar path
  out->push_back(std::make_unique<EmbeddingCase>(7, 64, 1, false));
  out->push_back(std::make_unique<DequantCase>(true, 4, 4096));
  out->push_back(std::make_unique<DequantCase>(true, 3, 96));
  out->push_back(std::make_unique<DequantCase>(false, 4, 4096));
  out->push_back(std::make_unique<DequantCase>(false, 5, 32));
  out->push_back(std::make_unique<LogSoftmaxGatherCase>(3, 32000, 10.0f));
  out->push_back(std::make_unique<LogSoftmaxGatherCase>(5, 1001, 10.0f));  // scalar path
  out->push_back(std::make_unique<LogSoftmaxGatherCase>(2, 50257, 60.0f));
  out->push_back(std::make_unique<LogSoftmaxGatherCase>(4, 7, 1.0f));
}

}  // namespace proctor::kernels::cuda
