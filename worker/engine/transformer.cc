#include "worker/engine/transformer.h"

#include <algorithm>
#include <condition_variable>
#include <limits>
#include <mutex>
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
  const ModelConfig& c = config();
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= c.vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("token id ", tokens[i], " at index ", i, " is outside the vocabulary"));
    }
  }
  if (cache->length() + static_cast<int64_t>(tokens.size()) > c.context_length) {
    return absl::InvalidArgumentError(
        absl::StrCat("sequence of ", cache->length() + static_cast<int64_t>(tokens.size()),
                     " tokens exceeds the model context length ", c.context_length));
  }
  if (cache->stores_.empty()) {
    for (Backend* b : ranks_) {
      PROCTOR_ASSIGN_OR_RETURN(std::unique_ptr<KvStore> s, b->NewKvStore());
      cache->stores_.push_back(std::move(s));
    }
  }
  if (cache->stores_.size() != ranks_.size()) {
    return absl::InternalError("KV cache was made by a transformer with another rank count");
  }
  constexpr int64_t kChunk = 256;  // bounds activation memory during prefill
  const int64_t before = cache->length();
  for (size_t at = 0; at < tokens.size(); at += kChunk) {
    const int64_t n = std::min<int64_t>(kChunk, static_cast<int64_t>(tokens.size() - at));
    const int64_t start = cache->length();
    absl::Status s = OnAllRanks([&](int r) {
      return ExtendChunk(ranks_[static_cast<size_t>(r)],
                         cache->stores_[static_cast<size_t>(r)].get(), tokens.data() + at, n,
                         start);
    });
    if (!s.ok()) {
      cache->Truncate(before);
      for (auto& st : cache->stores_) st->Truncate(before);
      return s;
    }
    cache->tokens_.insert(cache->tokens_.end(), tokens.begin() + static_cast<std::ptrdiff_t>(at),
                          tokens.begin() + static_cast<std::ptrdiff_t>(at) + n);
  }
  return absl::OkStatus();
}

absl::Status Transformer::ExtendChunk(Backend* b, KvStore* store, const int32_t* tokens, int64_t t,
                                      int64_t start) const {
  const ModelConfig& c = b->local_config();
  const int64_t dim = c.dim, nh = c.n_heads, nkv = c.n_kv_heads;
  const int64_t q_dim = nh * c.head_dim, kv_dim = nkv * c.head_dim, hidden = c.hidden_dim;
  PROCTOR_RETURN_IF_ERROR(b->BeginStep(store, tokens, t, start));
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

void Transformer::Logits(const KvCache& cache, const int64_t* positions, int64_t n,
                         float* out) const {
  const int64_t vocab = config().vocab_size;
  if (cache.stores_.size() != ranks_.size()) {
    std::fill(out, out + n * vocab, std::numeric_limits<float>::quiet_NaN());
    return;
  }
  std::vector<std::vector<float>> scratch(ranks_.size());
  absl::Status s = OnAllRanks([&](int r) {
    float* dst = out;
    if (r != 0) {
      scratch[static_cast<size_t>(r)].resize(static_cast<size_t>(n * vocab));
      dst = scratch[static_cast<size_t>(r)].data();
    }
    return ranks_[static_cast<size_t>(r)]->Logits(*cache.stores_[static_cast<size_t>(r)], positions,
                                                  n, dst);
  });
  if (!s.ok()) std::fill(out, out + n * vocab, std::numeric_limits<float>::quiet_NaN());
}

absl::Status Transformer::LogProbs(const KvCache& cache, const int64_t* positions,
                                   const int32_t* targets, int64_t n, float* logprob,
                                   int32_t* argmax) const {
  for (int64_t i = 0; i < n; ++i) {
    if (positions[i] < 0 || positions[i] >= cache.length()) {
      return absl::InvalidArgumentError(
          absl::StrCat("position ", positions[i], " is not cached (length ", cache.length(), ")"));
    }
  }
  if (cache.stores_.size() != ranks_.size()) {
    return absl::InvalidArgumentError("the KV cache holds no positions of this transformer");
  }
  std::vector<std::vector<float>> lp(ranks_.size());
  std::vector<std::vector<int32_t>> am(ranks_.size());
  return OnAllRanks([&](int r) {
    float* l = logprob;
    int32_t* a = argmax;
    if (r != 0) {
      lp[static_cast<size_t>(r)].resize(static_cast<size_t>(n));
      am[static_cast<size_t>(r)].resize(static_cast<size_t>(n));
      l = lp[static_cast<size_t>(r)].data();
      a = am[static_cast<size_t>(r)].data();
    }
    return ranks_[static_cast<size_t>(r)]->LogProbs(*cache.stores_[static_cast<size_t>(r)],
                                                    positions, targets, n, l, a);
  });
}

}  // namespace proctor::engine
