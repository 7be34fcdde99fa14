#include "worker/engine/cuda/backend_cuda.h"

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <span>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/cpu/weight_format.h"
#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/engine_ops.cuh"
#include "kernels/cuda/gemm.cuh"
#include "kernels/cuda/rms_norm.cuh"
#include "kernels/cuda/rope.cuh"
#include "worker/engine/backend_vocab_parallel.h"
#include "worker/engine/cuda/cuda_status.h"
#include "worker/engine/cuda/page_table.h"
#include "worker/engine/cuda/step_layout.h"

namespace proctor::engine::cuda {
namespace {

namespace kc = kernels::cuda;
using bf16 = __nv_bfloat16;

constexpr size_t kAlign = 256;
constexpr size_t kStagingBytes = size_t{32} << 20;

size_t AlignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// Round-to-nearest-even F32 -> BF16 bits (NaN stays NaN).
uint16_t ToBf16Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// The device decoder of a GGML block format (kernels/cuda/elementwise.cuh),
// or null for formats decoded on the host.
using DequantFn = cudaError_t (*)(const void*, int64_t, int64_t, __nv_bfloat16*, cudaStream_t);
DequantFn DeviceDequant(kernels::WeightFormat f) {
  switch (f) {
    case kernels::WeightFormat::kQ8_0:
      return kernels::cuda::DequantizeQ8_0ToBf16;
    case kernels::WeightFormat::kQ4_0:
      return kernels::cuda::DequantizeQ4_0ToBf16;
    case kernels::WeightFormat::kQ4_1:
      return kernels::cuda::DequantizeQ4_1ToBf16;
    case kernels::WeightFormat::kQ4_K:
      return kernels::cuda::DequantizeQ4_KToBf16;
    case kernels::WeightFormat::kQ6_K:
      return kernels::cuda::DequantizeQ6_KToBf16;
    default:
      return nullptr;
  }
}

// One device allocation carved into 256-byte-aligned pieces.
class DeviceArena {
 public:
  DeviceArena() = default;
  DeviceArena(const DeviceArena&) = delete;
  DeviceArena& operator=(const DeviceArena&) = delete;
  ~DeviceArena() {
    if (base_ != nullptr) cudaFree(base_);
  }
  absl::Status Init(size_t bytes, const char* what) {
    bytes = std::max<size_t>(AlignUp(bytes), kAlign);
    const cudaError_t e = cudaMalloc(&base_, bytes);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      base_ = nullptr;
      return absl::ResourceExhaustedError(absl::StrCat("cannot allocate ", bytes,
                                                       " bytes of device memory for the ", what,
                                                       ": ", cudaGetErrorString(e)));
    }
    size_ = bytes;
    return absl::OkStatus();
  }
  // Null when full.
  void* Take(size_t bytes) {
    const size_t n = AlignUp(std::max<size_t>(bytes, 1));
    if (used_ + n > size_) return nullptr;
    void* p = static_cast<char*>(base_) + used_;
    used_ += n;
    return p;
  }
  void Reset() { used_ = 0; }
  size_t size() const { return size_; }

 private:
  void* base_ = nullptr;
  size_t size_ = 0, used_ = 0;
};

class CudaTensor : public Tensor {
 public:
  CudaTensor(int64_t rows, int64_t cols, bf16* data) : Tensor(rows, cols), data_(data) {}
  bf16* data() const { return data_; }

 private:
  bf16* data_;
};

bf16* D(Tensor* t) { return static_cast<CudaTensor*>(t)->data(); }
const bf16* D(const Tensor& t) { return static_cast<const CudaTensor&>(t).data(); }

struct DeviceMatrix {
  bf16* data = nullptr;
  int64_t rows = 0, cols = 0;
  bf16* bias = nullptr;  // [rows] or null
};

struct DeviceLayer {
  bf16 *attn_norm = nullptr, *ffn_norm = nullptr;
  DeviceMatrix wq, wk, wv, wo, w_gate, w_up, w_down;
};

class CudaBackend;

class CudaKvStore : public KvStore {
 public:
  explicit CudaKvStore(CudaBackend* owner) : owner_(owner) {}
  ~CudaKvStore() override;
  void Truncate(int64_t n) override;
  int64_t length() const override { return seq_.length(); }
  int64_t Bytes() const override;

 private:
  friend class CudaBackend;
  CudaBackend* owner_;
  PagedSequence seq_;  // block table over the owner's PagePool
};

// A decode batch size's CUDA graph: the first decode step of that size runs
// eagerly (module loading, kernel attributes), the second is captured.
struct DecodeGraph {
  int64_t steps = 0;  // completed decode steps of this size
  cudaGraphExec_t exec = nullptr;
};

class CudaBackend : public Backend {
 public:
  CudaBackend(const ModelWeights& shard, kernels::comm::NcclCommunicator* comm,
              const CudaBackendOptions& o)
      : config_(shard.config),
        tp_rank_(shard.tp_rank),
        tp_size_(shard.tp_size),
        vocab_begin_(shard.vocab_begin),
        vocab_local_(shard.output.rows),
        comm_(comm),
        options_(o) {}

  ~CudaBackend() override {
    cudaSetDevice(options_.device);
    for (DecodeGraph& g : graphs_) {
      if (g.exec != nullptr) cudaGraphExecDestroy(g.exec);
    }
    if (copy_done_ != nullptr) cudaEventDestroy(copy_done_);
    if (step_host_ != nullptr) cudaFreeHost(step_host_);
    if (logit_host_ != nullptr) cudaFreeHost(logit_host_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  absl::Status Init(const ModelWeights& shard) {
    const ModelConfig& c = config_;
    if (c.head_dim > 256 || c.head_dim % 2 != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cuda backend: head_dim ", c.head_dim, " is not supported (even, <= 256)"));
    }
    if (tp_size_ > 1 && comm_ == nullptr) {
      return absl::InvalidArgumentError("cuda backend: a sharded model needs a communicator");
    }
    PROCTOR_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
    PROCTOR_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    PROCTOR_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&copy_done_, cudaEventDisableTiming));
    if (comm_ != nullptr) comm_->set_stream(stream_);
    PROCTOR_RETURN_IF_ERROR(UploadWeights(shard));
    PROCTOR_RETURN_IF_ERROR(AllocateCache());
    return AllocateWorkspace();
  }

