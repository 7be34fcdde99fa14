#include "worker/engine/transformer.h"

#include <algorithm>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <span>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/backend_cpu.h"

namespace proctor::engine {

KvCache::KvCache(const ModelConfig& /*c*/) {}

void KvCache::Truncate(int64_t n) {
  if (n >= length()) return;
  if (n < 0) n = 0;
  tokens_.resize(static_cast<size_t>(n));
  for (auto& s : stores_) s->Truncate(n);
}

int64_t KvCache::Bytes() const {
  int64_t b = 0;
  for (const auto& s : stores_) b += s->Bytes();
  return b;
}

// Persistent threads for ranks 1..k-1 (rank 0 runs on the caller): a
// generation counter hands each of them the current job.
class Transformer::RankThreads {
 public:
  explicit RankThreads(int ranks) : results_(static_cast<size_t>(ranks)) {
    for (int r = 1; r < ranks; ++r) threads_.emplace_back([this, r] { Loop(r); });
  }
  ~RankThreads() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      ++generation_;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  absl::Status Run(const std::function<absl::Status(int)>& fn) {
    std::unique_lock<std::mutex> lock(mu_);
    fn_ = &fn;
    pending_ = static_cast<int>(threads_.size());
    ++generation_;
    cv_.notify_all();
    lock.unlock();
    results_[0] = fn(0);
    lock.lock();
    done_.wait(lock, [&] { return pending_ == 0; });
    fn_ = nullptr;
    for (const absl::Status& s : results_) {
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

 private:
  void Loop(int rank) {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
      if (stop_) return;
      const std::function<absl::Status(int)>* fn = fn_;
      lock.unlock();
      absl::Status s = (*fn)(rank);
      lock.lock();
      results_[static_cast<size_t>(rank)] = std::move(s);
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_, done_;
  uint64_t generation_ = 0;
  bool stop_ = false;
  int pending_ = 0;
  const std::function<absl::Status(int)>* fn_ = nullptr;
  std::vector<absl::Status> results_;
  std::vector<std::thread> threads_;
};

Transformer::Transformer(const ModelWeights* w, kernels::ThreadPool* pool,
                         kernels::comm::Communicator* comm)
    : owned_(CreateCpuBackend(w, pool, comm)), ranks_{owned_.get()} {}

Transformer::Transformer(std::vector<Backend*> ranks) : ranks_(std::move(ranks)) {
  if (ranks_.size() > 1) threads_ = std::make_unique<RankThreads>(static_cast<int>(ranks_.size()));
}

Transformer::~Transformer() = default;

absl::Status Transformer::OnAllRanks(const std::function<absl::Status(int)>& fn) const {
  if (threads_ == nullptr) return fn(0);
  return threads_->Run(fn);
}

absl::Status Transformer::Extend(const std::vector<int32_t>& tokens, KvCache* cache) const {
  const ExtendItem item{cache, tokens};
  return ExtendBatch(std::span<const ExtendItem>(&item, 1));
}

absl::Status Transformer::ExtendBatch(std::span<const ExtendItem> items) const {
  const ModelConfig& c = config();
  for (size_t k = 0; k < items.size(); ++k) {
    const ExtendItem& it = items[k];
    if (it.cache == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("item ", k, ": no cache"));
    }
    for (size_t j = 0; j < k; ++j) {
      if (items[j].cache == it.cache) {
        return absl::InvalidArgumentError(
            absl::StrCat("items ", j, " and ", k, " extend the same cache"));
      }
    }
    for (size_t i = 0; i < it.tokens.size(); ++i) {
      if (it.tokens[i] < 0 || it.tokens[i] >= c.vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat("item ", k, ": token id ", it.tokens[i],
                                                       " at index ", i,
                                                       " is outside the vocabulary"));
      }
    }
    const int64_t total = it.cache->length() + static_cast<int64_t>(it.tokens.size());
    if (total > c.context_length) {
      return absl::InvalidArgumentError(absl::StrCat("item ", k, ": sequence of ", total,
                                                     " tokens exceeds the model context length ",
                                                     c.context_length));
    }
    if (!it.cache->stores_.empty() && it.cache->stores_.size() != ranks_.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("item ", k, ": KV cache was made by a transformer with another rank count"));
    }
  }
  for (const ExtendItem& it : items) {
    if (!it.cache->stores_.empty() || it.tokens.empty()) continue;
    std::vector<std::unique_ptr<KvStore>> stores;
    for (Backend* b : ranks_) {
      PROCTOR_ASSIGN_OR_RETURN(std::unique_ptr<KvStore> s, b->NewKvStore());
      stores.push_back(std::move(s));
    }
    it.cache->stores_ = std::move(stores);
  }

