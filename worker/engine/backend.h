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
//   BeginStep(store, tokens, n, start)      positions start .. start+n-1
//   Embed -> AllReduceSum -> per layer { RmsNorm, MatMul Q/K/V, Rope,
//   Attention, MatMul O, AllReduceSum, AddRmsNorm, MatMul gate/up, SwiGlu,
//   MatMul down, AllReduceSum, Add } -> FinalNorm
//   EndStep()
// Every rank makes the same calls in the same order (the collectives inside
// AllReduceSum, Logits and LogProbs pair up across ranks). A Backend is used by
// one thread at a time. Errors are absl::Status: INVALID_ARGUMENT for shapes
// that do not match, RESOURCE_EXHAUSTED when storage runs out, INTERNAL for a
// failed device call (with the device's message).
#ifndef PROCTOR_WORKER_ENGINE_BACKEND_H_
#define PROCTOR_WORKER_ENGINE_BACKEND_H_

#include <cstdint>
#include <memory>
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
// logits can be computed later, only where they are scored).
class KvStore {
 public:
  virtual ~KvStore() = default;
  // Drops every position >= n (no-op when n >= length()).
  virtual void Truncate(int64_t n) = 0;
  // Positions held.
  virtual int64_t length() const = 0;
  // Bytes currently held (host or device).
  virtual int64_t Bytes() const = 0;
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

  // Brackets one forward step over tokens[0..n) at positions start.. of
  // `store` (whose length() is `start`). Ids were validated by the caller.
  // Backends use the bracket for per-step state (device copies of ids and
  // positions, CUDA graph capture of single-token steps).
  virtual absl::Status BeginStep(KvStore* store, const int32_t* tokens, int64_t n,
                                 int64_t start) = 0;
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
  // Rotates x[rows, n_heads * head_dim] in place; row i is at position start + i.
  virtual absl::Status Rope(Tensor* x, int64_t n_heads) = 0;
  // Appends k, v (the step's rows) to `layer` of the step's store and writes
  // causal GQA attention of q over positions 0 .. start+i into out.
  virtual absl::Status Attention(int64_t layer, const Tensor& q, const Tensor& k, const Tensor& v,
                                 Tensor* out) = 0;
  // out = silu(gate) * up (element-wise). out may alias gate or up.
  virtual absl::Status SwiGlu(const Tensor& gate, const Tensor& up, Tensor* out) = 0;
  // x += delta.
  virtual absl::Status Add(Tensor* x, const Tensor& delta) = 0;
  // Stores RmsNorm(x) * output_norm as the final hidden states of the step's
  // positions and extends the store's length by the step's n.
  virtual absl::Status FinalNorm(const Tensor& x) = 0;

  // out[i, :] = logits over the FULL vocabulary at cached position
  // positions[i] of `store` (host F32 [n, vocab_size]); at tp_size > 1 every
  // rank computes its vocabulary rows and they are gathered.
  virtual absl::Status Logits(const KvStore& store, const int64_t* positions, int64_t n,
                              float* out) = 0;
  // Vocabulary-parallel scoring without gathering logits: for row i,
  // logprob[i] = log softmax(logits at positions[i])[targets[i]] and argmax[i]
  // = the most likely token (lowest id on ties). Host outputs [n]. Each rank
  // reduces its vocabulary slice to VocabShardStats and only those are
  // exchanged (vocab_parallel.h).
  virtual absl::Status LogProbs(const KvStore& store, const int64_t* positions,
                                const int32_t* targets, int64_t n, float* logprob,
                                int32_t* argmax) = 0;
};

}  // namespace proctor::engine

#endif  // PROCTOR_WORKER_ENGINE_BACKEND_H_