  std::string name() const override { return "cuda"; }
  const ModelConfig& local_config() const override { return config_; }
  int64_t vocab_begin() const override { return vocab_begin_; }
  int64_t vocab_local() const override { return vocab_local_; }
  int tp_rank() const override { return tp_rank_; }
  int tp_size() const override { return tp_size_; }

  std::unique_ptr<Tensor> NewTensor(int64_t rows, int64_t cols) override {
    void* p = step_arena_.Take(static_cast<size_t>(rows * cols) * sizeof(bf16));
    if (p == nullptr) return nullptr;
    return std::make_unique<CudaTensor>(rows, cols, static_cast<bf16*>(p));
  }

  absl::StatusOr<std::unique_ptr<KvStore>> NewKvStore() override {
    return std::unique_ptr<KvStore>(new CudaKvStore(this));
  }

  absl::StatusOr<std::unique_ptr<KvStore>> ForkKvStore(const KvStore& parent, int64_t n) override {
    const CudaKvStore& p = static_cast<const CudaKvStore&>(parent);
    if (p.owner_ != this) {
      return absl::InvalidArgumentError("cuda backend: fork of another backend's store");
    }
    auto fork = std::make_unique<CudaKvStore>(this);
    // Whole pages are shared (reference counts); the partly filled last one
    // is copied on the fork's first append (BeginStep), if it ever appends.
    PROCTOR_RETURN_IF_ERROR(fork->seq_.ForkFrom(p.seq_, n, pool_.get()));
    return std::unique_ptr<KvStore>(std::move(fork));
  }

