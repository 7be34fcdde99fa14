#include "worker/engine/backend_cpu.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/reference.h"
#include "worker/engine/backend_vocab_parallel.h"

namespace proctor::engine {
namespace {

namespace ref = kernels::ref;

class CpuTensor : public Tensor {
 public:
  CpuTensor(int64_t rows, int64_t cols)
      : Tensor(rows, cols), data_(static_cast<size_t>(rows * cols)) {}
  float* data() { return data_.data(); }
  const float* data() const { return data_.data(); }

 private:
  std::vector<float> data_;
};

float* Data(Tensor* t) { return static_cast<CpuTensor*>(t)->data(); }
const float* Data(const Tensor& t) { return static_cast<const CpuTensor&>(t).data(); }

class CpuKvStore : public KvStore {
 public:
  CpuKvStore(int64_t n_layers, int64_t kv_dim, int64_t dim)
      : kv_dim_(kv_dim),
        dim_(dim),
        k_(static_cast<size_t>(n_layers)),
        v_(static_cast<size_t>(n_layers)) {}

  void Truncate(int64_t n) override {
    if (n >= length_) return;
    if (n < 0) n = 0;
    length_ = n;
    for (auto& k : k_) k.resize(static_cast<size_t>(n * kv_dim_));
    for (auto& v : v_) v.resize(static_cast<size_t>(n * kv_dim_));
    hidden_.resize(static_cast<size_t>(n * dim_));
  }
  int64_t length() const override { return length_; }
  int64_t Bytes() const override {
    int64_t b = static_cast<int64_t>(hidden_.capacity() * sizeof(float));
    for (const auto& k : k_) b += static_cast<int64_t>(k.capacity() * sizeof(float));
    for (const auto& v : v_) b += static_cast<int64_t>(v.capacity() * sizeof(float));
    return b;
  }

 private:
  friend class CpuBackend;
  int64_t kv_dim_, dim_, length_ = 0;
  std::vector<std::vector<float>> k_, v_;  // per layer [length, kv_dim]
  std::vector<float> hidden_;              // [length, dim], after the final norm
};

class CpuBackend : public Backend {
 public:
  CpuBackend(const ModelWeights* w, kernels::ThreadPool* pool, kernels::comm::Communicator* comm)
      : w_(w), pool_(pool), comm_(w->tp_size > 1 ? comm : nullptr) {}

  std::string name() const override { return "cpu"; }
  const ModelConfig& local_config() const override { return w_->config; }
  int64_t vocab_begin() const override { return w_->vocab_begin; }
  int64_t vocab_local() const override { return w_->output.rows; }
  int tp_rank() const override { return w_->tp_rank; }
  int tp_size() const override { return w_->tp_size; }

  std::unique_ptr<Tensor> NewTensor(int64_t rows, int64_t cols) override {
    return std::make_unique<CpuTensor>(rows, cols);
  }
  absl::StatusOr<std::unique_ptr<KvStore>> NewKvStore() override {
    const ModelConfig& c = w_->config;
    return std::unique_ptr<KvStore>(new CpuKvStore(c.n_layers, c.n_kv_heads * c.head_dim, c.dim));
  }

  absl::Status BeginStep(KvStore* store, const int32_t* tokens, int64_t n, int64_t start) override {
    store_ = static_cast<CpuKvStore*>(store);
    if (store_->length() != start) {
      return absl::InternalError(
          absl::StrCat("step starts at ", start, " but the store holds ", store_->length()));
    }
    tokens_.assign(tokens, tokens + n);
    positions_.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      positions_[static_cast<size_t>(i)] = static_cast<int32_t>(start + i);
    start_ = start;
    return absl::OkStatus();
  }
  absl::Status EndStep() override {
    store_ = nullptr;
    return absl::OkStatus();
  }

