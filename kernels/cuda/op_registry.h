// The kernel registry: one list of op cases that drives both the comparison
// test (kernels_cuda_test) and the benchmark (bench/kernels). In the spirit of
// ggml's test-backend-ops: every case knows how to build deterministic inputs,
// launch the CUDA kernel, compute the CPU reference (proctor::kernels::ref) and
// a naive same-precision (BF16) reference, and how many bytes / flops one run
// moves, so a test and a benchmark of the same op can never drift apart.
//
// Tolerance rule (FlashAttention's): the CUDA result's max abs error against
// the F32 reference must be at most 2x the max abs error of the naive BF16
// implementation, plus a small absolute floor stated per case (for outputs
// where the naive implementation is exact or F32). See docs/design/kernels.md.
//
// Thread-compatibility: a case owns device buffers and is used from one thread.
#ifndef PROCTOR_KERNELS_CUDA_OP_REGISTRY_H_
#define PROCTOR_KERNELS_CUDA_OP_REGISTRY_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace proctor::kernels::cuda {

// ---- Host helpers -----------------------------------------------------------

// BF16 bit pattern <-> float on the host (round to nearest even; NaN kept NaN).
uint16_t HostFloatToBf16(float f);
float HostBf16ToFloat(uint16_t h);
// Rounds f to the nearest BF16 value.
inline float RoundBf16(float f) { return HostBf16ToFloat(HostFloatToBf16(f)); }

// Deterministic uniform floats in [lo, hi) (splitmix64 stream from `seed`).
std::vector<float> RandomUniform(size_t n, float lo, float hi, uint64_t seed);
// Rounds every element to BF16 (returns the bit patterns).
std::vector<uint16_t> ToBf16(const std::vector<float>& x);
std::vector<float> FromBf16(const std::vector<uint16_t>& x);

// An owned device allocation; empty when size is 0. Move-only.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  // Frees any previous allocation and allocates `bytes`.
  cudaError_t Allocate(size_t bytes);
  // Allocates and copies `bytes` from host memory.
  cudaError_t Upload(const void* host, size_t bytes);
  // Copies the first `bytes` to host memory (synchronous).
  cudaError_t Download(void* host, size_t bytes) const;
  template <typename T>
  cudaError_t Upload(const std::vector<T>& v) {
    return Upload(v.data(), v.size() * sizeof(T));
  }
  template <typename T>
  cudaError_t Download(std::vector<T>* v) const {
    return Download(v->data(), v->size() * sizeof(T));
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Max |a[i] - b[i]|; +inf when any element of `a` is NaN/inf or sizes differ.
double MaxAbsError(const std::vector<float>& a, const std::vector<float>& b);

// ---- Cases ------------------------------------------------------------------

// Outcome of comparing one CUDA run with the references.
struct OpCheck {
  std::string error;       // non-empty: a CUDA call failed (what and where)
  double max_err = 0.0;    // CUDA result vs F32 reference
  double naive_err = 0.0;  // naive BF16 implementation vs F32 reference
  double tolerance = 0.0;  // 2 * naive_err + floor
  std::string detail;      // extra facts for a failure message
  bool passed() const { return error.empty() && max_err <= tolerance; }
};

class OpCase {
 public:
  virtual ~OpCase() = default;
  // Op family ("gemm", "add_rms_norm", ...), shared by all its shapes.
  virtual std::string op() const = 0;
  // Shape description, unique within the registry together with op().
  virtual std::string shape() const = 0;
  std::string name() const { return op() + " " + shape(); }

  // False when this device or binary cannot run the case at all (e.g. a GEMM
  // forced onto the sm_90a path on another GPU): the test skips it visibly
  // and the benchmark omits it. Needs no Setup.
  virtual bool Supported() const { return true; }

  // Generates inputs on the host and uploads them. Call before Run.
  virtual cudaError_t Setup() = 0;
  // Launches the kernel once on `stream`; no synchronisation. Ops that work
  // in place simply keep transforming their buffers when run repeatedly.
  virtual cudaError_t Run(cudaStream_t stream) = 0;
  // Downloads the outputs of exactly one Run after Setup and compares them.
  virtual OpCheck Check() = 0;

  // Benchmark facts for one Run.
  virtual double bytes_moved() const = 0;
  virtual double flops() const { return 0.0; }
  // A vendor baseline for the same work (cuBLAS for GEMM), if any.
  virtual bool has_baseline() const { return false; }
  virtual std::string baseline_name() const { return ""; }
  virtual cudaError_t RunBaseline(cudaStream_t /*stream*/) { return cudaErrorNotSupported; }
};

using OpCaseList = std::vector<std::unique_ptr<OpCase>>;

// Small shapes, including odd sizes that are not tile multiples, whose CPU
// references take milliseconds: the comparison test runs all of them.
OpCaseList MakeTestCases();
// Llama-2-7B/70B-shaped cases for the benchmark (Check() is not called: the
// CPU reference would take minutes).
OpCaseList MakeBenchCases();

// Per-file registration (op_cases_*.cc); `bench` selects the shape list.
void AddNormCases(bool bench, OpCaseList* out);
void AddElementwiseCases(bool bench, OpCaseList* out);
void AddGemmCases(bool bench, OpCaseList* out);
void AddAttentionCases(bool bench, OpCaseList* out);

// Returns the cudaError_t of `expr` from the enclosing function unless it is
// cudaSuccess (for the cases' Setup/Run).
#define PROCTOR_CUDA_RETURN_IF_ERROR(expr)   \
  do {                                       \
    const cudaError_t proctor_err_ = (expr); \
    if (proctor_err_ != cudaSuccess) {       \
      return proctor_err_;                   \
    }                                        \
  } while (0)

// The naive BF16 attention a framework runs without a fused kernel, the
// "same-precision implementation" of the tolerance rule: S = bf16(bf16(q.k) *
// scale), P = bf16(softmax_f32(S)), O = bf16(P.V) with F32 accumulation.
// Shapes and masking as ref::Attention (kernels/cpu/reference.h).
void NaiveAttentionBf16(const float* q, const float* k, const float* v, float* out, int64_t t,
                        int64_t s, int64_t n_heads, int64_t n_kv, int64_t hd, int64_t q_pos_offset,
                        float scale);

// Formats a CUDA error as "what: cudaErrorName (message)".
std::string CudaErrorText(const char* what, cudaError_t err);

}  // namespace proctor::kernels::cuda

#endif  // PROCTOR_KERNELS_CUDA_OP_REGISTRY_H_