  absl::Status BeginStep(std::span<const StepSequence> sequences) override {
    PROCTOR_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
    PROCTOR_RETURN_IF_ERROR(CheckStep(sequences));
    // Pages for every sequence (all or nothing), then the copy-on-write of
    // shared tail pages, ordered on the stream before the step's kernels.
    int64_t want = 0;
    for (const StepSequence& q : sequences) {
      want += static_cast<CudaKvStore*>(q.store)->seq_.PagesToReserve(q.n, *pool_);
    }
    if (want > pool_->free_pages()) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "cuda backend: KV cache full (the step needs ", want, " more pages of ", page_tokens_,
          " tokens; ", pool_->free_pages(), " of ", num_pages_, " are free)"));
    }
    step_inputs_.clear();
    step_stores_.clear();
    step_rows_.clear();
    int64_t rows = 0;
    for (const StepSequence& q : sequences) {
      CudaKvStore* store = static_cast<CudaKvStore*>(q.store);
      PROCTOR_ASSIGN_OR_RETURN(const PageCopy copy, store->seq_.Reserve(q.n, pool_.get()));
      if (copy.rows > 0) PROCTOR_RETURN_IF_ERROR(CopyPage(copy));
      step_stores_.push_back(store);
      step_rows_.push_back({rows, q.n});
      rows += q.n;
    }
    bool decode = true;
    for (const StepSequence& q : sequences) decode = decode && q.n == 1;
    for (size_t i = 0; i < sequences.size(); ++i) {
      const PagedSequence& seq = step_stores_[i]->seq_;
      step_inputs_.push_back({seq.pages(), seq.length(), sequences[i].tokens, sequences[i].n});
    }
    // The previous step's copy must have left the pinned buffer before it is rewritten.
    PROCTOR_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(copy_done_));
    // Decode steps use the context's page count as the table stride, so the
    // layout depends on the batch size only and a captured graph stays valid.
    PROCTOR_ASSIGN_OR_RETURN(
        layout_, BuildStepArrays(step_inputs_, page_tokens_, vocab_begin_, decode ? max_pages_ : 0,
                                 std::span<int32_t>(step_host_, static_cast<size_t>(step_ints_))));
    PROCTOR_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(step_dev_, step_host_,
                                                 static_cast<size_t>(layout_.total) * 4,
                                                 cudaMemcpyHostToDevice, stream_));
    PROCTOR_CUDA_RETURN_IF_ERROR(cudaEventRecord(copy_done_, stream_));
    step_arena_.Reset();
    in_step_ = true;
    replayed_ = false;
    capturing_ = false;
    const int64_t batch = layout_.seqs;
    if (decode && options_.cuda_graphs && !graphs_broken_ &&
        batch < static_cast<int64_t>(graphs_.size())) {
      DecodeGraph& g = graphs_[static_cast<size_t>(batch)];
      if (g.exec != nullptr) {
        PROCTOR_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(g.exec, stream_));
        replayed_ = true;
      } else if (g.steps >= 1) {  // the first one ran uncaptured (lazy loading, attributes)
        PROCTOR_CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed));
        capturing_ = true;
      }
    }
    return absl::OkStatus();
  }

  bool StepReplayed() const override { return replayed_; }

  absl::Status EndStep() override {
    absl::Status status = absl::OkStatus();
    const int64_t batch = layout_.seqs;
    if (capturing_) {
      capturing_ = false;
      cudaGraph_t graph = nullptr;
      const cudaError_t e = cudaStreamEndCapture(stream_, &graph);
      if (e == cudaSuccess && op_status_.ok()) {
        cudaGraphExec_t& exec = graphs_[static_cast<size_t>(batch)].exec;
        cudaError_t ie = cudaGraphInstantiate(&exec, graph, 0);
        if (ie == cudaSuccess) ie = cudaGraphLaunch(exec, stream_);
        status = CudaStatus(ie, "instantiate/launch the decode graph", __FILE__, __LINE__);
        if (!status.ok()) {
          if (exec != nullptr) cudaGraphExecDestroy(exec);
          exec = nullptr;
          graphs_broken_ = true;
        }
      } else if (e != cudaSuccess) {
        status = CudaStatus(e, "cudaStreamEndCapture", __FILE__, __LINE__);
        graphs_broken_ = true;
      }
      if (graph != nullptr) cudaGraphDestroy(graph);
    }
    if (status.ok()) status = op_status_;
    if (status.ok() && comm_ != nullptr && !comm_->error().empty()) {
      status = absl::InternalError(absl::StrCat("NCCL rank ", tp_rank_, ": ", comm_->error()));
    }
    if (status.ok()) status = CudaStatus(cudaGetLastError(), "step", __FILE__, __LINE__);
    if (status.ok() && in_step_) {
      for (size_t i = 0; i < step_stores_.size(); ++i) {
        step_stores_[i]->seq_.Append(step_rows_[i].n);
      }
      if (layout_.decode() && batch < static_cast<int64_t>(graphs_.size())) {
        ++graphs_[static_cast<size_t>(batch)].steps;
      }
    }
    op_status_ = absl::OkStatus();
    in_step_ = false;
    replayed_ = false;
    step_stores_.clear();
    return status;
  }

  absl::Status Embed(Tensor* x) override {
    return Launch(kc::EmbeddingGatherBf16(embd_, vocab_local_, StepInts(layout_.ids), layout_.rows,
                                          config_.dim, D(x), stream_),
                  "EmbeddingGatherBf16");
  }
  absl::Status AllReduceSum(Tensor* x) override {
    if (comm_ == nullptr) return absl::OkStatus();
    comm_->AllReduceSumBf16(D(x), x->rows() * x->cols());
    if (!comm_->error().empty()) {
      return absl::InternalError(absl::StrCat("NCCL rank ", tp_rank_, ": ", comm_->error()));
    }
    return absl::OkStatus();
  }
  absl::Status RmsNorm(const Tensor& x, int64_t layer, LayerNorm norm, Tensor* out) override {
    return Launch(kc::AddRmsNormBf16(nullptr, D(x), NormWeight(layer, norm), D(out), x.rows(),
                                     x.cols(), config_.norm_eps, stream_),
                  "AddRmsNormBf16");
  }
  absl::Status AddRmsNorm(Tensor* residual, const Tensor& delta, int64_t layer, LayerNorm norm,
                          Tensor* out) override {
    return Launch(kc::AddRmsNormBf16(D(residual), D(delta), NormWeight(layer, norm), D(out),
                                     residual->rows(), residual->cols(), config_.norm_eps, stream_),
                  "AddRmsNormBf16");
  }
  absl::Status MatMul(const Tensor& x, int64_t layer, LayerWeight which, Tensor* out) override {
    const DeviceLayer& L = layers_[static_cast<size_t>(layer)];
    const DeviceMatrix* m = &SelectLayerWeight(L, which);
    if (x.cols() != m->cols || out->cols() != m->rows || out->rows() != x.rows()) {
      return absl::InvalidArgumentError(absl::StrCat("matmul shapes: x [", x.rows(), ", ", x.cols(),
                                                     "] weight [", m->rows, ", ", m->cols, "]"));
    }
    if (m->cols % 8 == 0) {
      return Launch(kc::GemmBf16(D(x), m->data, D(out), static_cast<const bf16*>(nullptr), m->bias,
                                 x.rows(), m->rows, m->cols, stream_),
                    "GemmBf16");
    }
    return Launch(
        kc::GemmBf16Portable(D(x), m->data, D(out), m->bias, x.rows(), m->rows, m->cols, stream_),
        "GemmBf16Portable");
  }
  absl::Status Rope(Tensor* x, int64_t n_heads) override {
    return Launch(kc::RopeBf16(D(x), StepInts(layout_.positions), x->rows(), n_heads,
                               config_.head_dim, rope_, stream_),
                  "RopeBf16");
  }
  absl::Status Attention(int64_t layer, const Tensor& q, const Tensor& k, const Tensor& v,
                         Tensor* out) override {
    const ModelConfig& c = config_;
    const int64_t kv_dim = c.n_kv_heads * c.head_dim;
    bf16* kp = k_pool_[static_cast<size_t>(layer)];
    bf16* vp = v_pool_[static_cast<size_t>(layer)];
    const int32_t* slots = StepInts(layout_.slots);
    const int64_t rows = layout_.rows;
    PROCTOR_RETURN_IF_ERROR(
        Launch(kc::ScatterRowsBf16(D(k), rows, kv_dim, slots, kp, stream_), "ScatterRowsBf16(K)"));
    PROCTOR_RETURN_IF_ERROR(
        Launch(kc::ScatterRowsBf16(D(v), rows, kv_dim, slots, vp, stream_), "ScatterRowsBf16(V)"));
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    const int32_t* table = StepInts(layout_.table);
    const int32_t* key_counts = StepInts(layout_.key_counts);
    if (c.head_dim != 64 && c.head_dim != 128) {
      // The portable kernel takes one sequence: one launch per sequence at
      // its rows, table row and key count (offsets fixed by the step's shape).
      const int64_t q_stride = c.n_heads * c.head_dim;
      for (size_t i = 0; i < step_rows_.size(); ++i) {
        const int64_t r0 = step_rows_[i].begin, s_i = static_cast<int64_t>(i);
        PROCTOR_RETURN_IF_ERROR(
            Launch(kc::AttentionPortableBf16(D(q) + r0 * q_stride, kp, vp,
                                             table + s_i * layout_.table_stride, key_counts + s_i,
                                             step_rows_[i].n, c.n_heads, c.n_kv_heads, c.head_dim,
                                             page_tokens_, scale, D(out) + r0 * q_stride, stream_),
                   "AttentionPortableBf16"));
      }
      return absl::OkStatus();
    }
    if (layout_.decode()) {
      kc::DecodeAttentionArgs a;
      a.q = D(q);
      a.k_pages = kp;
      a.v_pages = vp;
      a.block_table = table;
      a.seq_lens = key_counts;
      a.out = D(out);
      a.batch = layout_.seqs;
      a.n_heads = c.n_heads;
      a.n_kv = c.n_kv_heads;
      a.head_dim = c.head_dim;
      a.num_pages = num_pages_;
      a.page_size = page_tokens_;
      a.max_pages_per_seq = layout_.table_stride;  // max_pages_ for every decode step
      a.max_seq_len = max_pages_ * page_tokens_;   // fixed: a captured graph stays valid
      a.scale = scale;
      return Launch(kc::DecodeAttentionBf16(a, decode_ws_, decode_ws_bytes_, stream_),
                    "DecodeAttentionBf16");
    }
    // Prefill chunks, continuations of forks and single rows together: each
    // sequence's queries sit after its cached keys (bottom-right causal), its
    // keys on its own block table (shared prefix pages included).
    kc::PrefillAttentionArgs a;
    a.q = D(q);
    a.k = kp;
    a.v = vp;
    a.out = D(out);
    a.cu_seqlens_q = StepInts(layout_.cu_q);
    a.cu_seqlens_k = StepInts(layout_.cu_k);
    a.batch = layout_.seqs;
    a.max_seqlen_q = layout_.max_query_rows;
    a.n_heads = c.n_heads;
    a.n_kv = c.n_kv_heads;
    a.head_dim = c.head_dim;
    a.scale = scale;
    a.causal = true;
    a.block_table = table;
    a.page_size = page_tokens_;
    a.num_pages = num_pages_;
    a.max_pages_per_seq = layout_.table_stride;
    return Launch(kc::PrefillAttentionBf16(a, stream_), "PrefillAttentionBf16");
  }
  absl::Status SwiGlu(const Tensor& gate, const Tensor& up, Tensor* out) override {
    return Launch(kc::SwiGluBf16(D(gate), D(up), D(out), gate.rows() * gate.cols(), stream_),
                  "SwiGluBf16");
  }
  absl::Status Add(Tensor* x, const Tensor& delta) override {
    return Launch(kc::AddBf16(D(x), D(delta), x->rows() * x->cols(), stream_), "AddBf16");
  }
  absl::Status FinalNorm(const Tensor& x) override {
    std::unique_ptr<Tensor> h = NewTensor(x.rows(), x.cols());
    if (h == nullptr) return absl::ResourceExhaustedError("cuda backend: workspace full");
    PROCTOR_RETURN_IF_ERROR(
        Launch(kc::AddRmsNormBf16(nullptr, D(x), output_norm_, D(h.get()), x.rows(), x.cols(),
                                  config_.norm_eps, stream_),
               "AddRmsNormBf16(final)"));
    return Launch(kc::ScatterRowsBf16(D(*h), layout_.rows, config_.dim, StepInts(layout_.slots),
                                      hidden_pool_, stream_),
                  "ScatterRowsBf16(hidden)");
  }

  absl::Status Logits(std::span<const CachedRow> cached, float* out) override {
    PROCTOR_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
    const int64_t vocab = config_.vocab_size, local = vocab_local_;
    const int64_t n = static_cast<int64_t>(cached.size());
    for (int64_t at = 0; at < n; at += options_.logit_rows) {
      const int64_t rows = std::min(options_.logit_rows, n - at);
      PROCTOR_RETURN_IF_ERROR(
          LocalLogits(cached.subspan(static_cast<size_t>(at), static_cast<size_t>(rows)), nullptr));
      const float* src = logits_dev_;
      if (comm_ != nullptr) {
        comm_->AllGather(logits_dev_, rows * local, gather_dev_);
        src = gather_dev_;
      }
      const int64_t count = rows * local * tp_size_;
      PROCTOR_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(logit_host_, src,
                                                   static_cast<size_t>(count) * sizeof(float),
                                                   cudaMemcpyDeviceToHost, stream_));
      PROCTOR_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
      PROCTOR_RETURN_IF_ERROR(CommError());
      // Rank r's block is [rows, local]; row i of the output is every rank's row i.
      for (int64_t r = 0; r < tp_size_; ++r) {
        for (int64_t i = 0; i < rows; ++i) {
          std::memcpy(out + (at + i) * vocab + r * local, logit_host_ + (r * rows + i) * local,
                      static_cast<size_t>(local) * sizeof(float));
        }
      }
    }
    return absl::OkStatus();
  }

  absl::Status LogProbs(std::span<const CachedRow> cached, const int32_t* targets, float* logprob,
                        int32_t* argmax) override {
    PROCTOR_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
    std::vector<VocabShardStats> row(static_cast<size_t>(tp_size_));
    const int64_t n = static_cast<int64_t>(cached.size());
    for (int64_t at = 0; at < n; at += options_.logit_rows) {
      const int64_t rows = std::min(options_.logit_rows, n - at);
      PROCTOR_RETURN_IF_ERROR(LocalLogits(
          cached.subspan(static_cast<size_t>(at), static_cast<size_t>(rows)), targets + at));
      PROCTOR_RETURN_IF_ERROR(
          Launch(kc::VocabShardStatsF32(logits_dev_, row_ids_dev_ + options_.logit_rows, rows,
                                        vocab_local_, vocab_begin_, stats_dev_, stream_),
                 "VocabShardStatsF32"));
      const float* src = stats_dev_;
      if (comm_ != nullptr) {
        comm_->AllGather(stats_dev_, rows * kVocabShardStatsFloats, stats_all_dev_);
        src = stats_all_dev_;
      }
      const int64_t count = rows * kVocabShardStatsFloats * tp_size_;
      PROCTOR_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(logit_host_, src,
                                                   static_cast<size_t>(count) * sizeof(float),
                                                   cudaMemcpyDeviceToHost, stream_));
      PROCTOR_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
      PROCTOR_RETURN_IF_ERROR(CommError());
      const VocabShardStats* all = reinterpret_cast<const VocabShardStats*>(logit_host_);
      for (int64_t i = 0; i < rows; ++i) {
        for (int r = 0; r < tp_size_; ++r) {
          row[static_cast<size_t>(r)] = all[r * rows + i];
        }
        CombineVocabShards(row.data(), tp_size_, logprob + at + i, argmax + at + i);
      }
    }
    return absl::OkStatus();
  }

  // Page bookkeeping for CudaKvStore.
  PagePool* pool() { return pool_.get(); }
  int64_t page_bytes() const { return page_bytes_; }

 private:
  absl::Status Launch(cudaError_t e, const char* what) {
    absl::Status s = CudaStatus(e, what, __FILE__, __LINE__);
    if (!s.ok() && op_status_.ok()) op_status_ = s;
    return s;
  }
  absl::Status CommError() const {
    if (comm_ != nullptr && !comm_->error().empty()) {
      return absl::InternalError(absl::StrCat("NCCL rank ", tp_rank_, ": ", comm_->error()));
    }
    return absl::OkStatus();
  }
  const int32_t* StepInts(int64_t offset) const { return step_dev_ + offset; }

  // The step's contract (backend.h): distinct stores of this backend, n >= 1,
  // at most chunk_tokens rows and max_step_sequences sequences, no sequence
  // past the context.
  absl::Status CheckStep(std::span<const StepSequence> sequences) const {
    if (sequences.empty() || static_cast<int64_t>(sequences.size()) > max_step_sequences_) {
      return absl::InvalidArgumentError(absl::StrCat("cuda backend: a step of ", sequences.size(),
                                                     " sequences (1..", max_step_sequences_, ")"));
    }
    int64_t rows = 0;
    for (size_t i = 0; i < sequences.size(); ++i) {
      const StepSequence& q = sequences[i];
      const CudaKvStore* store = static_cast<const CudaKvStore*>(q.store);
      if (store == nullptr || store->owner_ != this || q.tokens == nullptr || q.n < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("cuda backend: step sequence ", i, " (", q.n, " tokens) is malformed"));
      }
      for (size_t j = 0; j < i; ++j) {
        if (sequences[j].store == q.store) {
          return absl::InvalidArgumentError(absl::StrCat("cuda backend: step sequences ", j,
                                                         " and ", i, " extend the same store"));
        }
      }
      if (store->length() + q.n > max_pages_ * page_tokens_) {
        return absl::InvalidArgumentError(absl::StrCat("sequence of ", store->length() + q.n,
                                                       " tokens exceeds the context length ",
                                                       config_.context_length));
      }
      rows += q.n;
    }
    if (rows > options_.chunk_tokens) {
      return absl::InvalidArgumentError(
          absl::StrCat("cuda backend: a step of ", rows, " rows (1..", options_.chunk_tokens, ")"));
    }
    return absl::OkStatus();
  }

  // Copy-on-write of a shared page: rows [0, c.rows) of page c.src into page
  // c.dst, in every layer's K and V pool and in the hidden-state pool.
  absl::Status CopyPage(const PageCopy& c) {
    const int64_t kv_dim = config_.n_kv_heads * config_.head_dim;
    const int64_t src = c.src * page_tokens_, dst = c.dst * page_tokens_;
    PROCTOR_CUDA_RETURN_IF_ERROR(kc::CopyPoolRowsBf16(
        k_pool_[0], 2 * config_.n_layers, kv_pool_stride_, kv_dim, src, dst, c.rows, stream_));
    PROCTOR_CUDA_RETURN_IF_ERROR(kc::CopyPoolRowsBf16(hidden_pool_, 1,
                                                      num_pages_ * page_tokens_ * config_.dim,
                                                      config_.dim, src, dst, c.rows, stream_));
    return absl::OkStatus();
  }
  const bf16* NormWeight(int64_t layer, LayerNorm norm) const {
    const DeviceLayer& L = layers_[static_cast<size_t>(layer)];
    return norm == LayerNorm::kAttention ? L.attn_norm : L.ffn_norm;
  }

  // logits_dev_[rows, vocab_local] (F32) for the cached rows (of any
  // stores); targets (optional) land in row_ids_dev_[logit_rows ..].
  absl::Status LocalLogits(std::span<const CachedRow> cached, const int32_t* targets) {
    const int64_t rows = static_cast<int64_t>(cached.size());
    PROCTOR_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(copy_done_));
    int32_t* h = step_host_ + step_ints_;  // the scratch tail of the pinned buffer
    for (int64_t i = 0; i < rows; ++i) {
      const CachedRow& r = cached[static_cast<size_t>(i)];
      const CudaKvStore* s = static_cast<const CudaKvStore*>(r.store);
      if (s == nullptr || s->owner_ != this) {
        return absl::InvalidArgumentError(
            absl::StrCat("cuda backend: row ", i, " is not on a store of this backend"));
      }
      const int64_t slot = SlotOf(s->seq_.pages(), page_tokens_, r.position);
      if (r.position >= s->length() || slot < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("position ", r.position, " is not cached (length ", s->length(), ")"));
      }
      h[i] = static_cast<int32_t>(slot);
      h[options_.logit_rows + i] = targets != nullptr ? targets[i] : 0;
    }
    PROCTOR_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(row_ids_dev_, h,
                                                 static_cast<size_t>(2 * options_.logit_rows) * 4,
                                                 cudaMemcpyHostToDevice, stream_));
    PROCTOR_CUDA_RETURN_IF_ERROR(cudaEventRecord(copy_done_, stream_));
    PROCTOR_CUDA_RETURN_IF_ERROR(kc::EmbeddingGatherBf16(hidden_pool_, num_pages_ * page_tokens_,
                                                         row_ids_dev_, rows, config_.dim,
                                                         hidden_rows_dev_, stream_));
    if (config_.dim % 8 == 0) {
      PROCTOR_CUDA_RETURN_IF_ERROR(kc::GemmBf16(hidden_rows_dev_, output_, logits_dev_,
                                                static_cast<const float*>(nullptr), nullptr, rows,
                                                vocab_local_, config_.dim, stream_));
    } else {
      PROCTOR_CUDA_RETURN_IF_ERROR(kc::GemmBf16PortableF32Out(
          hidden_rows_dev_, output_, logits_dev_, rows, vocab_local_, config_.dim, stream_));
    }
    return absl::OkStatus();
  }

  // ---- creation ------------------------------------------------------------
  static size_t MatrixBytes(const kernels::WeightMatrix& w) {
    return AlignUp(static_cast<size_t>(w.rows * w.cols) * sizeof(bf16));
  }
  static size_t VectorBytes(size_t n) { return AlignUp(n * sizeof(bf16)); }

  absl::Status UploadWeights(const ModelWeights& w) {
    const bool tied = w.output.data == w.token_embd.data;
    size_t total = MatrixBytes(w.token_embd) + (tied ? 0 : MatrixBytes(w.output)) +
                   VectorBytes(w.output_norm.size());
    for (const LayerWeights& L : w.layers) {
      for (const kernels::WeightMatrix* m :
           {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) {
        total += MatrixBytes(*m);
      }
      total += VectorBytes(L.attn_norm.size()) + VectorBytes(L.ffn_norm.size()) +
               VectorBytes(L.bq.size()) + VectorBytes(L.bk.size()) + VectorBytes(L.bv.size());
    }
    PROCTOR_RETURN_IF_ERROR(weights_.Init(total, "weights"));
    PROCTOR_CUDA_RETURN_IF_ERROR(cudaMallocHost(&staging_, kStagingBytes));
    absl::Status s = absl::OkStatus();
    if (options_.device_dequant) {
      s = CudaStatus(cudaMalloc(&raw_staging_, kStagingBytes), "cudaMalloc(dequant staging)",
                     __FILE__, __LINE__);
    }
    if (s.ok()) s = UploadAll(w, tied);
    cudaFreeHost(staging_);
    staging_ = nullptr;
    if (raw_staging_ != nullptr) cudaFree(raw_staging_);
    raw_staging_ = nullptr;
    return s;
  }

  absl::Status UploadAll(const ModelWeights& w, bool tied) {
    PROCTOR_ASSIGN_OR_RETURN(embd_, UploadMatrix(w.token_embd, "token_embd"));
    if (tied) {
      output_ = embd_;
    } else {
      PROCTOR_ASSIGN_OR_RETURN(output_, UploadMatrix(w.output, "output"));
    }
    PROCTOR_ASSIGN_OR_RETURN(output_norm_, UploadVector(w.output_norm));
    for (const LayerWeights& L : w.layers) {
      DeviceLayer d;
      PROCTOR_ASSIGN_OR_RETURN(d.attn_norm, UploadVector(L.attn_norm));
      PROCTOR_ASSIGN_OR_RETURN(d.ffn_norm, UploadVector(L.ffn_norm));
      PROCTOR_ASSIGN_OR_RETURN(d.wq, UploadLinear(L.wq, L.bq, "attn_q"));
      PROCTOR_ASSIGN_OR_RETURN(d.wk, UploadLinear(L.wk, L.bk, "attn_k"));
      PROCTOR_ASSIGN_OR_RETURN(d.wv, UploadLinear(L.wv, L.bv, "attn_v"));
      PROCTOR_ASSIGN_OR_RETURN(d.wo, UploadLinear(L.wo, {}, "attn_output"));
      PROCTOR_ASSIGN_OR_RETURN(d.w_gate, UploadLinear(L.w_gate, {}, "ffn_gate"));
      PROCTOR_ASSIGN_OR_RETURN(d.w_up, UploadLinear(L.w_up, {}, "ffn_up"));
      PROCTOR_ASSIGN_OR_RETURN(d.w_down, UploadLinear(L.w_down, {}, "ffn_down"));
      layers_.push_back(d);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<DeviceMatrix> UploadLinear(const kernels::WeightMatrix& m,
                                            const std::vector<float>& bias, const char* name) {
    DeviceMatrix d;
    PROCTOR_ASSIGN_OR_RETURN(d.data, UploadMatrix(m, name));
    d.rows = m.rows;
    d.cols = m.cols;
    if (!bias.empty()) {
      PROCTOR_ASSIGN_OR_RETURN(d.bias, UploadVector(bias));
    }
    return d;
  }

  // Streams rows through the pinned staging buffer: BF16 rows are copied,
  // other formats decoded (kernels::DequantizeRow) and rounded to BF16.
  absl::StatusOr<bf16*> UploadMatrix(const kernels::WeightMatrix& m, const char* name) {
    bf16* dst =
        static_cast<bf16*>(weights_.Take(static_cast<size_t>(m.rows * m.cols) * sizeof(bf16)));
    if (dst == nullptr) return absl::InternalError(absl::StrCat("weight arena full at ", name));
    const size_t row_bytes = static_cast<size_t>(m.cols) * sizeof(bf16);
    const int64_t rows_per_chunk =
        std::max<int64_t>(1, static_cast<int64_t>(kStagingBytes / row_bytes));
    if (row_bytes > kStagingBytes) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": rows of ", m.cols, " values"));
    }
    const uint8_t* src = static_cast<const uint8_t*>(m.data);
    if (DequantFn dequant = DeviceDequant(m.format);
        dequant != nullptr && raw_staging_ != nullptr) {
      // Quantised rows travel as they are (the row's slice is contiguous: column
      // splits fall on block boundaries) and are decoded on the device.
      const size_t q_row = static_cast<size_t>(kernels::RowBytes(m.format, m.cols));
      const int64_t q_rows = std::max<int64_t>(1, static_cast<int64_t>(kStagingBytes / q_row));
      if (q_row > kStagingBytes) {
        return absl::InvalidArgumentError(absl::StrCat(name, ": rows of ", m.cols, " values"));
      }
      uint8_t* stage = static_cast<uint8_t*>(staging_);
      for (int64_t r0 = 0; r0 < m.rows; r0 += q_rows) {
        const int64_t rows = std::min(q_rows, m.rows - r0);
        for (int64_t r = 0; r < rows; ++r) {
          std::memcpy(stage + r * q_row, src + (r0 + r) * m.stride(), q_row);
        }
        PROCTOR_CUDA_RETURN_IF_ERROR(cudaMemcpy(
            raw_staging_, stage, static_cast<size_t>(rows) * q_row, cudaMemcpyHostToDevice));
        PROCTOR_CUDA_RETURN_IF_ERROR(
            dequant(raw_staging_, rows, m.cols, dst + r0 * m.cols, stream_));
        // The next chunk overwrites both staging buffers.
        PROCTOR_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
      }
      return dst;
    }
    std::vector<float> f32(static_cast<size_t>(m.cols));
    uint16_t* stage = static_cast<uint16_t*>(staging_);
    for (int64_t r0 = 0; r0 < m.rows; r0 += rows_per_chunk) {
      const int64_t rows = std::min(rows_per_chunk, m.rows - r0);
      for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* row = src + (r0 + r) * m.stride();
        uint16_t* out = stage + r * m.cols;
        if (m.format == kernels::WeightFormat::kBF16) {
          std::memcpy(out, row, row_bytes);
          continue;
        }
        kernels::DequantizeRow(m.format, row, f32.data(), m.cols);
        for (int64_t j = 0; j < m.cols; ++j) out[j] = ToBf16Bits(f32[static_cast<size_t>(j)]);
      }
      PROCTOR_CUDA_RETURN_IF_ERROR(cudaMemcpy(
          dst + r0 * m.cols, stage, static_cast<size_t>(rows) * row_bytes, cudaMemcpyHostToDevice));
    }
    return dst;
  }

  absl::StatusOr<bf16*> UploadVector(const std::vector<float>& v) {
    bf16* dst = static_cast<bf16*>(weights_.Take(v.size() * sizeof(bf16)));
    if (dst == nullptr) return absl::InternalError("weight arena full");
    std::vector<uint16_t> bits(v.size());
    for (size_t i = 0; i < v.size(); ++i) bits[i] = ToBf16Bits(v[i]);
    PROCTOR_CUDA_RETURN_IF_ERROR(
        cudaMemcpy(dst, bits.data(), bits.size() * sizeof(uint16_t), cudaMemcpyHostToDevice));
    return dst;
  }

  absl::Status AllocateCache() {
    const ModelConfig& c = config_;
    page_tokens_ = options_.plan.page_tokens;
    num_pages_ = options_.plan.kv_pages;
    max_pages_ = (c.context_length + page_tokens_ - 1) / page_tokens_;
    if (page_tokens_ <= 0 || num_pages_ < max_pages_) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "cuda backend: the memory plan has ", num_pages_, " KV pages; one context of ",
          c.context_length, " tokens needs ", max_pages_));
    }
    const int64_t kv_dim = c.n_kv_heads * c.head_dim;
    const size_t pool = static_cast<size_t>(num_pages_ * page_tokens_ * kv_dim) * sizeof(bf16);
    const size_t hidden = static_cast<size_t>(num_pages_ * page_tokens_ * c.dim) * sizeof(bf16);
    page_bytes_ =
        (2 * c.n_layers * kv_dim + c.dim) * page_tokens_ * static_cast<int64_t>(sizeof(bf16));
    PROCTOR_RETURN_IF_ERROR(cache_.Init(
        2 * static_cast<size_t>(c.n_layers) * AlignUp(pool) + AlignUp(hidden), "KV cache"));
    for (int64_t l = 0; l < c.n_layers; ++l) {
      k_pool_.push_back(static_cast<bf16*>(cache_.Take(pool)));
      v_pool_.push_back(static_cast<bf16*>(cache_.Take(pool)));
    }
    hidden_pool_ = static_cast<bf16*>(cache_.Take(hidden));
    // The K and V pools lie at a fixed stride (K0, V0, K1, V1, ...), so one
    // CopyPoolRowsBf16 launch copies a page in all of them.
    kv_pool_stride_ = static_cast<int64_t>(AlignUp(pool) / sizeof(bf16));
    for (int64_t l = 0; l < c.n_layers; ++l) {
      if (k_pool_[static_cast<size_t>(l)] != k_pool_[0] + 2 * l * kv_pool_stride_ ||
          v_pool_[static_cast<size_t>(l)] != k_pool_[0] + (2 * l + 1) * kv_pool_stride_) {
        return absl::InternalError("cuda backend: KV pools are not equally spaced");
      }
    }
    pool_ = std::make_unique<PagePool>(num_pages_, page_tokens_);
    return absl::OkStatus();
  }

  absl::Status AllocateWorkspace() {
    const ModelConfig& c = config_;
    const int64_t t = options_.chunk_tokens, L = options_.logit_rows, hd = c.head_dim;
    const int64_t act =
        t * (3 * c.dim + 2 * c.n_heads * hd + 2 * c.n_kv_heads * hd + 2 * c.hidden_dim);
    PROCTOR_RETURN_IF_ERROR(
        step_arena_.Init(static_cast<size_t>(act) * sizeof(bf16) + 16 * kAlign, "activations"));
    // Step arrays and decode scratch for up to max_step_sequences sequences
    // (memory_plan.h sizes the same).
    max_step_sequences_ = std::clamp<int64_t>(options_.max_step_sequences, 1, t);
    step_ints_ = MaxStepArrayInts(t, max_step_sequences_, max_pages_);
    const size_t step_ints = static_cast<size_t>(step_ints_);
    decode_ws_bytes_ = kc::DecodeAttentionWorkspaceBytes(max_step_sequences_, c.n_heads, hd,
                                                         max_pages_ * page_tokens_);
    graphs_.resize(static_cast<size_t>(
        std::clamp<int64_t>(options_.max_graph_batch, 0, max_step_sequences_) + 1));
    const size_t logits_f32 = static_cast<size_t>(L * vocab_local_);
    const size_t gather_f32 =
        comm_ != nullptr ? static_cast<size_t>(L * vocab_local_ * tp_size_) : 0;
    const size_t stats_f32 = static_cast<size_t>(L * kVocabShardStatsFloats);
    const size_t total = AlignUp(step_ints * 4) + AlignUp(decode_ws_bytes_) +
                         AlignUp(logits_f32 * 4) + AlignUp(gather_f32 * 4) +
                         AlignUp(stats_f32 * 4) * 2 + AlignUp(stats_f32 * 4 * tp_size_) +
                         AlignUp(static_cast<size_t>(2 * L) * 4) +
                         AlignUp(static_cast<size_t>(L * c.dim) * sizeof(bf16));
    PROCTOR_RETURN_IF_ERROR(fixed_.Init(total, "step buffers and logits"));
    step_dev_ = static_cast<int32_t*>(fixed_.Take(step_ints * 4));
    decode_ws_ = fixed_.Take(decode_ws_bytes_);
    logits_dev_ = static_cast<float*>(fixed_.Take(logits_f32 * 4));
    gather_dev_ = gather_f32 > 0 ? static_cast<float*>(fixed_.Take(gather_f32 * 4)) : nullptr;
    stats_dev_ = static_cast<float*>(fixed_.Take(stats_f32 * 4));
    stats_all_dev_ = static_cast<float*>(fixed_.Take(stats_f32 * 4 * tp_size_));
    row_ids_dev_ = static_cast<int32_t*>(fixed_.Take(static_cast<size_t>(2 * L) * 4));
    hidden_rows_dev_ =
        static_cast<bf16*>(fixed_.Take(static_cast<size_t>(L * c.dim) * sizeof(bf16)));
    // Pinned host: the step values, then a scratch tail for row ids/targets,
    // and the logits / statistics coming back.
    void* host = nullptr;
    PROCTOR_CUDA_RETURN_IF_ERROR(
        cudaMallocHost(&host, (step_ints + static_cast<size_t>(2 * L)) * 4));  // + scratch tail
    step_host_ = static_cast<int32_t*>(host);
    const size_t back = std::max(logits_f32 * static_cast<size_t>(tp_size_),
                                 stats_f32 * static_cast<size_t>(tp_size_));
    PROCTOR_CUDA_RETURN_IF_ERROR(cudaMallocHost(&host, back * 4));
    logit_host_ = static_cast<float*>(host);
    rope_.theta = c.rope.theta;
    rope_.neox_layout = c.rope.neox_layout;
    rope_.n_rot = c.rope.n_rot;
    rope_.linear_factor = c.rope.linear_factor;
    rope_.llama3_factor = c.rope.llama3_factor;
    rope_.llama3_low_freq_factor = c.rope.llama3_low_freq_factor;
    rope_.llama3_high_freq_factor = c.rope.llama3_high_freq_factor;
    rope_.llama3_original_max_position = c.rope.llama3_original_max_position;
    return absl::OkStatus();
  }

  const ModelConfig config_;
  const int tp_rank_, tp_size_;
  const int64_t vocab_begin_, vocab_local_;
  kernels::comm::NcclCommunicator* comm_;
  const CudaBackendOptions options_;

  cudaStream_t stream_ = nullptr;
  cudaEvent_t copy_done_ = nullptr;
  kc::RopeConfig rope_;

  DeviceArena weights_, cache_, step_arena_, fixed_;
  void* staging_ = nullptr;      // pinned host rows during upload
  void* raw_staging_ = nullptr;  // device copy of quantised rows during upload
  bf16 *embd_ = nullptr, *output_ = nullptr, *output_norm_ = nullptr;
  std::vector<DeviceLayer> layers_;

  int64_t page_tokens_ = 0, num_pages_ = 0, max_pages_ = 0, page_bytes_ = 0;
  std::vector<bf16*> k_pool_, v_pool_;
  bf16* hidden_pool_ = nullptr;
  int64_t kv_pool_stride_ = 0;  // elements from one K/V pool to the next
  std::unique_ptr<PagePool> pool_;

  int64_t max_step_sequences_ = 0;
  int64_t step_ints_ = 0;  // capacity of the step array (MaxStepArrayInts)
  int32_t* step_dev_ = nullptr;
  int32_t* step_host_ = nullptr;  // [step_ints_] + a [2 * logit_rows] scratch tail
  void* decode_ws_ = nullptr;
  size_t decode_ws_bytes_ = 0;
  float *logits_dev_ = nullptr, *gather_dev_ = nullptr, *stats_dev_ = nullptr,
        *stats_all_dev_ = nullptr, *logit_host_ = nullptr;
  int32_t* row_ids_dev_ = nullptr;
  bf16* hidden_rows_dev_ = nullptr;

  // Per-step state: the layout of the step array, each sequence's store and
  // rows, and the inputs the layout was built from.
  struct StepRows {
    int64_t begin = 0, n = 0;
  };
  StepLayout layout_;
  std::vector<CudaKvStore*> step_stores_;
  std::vector<StepRows> step_rows_;
  std::vector<StepInput> step_inputs_;
  bool in_step_ = false;
  absl::Status op_status_;
  bool replayed_ = false, capturing_ = false;
  bool graphs_broken_ = false;       // a capture failed: run decode steps eagerly from now on
  std::vector<DecodeGraph> graphs_;  // by decode batch size, 1 .. max_graph_batch
};

CudaKvStore::~CudaKvStore() { seq_.Clear(owner_->pool()); }

void CudaKvStore::Truncate(int64_t n) { seq_.Truncate(n, owner_->pool()); }

int64_t CudaKvStore::Bytes() const { return seq_.own_pages() * owner_->page_bytes(); }

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(const ModelWeights& shard,
                                                           kernels::comm::NcclCommunicator* comm,
                                                           const CudaBackendOptions& options) {
  auto b = std::make_unique<CudaBackend>(shard, comm, options);
  PROCTOR_RETURN_IF_ERROR(b->Init(shard));
  return std::unique_ptr<Backend>(std::move(b));
}

}  // namespace proctor::engine::cuda
