#include "worker/engine/backend_cpu.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <span>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
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

// A store's positions [0, base_) are read from other stores (a fork's
// parent chain), [base_, length_) from its own arrays.
//
// Invariants: prefix_ covers [0, base_) in order, without gaps or empty
// segments; each segment names the store whose own arrays hold its positions
// (a root or a fork's own part: forking a fork copies the parent's segments,
// so reads never chase a chain); own arrays hold at least length_ - base_ rows
// (a failed step may leave more, overwritten by the next one).
class CpuKvStore : public KvStore {
 public:
  // Positions [begin, end), held in the own arrays of `owner`.
  struct Segment {
    const CpuKvStore* owner;
    int64_t begin, end;
  };

  CpuKvStore(int64_t n_layers, int64_t kv_dim, int64_t dim)
      : kv_dim_(kv_dim),
        dim_(dim),
        k_(static_cast<size_t>(n_layers)),
        v_(static_cast<size_t>(n_layers)) {}

  // A store whose positions [0, n) are those of `parent` (n <= parent.length()).
  CpuKvStore(const CpuKvStore& parent, int64_t n)
      : CpuKvStore(static_cast<int64_t>(parent.k_.size()), parent.kv_dim_, parent.dim_) {
    for (const Segment& s : parent.prefix_) {
      if (s.begin >= n) break;
      prefix_.push_back({s.owner, s.begin, std::min(s.end, n)});
    }
    if (n > parent.base_) prefix_.push_back({&parent, parent.base_, n});
    base_ = length_ = n;
  }
  CpuKvStore(const CpuKvStore&) = delete;
  CpuKvStore& operator=(const CpuKvStore&) = delete;