  absl::Status Embed(Tensor* x) override {
    const int64_t dim = w_->config.dim;
    const int64_t row_bytes = w_->token_embd.stride();
    float* out = Data(x);
    std::memset(out, 0, static_cast<size_t>(x->rows() * dim) * sizeof(float));
    for (size_t i = 0; i < tokens_.size(); ++i) {
      const int64_t row = tokens_[i] - w_->vocab_begin;
      if (row < 0 || row >= w_->token_embd.rows) continue;
      kernels::DequantizeRow(w_->token_embd.format,
                             static_cast<const uint8_t*>(w_->token_embd.data) + row * row_bytes,
                             out + static_cast<int64_t>(i) * dim, dim);
    }
    return absl::OkStatus();
  }
  absl::Status AllReduceSum(Tensor* x) override {
    if (comm_ != nullptr) comm_->AllReduceSum(Data(x), x->rows() * x->cols());
    return absl::OkStatus();
  }
  absl::Status RmsNorm(const Tensor& x, int64_t layer, LayerNorm norm, Tensor* out) override {
    ref::RmsNorm(Data(x), NormWeight(layer, norm), Data(out), x.rows(), x.cols(),
                 w_->config.norm_eps);
    return absl::OkStatus();
  }
  absl::Status AddRmsNorm(Tensor* residual, const Tensor& delta, int64_t layer, LayerNorm norm,
                          Tensor* out) override {
    ref::AddRmsNorm(Data(residual), Data(delta), NormWeight(layer, norm), Data(out),
                    residual->rows(), residual->cols(), w_->config.norm_eps);
    return absl::OkStatus();
  }
  absl::Status MatMul(const Tensor& x, int64_t layer, LayerWeight which, Tensor* out) override {
    const LayerWeights& L = w_->layers[static_cast<size_t>(layer)];
    const kernels::WeightMatrix* m = &SelectLayerWeight(L, which);
    const std::vector<float>* bias = which == LayerWeight::kQ   ? &L.bq
                                     : which == LayerWeight::kK ? &L.bk
                                     : which == LayerWeight::kV ? &L.bv
                                                                : nullptr;
    if (x.cols() != m->cols || out->cols() != m->rows || out->rows() != x.rows()) {
      return absl::InvalidArgumentError(
          absl::StrCat("matmul shapes: x [", x.rows(), ", ", x.cols(), "] weight [", m->rows, ", ",
                       m->cols, "] out [", out->rows(), ", ", out->cols(), "]"));
    }
    kernels::MatMul(Data(x), x.rows(), *m,
                    bias == nullptr || bias->empty() ? nullptr : bias->data(), Data(out), pool_);
    return absl::OkStatus();
  }
  absl::Status Rope(Tensor* x, int64_t n_heads) override {
    kernels::Rope(Data(x), positions_.data(), x->rows(), n_heads, w_->config.head_dim,
                  w_->config.rope);
    return absl::OkStatus();
  }
  absl::Status Attention(int64_t layer, const Tensor& q, const Tensor& k, const Tensor& v,
                         Tensor* out) override {
    const ModelConfig& c = w_->config;
    const int64_t kv_dim = c.n_kv_heads * c.head_dim, t = q.rows(), total = start_ + t;
    std::vector<float>& kc = store_->k_[static_cast<size_t>(layer)];
    std::vector<float>& vc = store_->v_[static_cast<size_t>(layer)];
    kc.resize(static_cast<size_t>(total * kv_dim));
    vc.resize(static_cast<size_t>(total * kv_dim));
    std::memcpy(kc.data() + start_ * kv_dim, Data(k),
                static_cast<size_t>(t * kv_dim) * sizeof(float));
    std::memcpy(vc.data() + start_ * kv_dim, Data(v),
                static_cast<size_t>(t * kv_dim) * sizeof(float));
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    kernels::Attention(Data(q), kc.data(), vc.data(), Data(out), t, total, c.n_heads, c.n_kv_heads,
                       c.head_dim, start_, scale, pool_);
    return absl::OkStatus();
  }
  absl::Status SwiGlu(const Tensor& gate, const Tensor& up, Tensor* out) override {
    ref::SwiGlu(Data(gate), Data(up), Data(out), gate.rows() * gate.cols());
    return absl::OkStatus();
  }
  absl::Status Add(Tensor* x, const Tensor& delta) override {
    float* a = Data(x);
    const float* b = Data(delta);
    const int64_t n = x->rows() * x->cols();
    for (int64_t i = 0; i < n; ++i) a[i] += b[i];
    return absl::OkStatus();
  }
  absl::Status FinalNorm(const Tensor& x) override {
    const int64_t dim = w_->config.dim, t = x.rows();
    store_->hidden_.resize(static_cast<size_t>((start_ + t) * dim));
    ref::RmsNorm(Data(x), w_->output_norm.data(), store_->hidden_.data() + start_ * dim, t, dim,
                 w_->config.norm_eps);
    store_->length_ = start_ + t;
    return absl::OkStatus();
  }