  std::vector<int64_t> before(items.size()), done(items.size(), 0);
  for (size_t k = 0; k < items.size(); ++k) before[k] = items[k].cache->length();
  auto rewind = [&] {
    for (size_t k = 0; k < items.size(); ++k) {
      KvCache* cache = items[k].cache;
      cache->Truncate(before[k]);
      for (auto& st : cache->stores_) st->Truncate(before[k]);
    }
  };
  // Steps of at most max_step_rows() rows, filled with the items in order;
  // step[i] takes `n` tokens of item `item` from `done`.
  struct Part {
    size_t item;
    int64_t from, n;
  };
  std::vector<Part> step;
  std::vector<std::vector<StepSequence>> seqs(ranks_.size());
  size_t next = 0;  // first item with tokens left
  for (;;) {
    step.clear();
    int64_t room = max_step_rows();
    for (size_t k = next; k < items.size() && room > 0; ++k) {
      const int64_t left = static_cast<int64_t>(items[k].tokens.size()) - done[k];
      if (left <= 0) continue;
      const int64_t n = std::min(left, room);
      step.push_back({k, done[k], n});
      room -= n;
    }
    if (step.empty()) break;
    for (size_t r = 0; r < ranks_.size(); ++r) {
      seqs[r].clear();
      for (const Part& p : step) {
        seqs[r].push_back(
            {items[p.item].cache->stores_[r].get(), items[p.item].tokens.data() + p.from, p.n});
      }
    }
    absl::Status s = OnAllRanks([&](int r) {
      return ExtendChunk(ranks_[static_cast<size_t>(r)], seqs[static_cast<size_t>(r)]);
    });
    if (!s.ok()) {
      rewind();
      return s;
    }
    for (const Part& p : step) {
      const int32_t* t = items[p.item].tokens.data() + p.from;
      std::vector<int32_t>& dst = items[p.item].cache->tokens_;
      dst.insert(dst.end(), t, t + p.n);
      done[p.item] += p.n;
    }
    while (next < items.size() && done[next] >= static_cast<int64_t>(items[next].tokens.size())) {
      ++next;
    }
  }
  return absl::OkStatus();
}

absl::Status Transformer::Fork(const KvCache& parent, int64_t n, KvCache* out) const {
  if (out == &parent) return absl::InvalidArgumentError("cannot fork a cache into itself");
  if (n < 0 || n > parent.length()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot fork ", n, " positions of a cache holding ", parent.length()));
  }
  std::vector<std::unique_ptr<KvStore>> stores(ranks_.size());
  if (!parent.stores_.empty()) {
    if (parent.stores_.size() != ranks_.size()) {
      return absl::InvalidArgumentError(
          "KV cache was made by a transformer with another rank count");
    }
    PROCTOR_RETURN_IF_ERROR(OnAllRanks([&](int r) -> absl::Status {
      const size_t i = static_cast<size_t>(r);
      PROCTOR_ASSIGN_OR_RETURN(stores[i], ranks_[i]->ForkKvStore(*parent.stores_[i], n));
      return absl::OkStatus();
    }));
  } else {
    stores.clear();  // an empty parent (n == 0): storage comes on first use
  }
  out->stores_ = std::move(stores);
  out->tokens_.assign(parent.tokens_.begin(), parent.tokens_.begin() + n);
  return absl::OkStatus();
}

absl::Status Transformer::ExtendChunk(Backend* b, std::span<const StepSequence> seqs) const {
  const ModelConfig& c = b->local_config();
  const int64_t dim = c.dim, nh = c.n_heads, nkv = c.n_kv_heads;
  const int64_t q_dim = nh * c.head_dim, kv_dim = nkv * c.head_dim, hidden = c.hidden_dim;
  int64_t t = 0;
  for (const StepSequence& sq : seqs) t += sq.n;
  PROCTOR_RETURN_IF_ERROR(b->BeginStep(seqs));
  if (b->StepReplayed()) return b->EndStep();

  std::unique_ptr<Tensor> x = b->NewTensor(t, dim), xb = b->NewTensor(t, dim);
  std::unique_ptr<Tensor> q = b->NewTensor(t, q_dim), att = b->NewTensor(t, q_dim);
  std::unique_ptr<Tensor> k = b->NewTensor(t, kv_dim), v = b->NewTensor(t, kv_dim);
  std::unique_ptr<Tensor> gate = b->NewTensor(t, hidden), up = b->NewTensor(t, hidden);
  if (!x || !xb || !q || !att || !k || !v || !gate || !up) {
    (void)b->EndStep();
    return absl::ResourceExhaustedError(
        absl::StrCat("backend ", b->name(), ": no memory for the activations of ", t, " tokens"));
  }
  auto run = [&]() -> absl::Status {
    // Vocabulary-parallel embedding: rows outside this shard are zero and the
    // all-reduce assembles them.
    PROCTOR_RETURN_IF_ERROR(b->Embed(x.get()));
    PROCTOR_RETURN_IF_ERROR(b->AllReduceSum(x.get()));
    for (int64_t l = 0; l < c.n_layers; ++l) {
      PROCTOR_RETURN_IF_ERROR(b->RmsNorm(*x, l, LayerNorm::kAttention, xb.get()));
      PROCTOR_RETURN_IF_ERROR(b->MatMul(*xb, l, LayerWeight::kQ, q.get()));
      PROCTOR_RETURN_IF_ERROR(b->MatMul(*xb, l, LayerWeight::kK, k.get()));
      PROCTOR_RETURN_IF_ERROR(b->MatMul(*xb, l, LayerWeight::kV, v.get()));
      PROCTOR_RETURN_IF_ERROR(b->Rope(q.get(), nh));
      PROCTOR_RETURN_IF_ERROR(b->Rope(k.get(), nkv));
      PROCTOR_RETURN_IF_ERROR(b->Attention(l, *q, *k, *v, att.get()));
      PROCTOR_RETURN_IF_ERROR(b->MatMul(*att, l, LayerWeight::kO, xb.get()));
      PROCTOR_RETURN_IF_ERROR(b->AllReduceSum(xb.get()));  // row-parallel O
      PROCTOR_RETURN_IF_ERROR(b->AddRmsNorm(x.get(), *xb, l, LayerNorm::kFfn, xb.get()));
      PROCTOR_RETURN_IF_ERROR(b->MatMul(*xb, l, LayerWeight::kGate, gate.get()));
      PROCTOR_RETURN_IF_ERROR(b->MatMul(*xb, l, LayerWeight::kUp, up.get()));
      PROCTOR_RETURN_IF_ERROR(b->SwiGlu(*gate, *up, gate.get()));
      PROCTOR_RETURN_IF_ERROR(b->MatMul(*gate, l, LayerWeight::kDown, xb.get()));
      PROCTOR_RETURN_IF_ERROR(b->AllReduceSum(xb.get()));  // row-parallel down
      PROCTOR_RETURN_IF_ERROR(b->Add(x.get(), *xb));
    }
    return b->FinalNorm(*x);
  };
  absl::Status s = run();
  absl::Status end = b->EndStep();
  return s.ok() ? end : s;
}

namespace {

std::vector<CacheRow> RowsOf(const KvCache& cache, const int64_t* positions, int64_t n) {
  std::vector<CacheRow> rows(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) rows[static_cast<size_t>(i)] = {&cache, positions[i]};
  return rows;
}

}  // namespace

absl::Status Transformer::CheckRows(std::span<const CacheRow> rows) const {
  for (size_t i = 0; i < rows.size(); ++i) {
    const KvCache* cache = rows[i].cache;
    if (cache == nullptr) return absl::InvalidArgumentError(absl::StrCat("row ", i, ": no cache"));
    if (rows[i].position < 0 || rows[i].position >= cache->length()) {
      return absl::InvalidArgumentError(absl::StrCat("row ", i, ": position ", rows[i].position,
                                                     " is not cached (length ", cache->length(),
                                                     ")"));
    }
    if (cache->stores_.size() != ranks_.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("row ", i, ": the KV cache holds no positions of this transformer"));
    }
  }
  return absl::OkStatus();
}

