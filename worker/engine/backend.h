// The compute interface the transformer is written against (ARCHITECTURE.md
// §4: "the transformer code calls a backend interface and never touches CUDA
// itself"). One Backend is one tensor-parallel rank: it owns that rank's
// weights (or views of them), allocates activations and KV storage in its own
// memory (host for "cpu", device for "cuda"), and reaches the other ranks of
// its group through a kernels::comm::Communicator.
//
// Shapes. Activations are row-major [rows, cols] matrices of the backend's
// activation type (F32 on the CPU, BF16 on CUDA). `local` below means this
// rank's slice: local_config() has this rank's n_heads, n_kv_heads and
// hidden_dim; dim and vocab_size stay global.
//
// Calling protocol (what the Transformer does, and what a backend may rely on):
//   BeginStep(sequences)   one or more sequences, each appending n tokens to
//                          its own store at positions store->length()...
//   Embed -> AllReduceSum -> per layer { RmsNorm, MatMul Q/K/V, Rope,
//   Attention, MatMul O, AllReduceSum, AddRmsNorm, MatMul gate/up, SwiGlu,
//   MatMul down, AllReduceSum, Add } -> FinalNorm
//   EndStep()
// A step's activation tensors have one row per token of the step: the rows of
// sequence 0, then those of sequence 1, ... (a batched step runs every matmul
// once over the rows of all its sequences). Every rank makes the same calls in
// the same order (the collectives inside AllReduceSum, Logits and LogProbs
// pair up across ranks). A Backend is used by one thread at a time. Errors are
// absl::Status: INVALID_ARGUMENT for shapes that do not match,
// RESOURCE_EXHAUSTED when storage runs out, INTERNAL for a failed device call
// (with the device's message).
#ifndef PROCTOR_WORKER_ENGINE_BACKEND_H_
#define PROCTOR_WORKER_ENGINE_BACKEND_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/engine/model_config.h"

namespace proctor::engine {

// An activation matrix owned by a backend. Only the backend that made it
// reads its contents; the transformer sees shapes.
class Tensor {
 public:
  virtual ~Tensor() = default;
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }

 protected:
  Tensor(int64_t rows, int64_t cols) : rows_(rows), cols_(cols) {}

 private:
  int64_t rows_, cols_;
};

// Per-sequence storage of one rank: K and V of every layer for every cached
// position, plus the final normalised hidden state of each position (so that
// logits can be computed later, only where they are scored). A store may be a
// fork of another (Backend::ForkKvStore) and share its first positions.
class KvStore {
 public:
  virtual ~KvStore() = default;
  // Drops every position >= n (no-op when n >= length()).
  virtual void Truncate(int64_t n) = 0;
  // Positions held.
  virtual int64_t length() const = 0;
  // Bytes currently held (host or device), not counting storage shared with
  // the store this one was forked from.
  virtual int64_t Bytes() const = 0;
};

// One sequence of a step: `n` tokens (ids already validated) appended to
// `store` at positions store->length() .. store->length() + n - 1.
struct StepSequence {
  KvStore* store = nullptr;
  const int32_t* tokens = nullptr;
  int64_t n = 0;
};

// A cached position of a store, for Logits and LogProbs.
struct CachedRow {
  const KvStore* store = nullptr;
  int64_t position = 0;
};

// The projections of one layer, in [out, in] layout.
enum class LayerWeight { kQ, kK, kV, kO, kGate, kUp, kDown };

// The member of a backend's per-layer weight struct that `which` names; the
// struct has members wq, wk, wv, wo, w_gate, w_up, w_down of one matrix type
// (the CPU backend's LayerWeights, the CUDA backend's DeviceLayer).
template <typename Layer>
const auto& SelectLayerWeight(const Layer& layer, LayerWeight which) {
  switch (which) {
    case LayerWeight::kQ:
      return layer.wq;
    case LayerWeight::kK:
      return layer.wk;
    case LayerWeight::kV:
      return layer.wv;
    case LayerWeight::kO:
      return layer.wo;
    case LayerWeight::kGate:
      return layer.w_gate;
    case LayerWeight::kUp:
      return layer.w_up;
    case LayerWeight::kDown:
      break;
  }
  return layer.w_down;
}

// The norms: a layer's attention or FFN norm.
enum class LayerNorm { kAttention, kFfn };