  absl::Status Logits(const KvStore& store, const int64_t* positions, int64_t n,
                      float* out) override {
    std::vector<float> h = Hidden(store, positions, n);
    if (comm_ == nullptr) {
      kernels::MatMul(h.data(), n, w_->output, nullptr, out, pool_);
      return absl::OkStatus();
    }
    // Local [n, v_local], gathered by rank, then laid out row by row.
    const int64_t local = w_->output.rows, size = comm_->size();
    std::vector<float> mine(static_cast<size_t>(n * local)),
        all(static_cast<size_t>(size * n * local));
    kernels::MatMul(h.data(), n, w_->output, nullptr, mine.data(), pool_);
    comm_->AllGather(mine.data(), n * local, all.data());
    for (int64_t r = 0; r < size; ++r) {
      for (int64_t i = 0; i < n; ++i) {
        std::memcpy(out + i * size * local + r * local, all.data() + (r * n + i) * local,
                    static_cast<size_t>(local) * sizeof(float));
      }
    }
    return absl::OkStatus();
  }

  absl::Status LogProbs(const KvStore& store, const int64_t* positions, const int32_t* targets,
                        int64_t n, float* logprob, int32_t* argmax) override {
    std::vector<float> h = Hidden(store, positions, n);
    const int64_t local = w_->output.rows;
    std::vector<float> logits(static_cast<size_t>(n * local));
    kernels::MatMul(h.data(), n, w_->output, nullptr, logits.data(), pool_);
    std::vector<VocabShardStats> mine(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      mine[static_cast<size_t>(i)] =
          ReduceVocabShard(logits.data() + i * local, local, w_->vocab_begin, targets[i]);
    }
    const int size = comm_ == nullptr ? 1 : comm_->size();
    std::vector<VocabShardStats> all(static_cast<size_t>(size * n));
    if (comm_ == nullptr) {
      all = mine;
    } else {
      comm_->AllGather(reinterpret_cast<const float*>(mine.data()), n * kVocabShardStatsFloats,
                       reinterpret_cast<float*>(all.data()));
    }
    std::vector<VocabShardStats> row(static_cast<size_t>(size));
    for (int64_t i = 0; i < n; ++i) {
      for (int r = 0; r < size; ++r)
        row[static_cast<size_t>(r)] = all[static_cast<size_t>(r * n + i)];
      CombineVocabShards(row.data(), size, logprob + i, argmax + i);
    }
    return absl::OkStatus();
  }

 private:
  const float* NormWeight(int64_t layer, LayerNorm norm) const {
    const LayerWeights& L = w_->layers[static_cast<size_t>(layer)];
    return norm == LayerNorm::kAttention ? L.attn_norm.data() : L.ffn_norm.data();
  }
  std::vector<float> Hidden(const KvStore& store, const int64_t* positions, int64_t n) const {
    const CpuKvStore& s = static_cast<const CpuKvStore&>(store);
    const int64_t dim = w_->config.dim;
    std::vector<float> h(static_cast<size_t>(n * dim));
    for (int64_t i = 0; i < n; ++i) {
      std::memcpy(h.data() + i * dim, s.hidden_.data() + positions[i] * dim,
                  static_cast<size_t>(dim) * sizeof(float));
    }
    return h;
  }

  const ModelWeights* w_;
  kernels::ThreadPool* pool_;
  kernels::comm::Communicator* comm_;
  CpuKvStore* store_ = nullptr;
  std::vector<int32_t> tokens_, positions_;
  int64_t start_ = 0;
};

}  // namespace

std::unique_ptr<Backend> CreateCpuBackend(const ModelWeights* w, kernels::ThreadPool* pool,
                                          kernels::comm::Communicator* comm) {
  return std::make_unique<CpuBackend>(w, pool, comm);
}

}  // namespace proctor::engine