void Transformer::Logits(const KvCache& cache, const int64_t* positions, int64_t n,
                         float* out) const {
  const std::vector<CacheRow> rows = RowsOf(cache, positions, n);
  if (!Logits(rows, out).ok()) {
    std::fill(out, out + n * config().vocab_size, std::numeric_limits<float>::quiet_NaN());
  }
}

absl::Status Transformer::Logits(std::span<const CacheRow> rows, float* out) const {
  PROCTOR_RETURN_IF_ERROR(CheckRows(rows));
  if (rows.empty()) return absl::OkStatus();
  const int64_t n = static_cast<int64_t>(rows.size()), vocab = config().vocab_size;
  std::vector<std::vector<float>> scratch(ranks_.size());
  return OnAllRanks([&](int r) {
    const size_t i = static_cast<size_t>(r);
    std::vector<CachedRow> mine(rows.size());
    for (size_t j = 0; j < rows.size(); ++j) {
      mine[j] = {rows[j].cache->stores_[i].get(), rows[j].position};
    }
    float* dst = out;
    if (r != 0) {
      scratch[i].resize(static_cast<size_t>(n * vocab));
      dst = scratch[i].data();
    }
    return ranks_[i]->Logits(mine, dst);
  });
}

absl::Status Transformer::LogProbs(const KvCache& cache, const int64_t* positions,
                                   const int32_t* targets, int64_t n, float* logprob,
                                   int32_t* argmax) const {
  return LogProbs(RowsOf(cache, positions, n), targets, logprob, argmax);
}

absl::Status Transformer::LogProbs(std::span<const CacheRow> rows, const int32_t* targets,
                                   float* logprob, int32_t* argmax) const {
  PROCTOR_RETURN_IF_ERROR(CheckRows(rows));
  if (rows.empty()) return absl::OkStatus();
  const size_t n = rows.size();
  std::vector<std::vector<float>> lp(ranks_.size());
  std::vector<std::vector<int32_t>> am(ranks_.size());
  return OnAllRanks([&](int r) {
    const size_t i = static_cast<size_t>(r);
    std::vector<CachedRow> mine(n);
    for (size_t j = 0; j < n; ++j) mine[j] = {rows[j].cache->stores_[i].get(), rows[j].position};
    float* l = logprob;
    int32_t* a = argmax;
    if (r != 0) {
      lp[i].resize(n);
      am[i].resize(n);
      l = lp[i].data();
      a = am[i].data();
    }
    return ranks_[i]->LogProbs(mine, targets, l, a);
  });
}

}  // namespace proctor::engine