  void Truncate(int64_t n) override {
    if (n >= length_) return;
    if (n < 0) n = 0;
    length_ = n;
    if (n < base_) {
      while (!prefix_.empty() && prefix_.back().begin >= n) prefix_.pop_back();
      if (!prefix_.empty()) prefix_.back().end = std::min(prefix_.back().end, n);
      base_ = n;
    }
    const size_t own = static_cast<size_t>(n - base_);
    for (auto& k : k_) k.resize(own * static_cast<size_t>(kv_dim_));
    for (auto& v : v_) v.resize(own * static_cast<size_t>(kv_dim_));
    hidden_.resize(own * static_cast<size_t>(dim_));
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

  // The final hidden state of cached position p (< length_).
  const float* HiddenRow(int64_t p) const {
    if (p >= base_) return hidden_.data() + (p - base_) * dim_;
    for (const Segment& s : prefix_) {
      if (p < s.end) return s.owner->hidden_.data() + (p - s.owner->base_) * dim_;
    }
    return nullptr;  // unreachable: prefix_ covers [0, base_)
  }

  int64_t kv_dim_, dim_;
  int64_t base_ = 0, length_ = 0;
  std::vector<Segment> prefix_;
  std::vector<std::vector<float>> k_, v_;  // per layer [length - base, kv_dim]
  std::vector<float> hidden_;              // [length - base, dim], after the final norm
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

  absl::StatusOr<std::unique_ptr<KvStore>> ForkKvStore(const KvStore& parent, int64_t n) override {
    const CpuKvStore& p = static_cast<const CpuKvStore&>(parent);
    if (n < 0 || n > p.length()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot fork ", n, " positions of a store holding ", p.length()));
    }
    return std::unique_ptr<KvStore>(new CpuKvStore(p, n));
  }

  absl::Status BeginStep(std::span<const StepSequence> sequences) override {
    if (sequences.empty()) return absl::InvalidArgumentError("a step needs a sequence");
    step_.clear();
    tokens_.clear();
    positions_.clear();
    int64_t row = 0;
    for (const StepSequence& sq : sequences) {
      CpuKvStore* store = static_cast<CpuKvStore*>(sq.store);
      if (store == nullptr || sq.n < 1) {
        return absl::InvalidArgumentError("a step sequence needs a store and at least one token");
      }
      for (const StepRows& other : step_) {
        if (other.store == store) {
          return absl::InvalidArgumentError("a store appears twice in one step");
        }
      }
      const int64_t start = store->length();
      step_.push_back({store, row, sq.n, start});
      tokens_.insert(tokens_.end(), sq.tokens, sq.tokens + sq.n);
      for (int64_t j = 0; j < sq.n; ++j) positions_.push_back(static_cast<int32_t>(start + j));
      row += sq.n;
    }
    return absl::OkStatus();
  }
  absl::Status EndStep() override {
    step_.clear();
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
    const int64_t kv_dim = c.n_kv_heads * c.head_dim;
    const size_t l = static_cast<size_t>(layer);
    // Append every sequence's rows first: a fork in this step may read a
    // parent in this step, whose arrays may move as they grow.
    for (const StepRows& sq : step_) {
      CpuKvStore* st = sq.store;
      const int64_t own = sq.start - st->base_;
      std::vector<float>& kc = st->k_[l];
      std::vector<float>& vc = st->v_[l];
      kc.resize(static_cast<size_t>((own + sq.n) * kv_dim));
      vc.resize(static_cast<size_t>((own + sq.n) * kv_dim));
      std::memcpy(kc.data() + own * kv_dim, Data(k) + sq.row * kv_dim,
                  static_cast<size_t>(sq.n * kv_dim) * sizeof(float));
      std::memcpy(vc.data() + own * kv_dim, Data(v) + sq.row * kv_dim,
                  static_cast<size_t>(sq.n * kv_dim) * sizeof(float));
    }
    ranges_.clear();
    seqs_.clear();
    for (const StepRows& sq : step_) {
      const CpuKvStore* st = sq.store;
      seqs_.push_back({sq.row, sq.n, sq.start, nullptr, 0});
      for (const CpuKvStore::Segment& seg : st->prefix_) {
        const int64_t at = (seg.begin - seg.owner->base_) * kv_dim;
        ranges_.push_back(
            {seg.owner->k_[l].data() + at, seg.owner->v_[l].data() + at, seg.end - seg.begin});
      }
      ranges_.push_back({st->k_[l].data(), st->v_[l].data(), sq.start + sq.n - st->base_});
      seqs_.back().n_ranges = static_cast<int64_t>(st->prefix_.size()) + 1;
    }
    for (size_t i = 0, r = 0; i < seqs_.size(); r += static_cast<size_t>(seqs_[i++].n_ranges)) {
      seqs_[i].ranges = ranges_.data() + r;
    }
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    kernels::AttentionBatch(Data(q), Data(out), seqs_.data(), static_cast<int64_t>(seqs_.size()),
                            c.n_heads, c.n_kv_heads, c.head_dim, scale, pool_);
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
    const int64_t dim = w_->config.dim;
    for (const StepRows& sq : step_) {
      CpuKvStore* st = sq.store;
      const int64_t own = sq.start - st->base_;
      st->hidden_.resize(static_cast<size_t>((own + sq.n) * dim));
      ref::RmsNorm(Data(x) + sq.row * dim, w_->output_norm.data(), st->hidden_.data() + own * dim,
                   sq.n, dim, w_->config.norm_eps);
      st->length_ = sq.start + sq.n;
    }
    return absl::OkStatus();
  }

  absl::Status Logits(std::span<const CachedRow> rows, float* out) override {
    const int64_t n = static_cast<int64_t>(rows.size());
    PROCTOR_ASSIGN_OR_RETURN(std::vector<float> h, Hidden(rows));
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

  absl::Status LogProbs(std::span<const CachedRow> rows, const int32_t* targets, float* logprob,
                        int32_t* argmax) override {
    const int64_t n = static_cast<int64_t>(rows.size());
    PROCTOR_ASSIGN_OR_RETURN(std::vector<float> h, Hidden(rows));
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
  // The final hidden states at `rows`, gathered [rows.size(), dim].
  absl::StatusOr<std::vector<float>> Hidden(std::span<const CachedRow> rows) const {
    const int64_t dim = w_->config.dim;
    std::vector<float> h(rows.size() * static_cast<size_t>(dim));
    for (size_t i = 0; i < rows.size(); ++i) {
      const CpuKvStore* s = static_cast<const CpuKvStore*>(rows[i].store);
      if (s == nullptr || rows[i].position < 0 || rows[i].position >= s->length()) {
        return absl::InvalidArgumentError(
            absl::StrCat("row ", i, ": position ", rows[i].position, " is not cached"));
      }
      std::memcpy(h.data() + static_cast<int64_t>(i) * dim, s->HiddenRow(rows[i].position),
                  static_cast<size_t>(dim) * sizeof(float));
    }
    return h;
  }

  // One sequence of the current step: rows [row, row + n) of its tensors,
  // appended to `store` at positions start ...
  struct StepRows {
    CpuKvStore* store;
    int64_t row, n, start;
  };

  const ModelWeights* w_;
  kernels::ThreadPool* pool_;
  kernels::comm::Communicator* comm_;
  std::vector<StepRows> step_;
  std::vector<int32_t> tokens_, positions_;  // per step row
  // Attention scratch, kept to avoid reallocating per layer.
  std::vector<kernels::KvRange> ranges_;
  std::vector<kernels::AttentionSequence> seqs_;
};

}  // namespace

std::unique_ptr<Backend> CreateCpuBackend(const ModelWeights* w, kernels::ThreadPool* pool,
                                          kernels::comm::Communicator* comm) {
  return std::make_unique<CpuBackend>(w, pool, comm);
}

}  // namespace proctor::engine