class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu" or "cuda".
  virtual std::string name() const = 0;
  // The local (sharded) configuration: see the file comment.
  virtual const ModelConfig& local_config() const = 0;
  // First vocabulary row this rank holds, and how many.
  virtual int64_t vocab_begin() const = 0;
  virtual int64_t vocab_local() const = 0;
  // Tensor-parallel rank and group size (1 when not sharded).
  virtual int tp_rank() const = 0;
  virtual int tp_size() const = 0;

  // A new activation [rows, cols]; contents unspecified. Null only when
  // storage is exhausted (the step then fails with RESOURCE_EXHAUSTED).
  virtual std::unique_ptr<Tensor> NewTensor(int64_t rows, int64_t cols) = 0;
  // New, empty per-sequence storage.
  virtual absl::StatusOr<std::unique_ptr<KvStore>> NewKvStore() = 0;
  // A store holding positions 0 .. n-1 of `parent` (a store of this backend,
  // n <= parent.length()), sharing the parent's storage where the backend can
  // (the CPU backend reads the parent's rows; the CUDA backend shares whole KV
  // pages with a reference count and copies a shared partial page only when a
  // step first appends into it) — this is how continuations branch
  // from one cached prefix and run in one batched step. While the fork lives
  // the parent must stay alive and must not be truncated below n; appending to
  // the parent is allowed. Truncating the fork below n only shortens its view.
  virtual absl::StatusOr<std::unique_ptr<KvStore>> ForkKvStore(const KvStore& parent,
                                                               int64_t n) = 0;

  // Brackets one forward step over `sequences` (non-empty, distinct stores,
  // each n >= 1; sum of n <= the transformer's step size). Row r of the step
  // belonging to sequence s at index j is at position
  // sequences[s].store->length() + j. Backends use the bracket for per-step
  // state (device copies of ids, positions and block tables, CUDA graph
  // capture of decode steps).
  virtual absl::Status BeginStep(std::span<const StepSequence> sequences) = 0;
  virtual absl::Status EndStep() = 0;
  // True when BeginStep found a captured graph for this step and already ran
  // it: the caller must skip the ops and call EndStep directly.
  virtual bool StepReplayed() const { return false; }

  // x[i, :] = embedding row of the step's token i when this rank holds it,
  // zeros otherwise (vocabulary-parallel; AllReduceSum assembles the rows).
  virtual absl::Status Embed(Tensor* x) = 0;
  // data = sum over ranks (no-op at tp_size 1).
  virtual absl::Status AllReduceSum(Tensor* x) = 0;
  // out = RmsNorm(x) * weight of `norm` of `layer`. out may alias x.
  virtual absl::Status RmsNorm(const Tensor& x, int64_t layer, LayerNorm norm, Tensor* out) = 0;
  // residual += delta; out = RmsNorm(residual) * weight. out may alias delta,
  // not residual.
  virtual absl::Status AddRmsNorm(Tensor* residual, const Tensor& delta, int64_t layer,
                                  LayerNorm norm, Tensor* out) = 0;
  // out[rows, w.out] = x[rows, w.in] * W^T (+ the layer's bias for Q/K/V when present).
  virtual absl::Status MatMul(const Tensor& x, int64_t layer, LayerWeight w, Tensor* out) = 0;
  // Rotates x[rows, n_heads * head_dim] in place, each row at its position.
  virtual absl::Status Rope(Tensor* x, int64_t n_heads) = 0;
  // Appends each sequence's rows of k, v to `layer` of its store and writes
  // causal GQA attention into out: a row at position p of sequence s attends
  // to positions 0 .. p of s's store (its cached prefix, then its own rows).
  virtual absl::Status Attention(int64_t layer, const Tensor& q, const Tensor& k, const Tensor& v,
                                 Tensor* out) = 0;
  // out = silu(gate) * up (element-wise). out may alias gate or up.
  virtual absl::Status SwiGlu(const Tensor& gate, const Tensor& up, Tensor* out) = 0;
  // x += delta.
  virtual absl::Status Add(Tensor* x, const Tensor& delta) = 0;
  // Stores RmsNorm(x) * output_norm as the final hidden states of the step's
  // positions and extends each sequence's store by its n.
  virtual absl::Status FinalNorm(const Tensor& x) = 0;

  // out[i, :] = logits over the FULL vocabulary at the cached row rows[i]
  // (host F32 [rows.size(), vocab_size]); at tp_size > 1 every rank computes
  // its vocabulary rows and they are gathered. Rows may come from different
  // stores: one vocabulary matmul serves them all.
  virtual absl::Status Logits(std::span<const CachedRow> rows, float* out) = 0;
  // Vocabulary-parallel scoring without gathering logits: for row i,
  // logprob[i] = log softmax(logits at rows[i])[targets[i]] and argmax[i]
  // = the most likely token (lowest id on ties). Host outputs [rows.size()].
  // Each rank reduces its vocabulary slice to VocabShardStats and only those
  // are exchanged (vocab_parallel.h).
  virtual absl::Status LogProbs(std::span<const CachedRow> rows, const int32_t* targets,
                                float* logprob, int32_t* argmax) = 0;
};

}  // namespace proctor::engine

#endif  // PROCTOR_WORKER_ENGINE_BACKEND_H_
