// Registry cases: SwiGLU, embedding gather, Q8_0/Q4_0/Q4_1/Q4_K/Q6_K dequantisation and the
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

enum class Quant { kQ8_0, kQ4_0, kQ4_1, kQ4_K, kQ6_K };

// What a case needs to know about one GGML block format.
struct QuantInfo {
  const char* op;
  int64_t block_bytes, block_values;
  int64_t d_offset;    // f16 scale
  int64_t min_offset;  // f16 min (Q4_1) / dmin (Q4_K); -1: none
  cudaError_t (*dequantize)(const void*, int64_t, int64_t, __nv_bfloat16*, cudaStream_t);
  void (*reference)(const void*, float*, int64_t);
};

QuantInfo InfoOf(Quant q) {
  switch (q) {
    case Quant::kQ8_0:
      return {"dequant_q8_0",       ref::kBlockBytesQ8_0,   ref::kQK8_0, 0, -1,
              DequantizeQ8_0ToBf16, ref::DequantizeRow_Q8_0};
    case Quant::kQ4_0:
      return {"dequant_q4_0",       ref::kBlockBytesQ4_0,   ref::kQK4_0, 0, -1,
              DequantizeQ4_0ToBf16, ref::DequantizeRow_Q4_0};
    case Quant::kQ4_1:
      return {"dequant_q4_1",       ref::kBlockBytesQ4_1,   ref::kQK4_1, 0, 2,
              DequantizeQ4_1ToBf16, ref::DequantizeRow_Q4_1};
    case Quant::kQ4_K:
      return {"dequant_q4_k",       ref::kBlockBytesQ4_K,   ref::kQK_K, 0, 2,
              DequantizeQ4_KToBf16, ref::DequantizeRow_Q4_K};
    case Quant::kQ6_K:
      break;
  }
  return {"dequant_q6_k",       ref::kBlockBytesQ6_K,   ref::kQK_K, 208, -1,
          DequantizeQ6_KToBf16, ref::DequantizeRow_Q6_K};
}

// Random GGML blocks: sane random f16 scales (and mins) at their offsets, every
// other byte (quants, packed 6-bit scales) uniformly random.
class DequantCase : public OpCase {
 public:
  DequantCase(Quant format, int64_t rows, int64_t n) : info_(InfoOf(format)), rows_(rows), n_(n) {}
  std::string op() const override { return info_.op; }
  std::string shape() const override {
    return "rows=" + std::to_string(rows_) + " n=" + std::to_string(n_);
  }
  cudaError_t Setup() override {
    const int64_t blocks = rows_ * n_ / info_.block_values;
    const std::vector<float> bytes =
        RandomUniform(static_cast<size_t>(blocks * info_.block_bytes), 0.0f, 256.0f, 52);
    src_.resize(bytes.size());
    for (size_t i = 0; i < bytes.size(); ++i) src_[i] = static_cast<uint8_t>(bytes[i]);
    const std::vector<float> scales = RandomUniform(static_cast<size_t>(blocks), -0.05f, 0.05f, 51);
    const std::vector<float> mins = RandomUniform(static_cast<size_t>(blocks), -0.4f, 0.1f, 53);
    for (int64_t b = 0; b < blocks; ++b) {
      uint8_t* p = src_.data() + b * info_.block_bytes;
      const uint16_t d = ref::FloatToHalf(scales[static_cast<size_t>(b)]);
      std::memcpy(p + info_.d_offset, &d, 2);  // little-endian host
      if (info_.min_offset >= 0) {
        const uint16_t m = ref::FloatToHalf(mins[static_cast<size_t>(b)]);
        std::memcpy(p + info_.min_offset, &m, 2);
      }
    }
    PROCTOR_CUDA_RETURN_IF_ERROR(dsrc_.Upload(src_));
    return dout_.Allocate(static_cast<size_t>(rows_ * n_) * 2);
  }
  cudaError_t Run(cudaStream_t stream) override {
    return info_.dequantize(dsrc_.as<void>(), rows_, n_, Bf(dout_), stream);
  }
  OpCheck Check() override {
    std::vector<uint16_t> got(static_cast<size_t>(rows_ * n_));
    if (cudaError_t err = dout_.Download(&got); err != cudaSuccess) return DownloadFailed(err);
    std::vector<float> want(got.size());
    const int64_t row_bytes = n_ / info_.block_values * info_.block_bytes;
    for (int64_t r = 0; r < rows_; ++r) {
      info_.reference(src_.data() + r * row_bytes, want.data() + r * n_, n_);
    }
    std::vector<float> naive = want;
    for (float& v : naive) v = RoundBf16(v);
    OpCheck c;
    c.max_err = MaxAbsError(FromBf16(got), want);
    c.naive_err = MaxAbsError(naive, want);
    // The kernels compute each F32 value with the reference's operations in
    // the reference's order (products of an f16 scale and a small integer are
    // exact; one rounded add or multiply follows at most), so they must round
    // to BF16 identically: no slack beyond the naive rounding itself.
    c.tolerance = c.naive_err;
    return c;
  }
  double bytes_moved() const override {
    return static_cast<double>(rows_ * n_ / info_.block_values * info_.block_bytes) +
           2.0 * static_cast<double>(rows_ * n_);
  }

 private:
  QuantInfo info_;
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
    out->push_back(std::make_unique<DequantCase>(Quant::kQ8_0, 4096, 4096));
    out->push_back(std::make_unique<DequantCase>(Quant::kQ4_0, 4096, 4096));
    out->push_back(std::make_unique<DequantCase>(Quant::kQ4_1, 4096, 4096));
    out->push_back(std::make_unique<DequantCase>(Quant::kQ4_K, 4096, 4096));
    out->push_back(std::make_unique<DequantCase>(Quant::kQ6_K, 4096, 4096));
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
  out->push_back(std::make_unique<DequantCase>(Quant::kQ8_0, 4, 4096));
  out->push_back(std::make_unique<DequantCase>(Quant::kQ8_0, 3, 96));
  out->push_back(std::make_unique<DequantCase>(Quant::kQ4_0, 4, 4096));
  out->push_back(std::make_unique<DequantCase>(Quant::kQ4_0, 5, 32));
  out->push_back(std::make_unique<DequantCase>(Quant::kQ4_1, 4, 4096));
  out->push_back(std::make_unique<DequantCase>(Quant::kQ4_1, 7, 160));
  out->push_back(std::make_unique<DequantCase>(Quant::kQ4_K, 4, 4096));
  out->push_back(std::make_unique<DequantCase>(Quant::kQ4_K, 3, 256));
  out->push_back(std::make_unique<DequantCase>(Quant::kQ6_K, 4, 4096));
  out->push_back(std::make_unique<DequantCase>(Quant::kQ6_K, 5, 768));
  out->push_back(std::make_unique<LogSoftmaxGatherCase>(3, 32000, 10.0f));
  out->push_back(std::make_unique<LogSoftmaxGatherCase>(5, 1001, 10.0f));  // scalar path
  out->push_back(std::make_unique<LogSoftmaxGatherCase>(2, 50257, 60.0f));
  out->push_back(std::make_unique<LogSoftmaxGatherCase>(4, 7, 1.0f));
}

}  // namespace proctor::kernels::cuda
