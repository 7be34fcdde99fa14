// Registry cases: flash prefill attention (varlen, causal, GQA) and split-K
// paged decode attention.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "kernels/cpu/reference.h"
#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/op_registry.h"

namespace proctor::kernels::cuda {
namespace {

__nv_bfloat16* Bf(const DeviceBuffer& b) { return b.as<__nv_bfloat16>(); }

std::string JoinLens(const std::vector<int32_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) s.push_back(',');
    s.append(std::to_string(v[i]));
  }
  return s;
}

// Visible (query, key) pairs of one sequence.
double VisiblePairs(int64_t lq, int64_t lk, bool causal) {
  if (!causal) return static_cast<double>(lq) * static_cast<double>(lk);
  double n = 0.0;
  for (int64_t i = 0; i < lq; ++i)
    n += static_cast<double>(std::clamp<int64_t>(i + lk - lq + 1, 0, lk));
  return n;
}

class PrefillCase : public OpCase {
 public:
  PrefillCase(int64_t hd, int64_t n_heads, int64_t n_kv, std::vector<int32_t> lens_q,
              std::vector<int32_t> lens_k, bool causal)
      : hd_(hd),
        n_heads_(n_heads),
        n_kv_(n_kv),
        lens_q_(std::move(lens_q)),
        lens_k_(std::move(lens_k)),
        causal_(causal) {}
  std::string op() const override { return "prefill_attention"; }
  std::string shape() const override {
    return "hd=" + std::to_string(hd_) + " heads=" + std::to_string(n_heads_) + "/" +
           std::to_string(n_kv_) + " q=[" + JoinLens(lens_q_) + "] k=[" + JoinLens(lens_k_) + "]" +
           (causal_ ? " causal" : " full");
  }
  cudaError_t Setup() override {
    cu_q_.assign(1, 0);
    cu_k_.assign(1, 0);
    for (size_t b = 0; b < lens_q_.size(); ++b) {
      cu_q_.push_back(cu_q_.back() + lens_q_[b]);
      cu_k_.push_back(cu_k_.back() + lens_k_[b]);
    }
    const size_t nq = static_cast<size_t>(cu_q_.back() * n_heads_ * hd_);
    const size_t nk = static_cast<size_t>(cu_k_.back() * n_kv_ * hd_);
    q_ = ToBf16(RandomUniform(nq, -2.0f, 2.0f, 81 + nq));
    k_ = ToBf16(RandomUniform(nk, -2.0f, 2.0f, 82 + nk));
    v_ = ToBf16(RandomUniform(nk, -1.0f, 1.0f, 83 + nk));
    PROCTOR_CUDA_RETURN_IF_ERROR(dq_.Upload(q_));
    PROCTOR_CUDA_RETURN_IF_ERROR(dk_.Upload(k_));
    PROCTOR_CUDA_RETURN_IF_ERROR(dv_.Upload(v_));
    PROCTOR_CUDA_RETURN_IF_ERROR(dcu_q_.Upload(cu_q_));
    PROCTOR_CUDA_RETURN_IF_ERROR(dcu_k_.Upload(cu_k_));
    return dout_.Allocate(nq * 2);
  }
  cudaError_t Run(cudaStream_t stream) override {
    PrefillAttentionArgs a;
    a.q = Bf(dq_);
    a.k = Bf(dk_);
    a.v = Bf(dv_);
    a.out = Bf(dout_);
    a.cu_seqlens_q = dcu_q_.as<int32_t>();
    a.cu_seqlens_k = dcu_k_.as<int32_t>();
    a.batch = static_cast<int64_t>(lens_q_.size());
    a.max_seqlen_q = *std::max_element(lens_q_.begin(), lens_q_.end());
    a.n_heads = n_heads_;
    a.n_kv = n_kv_;
    a.head_dim = hd_;
    a.scale = 1.0f / std::sqrt(static_cast<float>(hd_));
    a.causal = causal_;
    return PrefillAttentionBf16(a, stream);
  }
  OpCheck Check() override {
    OpCheck c;
    std::vector<uint16_t> raw(q_.size());
    if (cudaError_t err = dout_.Download(&raw); err != cudaSuccess) {
      c.error = CudaErrorText("download", err);
      return c;
    }
    const std::vector<float> q = FromBf16(q_), k = FromBf16(k_), v = FromBf16(v_);
    std::vector<float> want(q.size()), naive(q.size());
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd_));
    for (size_t b = 0; b < lens_q_.size(); ++b) {
      const int64_t lq = lens_q_[b], lk = lens_k_[b];
      const int64_t off = causal_ ? lk - lq : lk;
      const size_t qo = static_cast<size_t>(cu_q_[b] * n_heads_ * hd_);
      const size_t ko = static_cast<size_t>(cu_k_[b] * n_kv_ * hd_);
      ref::Attention(q.data() + qo, k.data() + ko, v.data() + ko, want.data() + qo, lq, lk,
                     n_heads_, n_kv_, hd_, off, scale);
      NaiveAttentionBf16(q.data() + qo, k.data() + ko, v.data() + ko, naive.data() + qo, lq, lk,
                         n_heads_, n_kv_, hd_, off, scale);
    }
    c.max_err = MaxAbsError(FromBf16(raw), want);
    c.naive_err = MaxAbsError(naive, want);
    c.tolerance = 2.0 * c.naive_err + 1e-4;
    return c;
  }
  double bytes_moved() const override {
    // q read + out written, k + v read, all BF16.
    double tq = 0.0, tk = 0.0;
    for (size_t b = 0; b < lens_q_.size(); ++b) {
      tq += lens_q_[b];
      tk += lens_k_[b];
    }
    return 2.0 * 2.0 *
           (tq * static_cast<double>(n_heads_ * hd_) + tk * static_cast<double>(n_kv_ * hd_));
  }
  double flops() const override {
    double pairs = 0.0;
    for (size_t b = 0; b < lens_q_.size(); ++b)
      pairs += VisiblePairs(lens_q_[b], lens_k_[b], causal_);
    return 4.0 * pairs * static_cast<double>(hd_ * n_heads_);
  }

 private:
  int64_t hd_, n_heads_, n_kv_;
  std::vector<int32_t> lens_q_, lens_k_, cu_q_, cu_k_;
  bool causal_;
  std::vector<uint16_t> q_, k_, v_;
  DeviceBuffer dq_, dk_, dv_, dcu_q_, dcu_k_, dout_;
};

// Prefix sharing through a paged KV cache: every sequence attends to the same
// `prefix` keys (the same physical pages, scrambled in the pool) followed by
// its own continuation, whose queries are the ones computed.
class PagedPrefixCase : public OpCase {
 public:
  PagedPrefixCase(int64_t hd, int64_t n_heads, int64_t n_kv, int64_t page_size, int32_t prefix,
                  std::vector<int32_t> cont)
      : hd_(hd),
        n_heads_(n_heads),
        n_kv_(n_kv),
        page_size_(page_size),
        prefix_(prefix),
        cont_(std::move(cont)) {}
  std::string op() const override { return "prefill_attention"; }
  std::string shape() const override {
    return "hd=" + std::to_string(hd_) + " heads=" + std::to_string(n_heads_) + "/" +
           std::to_string(n_kv_) + " paged page=" + std::to_string(page_size_) +
           " shared-prefix=" + std::to_string(prefix_) + " q=[" + JoinLens(cont_) + "]";
  }
  int64_t batch() const { return static_cast<int64_t>(cont_.size()); }
  int64_t Pages(int64_t n) const { return (n + page_size_ - 1) / page_size_; }
  cudaError_t Setup() override {
    // The prefix fills whole pages so that they can be shared.
    const int64_t prefix_pages = prefix_ / page_size_;
    int64_t max_cont = 0, total_cont_pages = 0;
    for (int32_t c : cont_) {
      max_cont = std::max<int64_t>(max_cont, c);
      total_cont_pages += Pages(c);
    }
    max_pages_ = prefix_pages + std::max<int64_t>(1, Pages(max_cont));
    num_pages_ = prefix_pages + total_cont_pages + 2;
    std::vector<int32_t> order(static_cast<size_t>(num_pages_));
    std::iota(order.begin(), order.end(), 0);
    const std::vector<float> r = RandomUniform(order.size(), 0.0f, 1.0f, 95);
    for (size_t i = order.size(); i > 1; --i) {
      std::swap(order[i - 1], order[static_cast<size_t>(r[i - 1] * static_cast<float>(i)) % i]);
    }
    table_.assign(static_cast<size_t>(batch() * max_pages_), -1);
    size_t next = static_cast<size_t>(prefix_pages);
    cu_q_.assign(1, 0);
    cu_k_.assign(1, 0);
    for (int64_t b = 0; b < batch(); ++b) {
      for (int64_t p = 0; p < prefix_pages; ++p) {
        table_[static_cast<size_t>(b * max_pages_ + p)] = order[static_cast<size_t>(p)];
      }
      for (int64_t p = 0; p < Pages(cont_[b]); ++p) {
        table_[static_cast<size_t>(b * max_pages_ + prefix_pages + p)] = order[next++];
      }
      cu_q_.push_back(cu_q_.back() + cont_[b]);
      cu_k_.push_back(cu_k_.back() + prefix_ + cont_[b]);
    }
    const size_t pool = static_cast<size_t>(num_pages_ * page_size_ * n_kv_ * hd_);
    kc_ = ToBf16(RandomUniform(pool, -2.0f, 2.0f, 96));
    vc_ = ToBf16(RandomUniform(pool, -1.0f, 1.0f, 97));
    q_ = ToBf16(RandomUniform(static_cast<size_t>(cu_q_.back() * n_heads_ * hd_), -2.0f, 2.0f, 98));
    PROCTOR_CUDA_RETURN_IF_ERROR(dq_.Upload(q_));
    PROCTOR_CUDA_RETURN_IF_ERROR(dk_.Upload(kc_));
    PROCTOR_CUDA_RETURN_IF_ERROR(dv_.Upload(vc_));
    PROCTOR_CUDA_RETURN_IF_ERROR(dtable_.Upload(table_));
    PROCTOR_CUDA_RETURN_IF_ERROR(dcu_q_.Upload(cu_q_));
    PROCTOR_CUDA_RETURN_IF_ERROR(dcu_k_.Upload(cu_k_));
    return dout_.Allocate(q_.size() * 2);
  }
  cudaError_t Run(cudaStream_t stream) override {
    PrefillAttentionArgs a;
    a.q = Bf(dq_);
    a.k = Bf(dk_);
    a.v = Bf(dv_);
    a.out = Bf(dout_);
    a.cu_seqlens_q = dcu_q_.as<int32_t>();
    a.cu_seqlens_k = dcu_k_.as<int32_t>();
    a.batch = batch();
    a.max_seqlen_q = *std::max_element(cont_.begin(), cont_.end());
    a.n_heads = n_heads_;
    a.n_kv = n_kv_;
    a.head_dim = hd_;
    a.scale = 1.0f / std::sqrt(static_cast<float>(hd_));
    a.causal = true;
    a.block_table = dtable_.as<int32_t>();
    a.page_size = page_size_;
    a.num_pages = num_pages_;
    a.max_pages_per_seq = max_pages_;
    return PrefillAttentionBf16(a, stream);
  }
  OpCheck Check() override {
    OpCheck c;
    std::vector<uint16_t> raw(q_.size());
    if (cudaError_t err = dout_.Download(&raw); err != cudaSuccess) {
      c.error = CudaErrorText("download", err);
      return c;
    }
    const std::vector<float> q = FromBf16(q_), kc = FromBf16(kc_), vc = FromBf16(vc_);
    std::vector<float> want(q.size()), naive(q.size());
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd_));
    const size_t row = static_cast<size_t>(n_kv_ * hd_);
    for (int64_t b = 0; b < batch(); ++b) {
      const int64_t lq = cont_[b], lk = prefix_ + cont_[b];
      std::vector<float> k(static_cast<size_t>(lk) * row), v(k.size());
      for (int64_t j = 0; j < lk; ++j) {
        const int64_t page = table_[static_cast<size_t>(b * max_pages_ + j / page_size_)];
        const size_t src = static_cast<size_t>(page * page_size_ + j % page_size_) * row;
        std::copy(kc.begin() + src, kc.begin() + src + row, k.begin() + j * row);
        std::copy(vc.begin() + src, vc.begin() + src + row, v.begin() + j * row);
      }
      const size_t qo = static_cast<size_t>(cu_q_[b] * n_heads_ * hd_);
      ref::Attention(q.data() + qo, k.data(), v.data(), want.data() + qo, lq, lk, n_heads_, n_kv_,
                     hd_, lk - lq, scale);
      NaiveAttentionBf16(q.data() + qo, k.data(), v.data(), naive.data() + qo, lq, lk, n_heads_,
                         n_kv_, hd_, lk - lq, scale);
    }
    c.max_err = MaxAbsError(FromBf16(raw), want);
    c.naive_err = MaxAbsError(naive, want);
    c.tolerance = 2.0 * c.naive_err + 1e-4;
    return c;
  }
  double bytes_moved() const override {
    // Every sequence streams the shared prefix (from L2 after the first).
    double tq = 0.0, tk = 0.0;
    for (int32_t c : cont_) {
      tq += c;
      tk += prefix_ + c;
    }
    return 2.0 * 2.0 *
           (tq * static_cast<double>(n_heads_ * hd_) + tk * static_cast<double>(n_kv_ * hd_));
  }
  double flops() const override {
    double pairs = 0.0;
    for (int32_t c : cont_) pairs += VisiblePairs(c, prefix_ + c, true);
    return 4.0 * pairs * static_cast<double>(hd_ * n_heads_);
  }

 private:
  int64_t hd_, n_heads_, n_kv_, page_size_;
  int32_t prefix_;
  std::vector<int32_t> cont_;
  int64_t max_pages_ = 0, num_pages_ = 0;
  std::vector<int32_t> table_, cu_q_, cu_k_;
  std::vector<uint16_t> q_, kc_, vc_;
  DeviceBuffer dq_, dk_, dv_, dtable_, dcu_q_, dcu_k_, dout_;
};

class DecodeCase : public OpCase {
 public:
  DecodeCase(int64_t hd, int64_t n_heads, int64_t n_kv, int64_t page_size,
             std::vector<int32_t> seq_lens)
      : hd_(hd),
        n_heads_(n_heads),
        n_kv_(n_kv),
        page_size_(page_size),
        seq_lens_(std::move(seq_lens)) {}
  std::string op() const override { return "decode_attention"; }
  std::string shape() const override {
    return "hd=" + std::to_string(hd_) + " heads=" + std::to_string(n_heads_) + "/" +
           std::to_string(n_kv_) + " page=" + std::to_string(page_size_) + " lens=[" +
           JoinLens(seq_lens_) + "]";
  }
  int64_t batch() const { return static_cast<int64_t>(seq_lens_.size()); }
  int64_t max_len() const { return *std::max_element(seq_lens_.begin(), seq_lens_.end()); }
  cudaError_t Setup() override {
    max_pages_ = std::max<int64_t>(1, (max_len() + page_size_ - 1) / page_size_);
    int64_t used = 0;
    for (int32_t len : seq_lens_) used += (len + page_size_ - 1) / page_size_;
    num_pages_ = used + 3;  // a few pages nobody owns
    // Pages handed out in a scrambled order; unused table slots hold an
    // out-of-range id that the kernel must never dereference.
    std::vector<int32_t> order(static_cast<size_t>(num_pages_));
    std::iota(order.begin(), order.end(), 0);
    const std::vector<float> r = RandomUniform(order.size(), 0.0f, 1.0f, 91);
    for (size_t i = order.size(); i > 1; --i) {
      std::swap(order[i - 1], order[static_cast<size_t>(r[i - 1] * static_cast<float>(i)) % i]);
    }
    table_.assign(static_cast<size_t>(batch() * max_pages_), static_cast<int32_t>(num_pages_ + 7));
    size_t next = 0;
    for (int64_t b = 0; b < batch(); ++b) {
      const int64_t pages = (seq_lens_[b] + page_size_ - 1) / page_size_;
      for (int64_t p = 0; p < pages; ++p)
        table_[static_cast<size_t>(b * max_pages_ + p)] = order[next++];
    }
    const size_t cache = static_cast<size_t>(num_pages_ * page_size_ * n_kv_ * hd_);
    kc_ = ToBf16(RandomUniform(cache, -2.0f, 2.0f, 92));
    vc_ = ToBf16(RandomUniform(cache, -1.0f, 1.0f, 93));
    q_ = ToBf16(RandomUniform(static_cast<size_t>(batch() * n_heads_ * hd_), -2.0f, 2.0f, 94));
    PROCTOR_CUDA_RETURN_IF_ERROR(dq_.Upload(q_));
    PROCTOR_CUDA_RETURN_IF_ERROR(dk_.Upload(kc_));
    PROCTOR_CUDA_RETURN_IF_ERROR(dv_.Upload(vc_));
    PROCTOR_CUDA_RETURN_IF_ERROR(dtable_.Upload(table_));
    PROCTOR_CUDA_RETURN_IF_ERROR(dlens_.Upload(seq_lens_));
    PROCTOR_CUDA_RETURN_IF_ERROR(dout_.Allocate(q_.size() * 2));
    return dws_.Allocate(DecodeAttentionWorkspaceBytes(batch(), n_heads_, hd_, max_len()));
  }
  cudaError_t Run(cudaStream_t stream) override {
    return RunWith(Bf(dk_), Bf(dv_), dtable_.as<int32_t>(), num_pages_, page_size_, max_pages_,
                   stream);
  }
  // Baseline: the same kernel over an unpaged cache (each sequence's keys
  // contiguous, one page per sequence), i.e. what paging costs.
  bool has_baseline() const override { return true; }
  std::string baseline_name() const override { return "decode_unpaged"; }
  cudaError_t RunBaseline(cudaStream_t stream) override {
    if (dk_flat_.bytes() == 0) {
      const size_t row = static_cast<size_t>(n_kv_ * hd_);
      const size_t len = static_cast<size_t>(max_len());
      std::vector<uint16_t> kf(static_cast<size_t>(batch()) * len * row, 0), vf(kf.size(), 0);
      std::vector<int32_t> table(static_cast<size_t>(batch()));
      for (int64_t b = 0; b < batch(); ++b) {
        table[static_cast<size_t>(b)] = static_cast<int32_t>(b);
        for (int64_t j = 0; j < seq_lens_[b]; ++j) {
          const int64_t page = table_[static_cast<size_t>(b * max_pages_ + j / page_size_)];
          const size_t src = static_cast<size_t>(page * page_size_ + j % page_size_) * row;
          const size_t dst = (static_cast<size_t>(b) * len + static_cast<size_t>(j)) * row;
          std::copy(kc_.begin() + src, kc_.begin() + src + row, kf.begin() + dst);
          std::copy(vc_.begin() + src, vc_.begin() + src + row, vf.begin() + dst);
        }
      }
      PROCTOR_CUDA_RETURN_IF_ERROR(dk_flat_.Upload(kf));
      PROCTOR_CUDA_RETURN_IF_ERROR(dv_flat_.Upload(vf));
      PROCTOR_CUDA_RETURN_IF_ERROR(dtable_flat_.Upload(table));
    }
    return RunWith(Bf(dk_flat_), Bf(dv_flat_), dtable_flat_.as<int32_t>(), batch(),
                   std::max<int64_t>(1, max_len()), 1, stream);
  }
  OpCheck Check() override {
    OpCheck c;
    std::vector<uint16_t> raw(q_.size());
    if (cudaError_t err = dout_.Download(&raw); err != cudaSuccess) {
      c.error = CudaErrorText("download", err);
      return c;
    }
    const std::vector<float> q = FromBf16(q_), kc = FromBf16(kc_), vc = FromBf16(vc_);
    std::vector<float> want(q.size()), naive(q.size());
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd_));
    const size_t row = static_cast<size_t>(n_kv_ * hd_);
    for (int64_t b = 0; b < batch(); ++b) {
      const int64_t len = seq_lens_[b];
      // Gather this sequence's keys into a contiguous [len, n_kv, hd] copy.
      std::vector<float> k(static_cast<size_t>(len) * row), v(k.size());
      for (int64_t j = 0; j < len; ++j) {
        const int64_t page = table_[static_cast<size_t>(b * max_pages_ + j / page_size_)];
        const size_t src = static_cast<size_t>(page * page_size_ + j % page_size_) * row;
        std::copy(kc.begin() + src, kc.begin() + src + row, k.begin() + j * row);
        std::copy(vc.begin() + src, vc.begin() + src + row, v.begin() + j * row);
      }
      const size_t qo = static_cast<size_t>(b * n_heads_ * hd_);
      ref::Attention(q.data() + qo, k.data(), v.data(), want.data() + qo, 1, len, n_heads_, n_kv_,
                     hd_, len - 1, scale);
      NaiveAttentionBf16(q.data() + qo, k.data(), v.data(), naive.data() + qo, 1, len, n_heads_,
                         n_kv_, hd_, len - 1, scale);
    }
    c.max_err = MaxAbsError(FromBf16(raw), want);
    c.naive_err = MaxAbsError(naive, want);
    c.tolerance = 2.0 * c.naive_err + 1e-4;
    return c;
  }
  double bytes_moved() const override {
    double keys = 0.0;
    for (int32_t len : seq_lens_) keys += len;
    return 2.0 * 2.0 * keys * static_cast<double>(n_kv_ * hd_) +
           2.0 * 2.0 * static_cast<double>(batch() * n_heads_ * hd_);
  }

 private:
  int64_t hd_, n_heads_, n_kv_, page_size_;
  std::vector<int32_t> seq_lens_;
  int64_t max_pages_ = 0, num_pages_ = 0;
  std::vector<int32_t> table_;
  std::vector<uint16_t> q_, kc_, vc_;
  cudaError_t RunWith(const __nv_bfloat16* k_pages, const __nv_bfloat16* v_pages,
                      const int32_t* table, int64_t num_pages, int64_t page_size, int64_t max_pages,
                      cudaStream_t stream) {
    DecodeAttentionArgs a;
    a.q = Bf(dq_);
    a.k_pages = k_pages;
    a.v_pages = v_pages;
    a.block_table = table;
    a.seq_lens = dlens_.as<int32_t>();
    a.out = Bf(dout_);
    a.batch = batch();
    a.n_heads = n_heads_;
    a.n_kv = n_kv_;
    a.head_dim = hd_;
    a.num_pages = num_pages;
    a.page_size = page_size;
    a.max_pages_per_seq = max_pages;
    a.max_seq_len = max_len();
    a.scale = 1.0f / std::sqrt(static_cast<float>(hd_));
    return DecodeAttentionBf16(a, dws_.as<void>(), dws_.bytes(), stream);
  }

  DeviceBuffer dq_, dk_, dv_, dtable_, dlens_, dout_, dws_;
  DeviceBuffer dk_flat_, dv_flat_, dtable_flat_;  // baseline only
};

using Lens = std::vector<int32_t>;

}  // namespace

void NaiveAttentionBf16(const float* q, const float* k, const float* v, float* out, int64_t t,
                        int64_t s, int64_t n_heads, int64_t n_kv, int64_t hd, int64_t q_pos_offset,
                        float scale) {
  const int64_t group = n_heads / n_kv;
  std::vector<float> p(static_cast<size_t>(std::max<int64_t>(s, 1)));
  for (int64_t i = 0; i < t; ++i) {
    const int64_t last = std::min<int64_t>(s - 1, q_pos_offset + i);
    for (int64_t h = 0; h < n_heads; ++h) {
      float* o = out + (i * n_heads + h) * hd;
      std::fill(o, o + hd, 0.0f);
      if (last < 0) continue;
      const float* qv = q + (i * n_heads + h) * hd;
      const int64_t kvh = h / group;
      float mx = -INFINITY;
      for (int64_t j = 0; j <= last; ++j) {
        const float* kv = k + (j * n_kv + kvh) * hd;
        float dot = 0.0f;
        for (int64_t d = 0; d < hd; ++d) dot += qv[d] * kv[d];
        p[static_cast<size_t>(j)] = RoundBf16(RoundBf16(dot) * scale);
        mx = std::max(mx, p[static_cast<size_t>(j)]);
      }
      float sum = 0.0f;
      for (int64_t j = 0; j <= last; ++j) {
        p[static_cast<size_t>(j)] = std::exp(p[static_cast<size_t>(j)] - mx);
        sum += p[static_cast<size_t>(j)];
      }
      for (int64_t j = 0; j <= last; ++j) {
        const float w = RoundBf16(p[static_cast<size_t>(j)] / sum);
        const float* vv = v + (j * n_kv + kvh) * hd;
        for (int64_t d = 0; d < hd; ++d) o[d] += w * vv[d];
      }
      for (int64_t d = 0; d < hd; ++d) o[d] = RoundBf16(o[d]);
    }
  }
}

void AddAttentionCases(bool bench, OpCaseList* out) {
  if (bench) {
    for (int32_t seq : {512, 2048, 4096}) {
      out->push_back(std::make_unique<PrefillCase>(128, 32, 8, Lens{seq}, Lens{seq}, true));
    }
    out->push_back(std::make_unique<PrefillCase>(128, 32, 8, Lens(8, 512), Lens(8, 512), true));
    out->push_back(std::make_unique<PrefillCase>(64, 32, 32, Lens{2048}, Lens{2048}, true));
    // MMLU-style scoring: 16 continuations sharing a 2048-token prefix.
    out->push_back(std::make_unique<PagedPrefixCase>(128, 32, 8, 16, 2048, Lens(16, 64)));
    out->push_back(std::make_unique<DecodeCase>(128, 32, 8, 16, Lens(16, 4096)));
    out->push_back(std::make_unique<DecodeCase>(128, 64, 8, 16, Lens(4, 16384)));
    return;
  }
  out->push_back(std::make_unique<PrefillCase>(64, 4, 2, Lens{1, 65, 130}, Lens{1, 65, 130}, true));
  out->push_back(std::make_unique<PrefillCase>(128, 8, 2, Lens{64, 100}, Lens{64, 100}, true));
  // Queries after a cached prefix (len_k > len_q), GQA ratio 6, and a
  // sequence with more queries than keys (the first queries see nothing).
  out->push_back(
      std::make_unique<PrefillCase>(128, 6, 1, Lens{5, 70, 40}, Lens{200, 70, 30}, true));
  out->push_back(std::make_unique<PrefillCase>(64, 3, 3, Lens{33, 129}, Lens{97, 129}, false));
  out->push_back(std::make_unique<PrefillCase>(128, 4, 4, Lens{0, 17}, Lens{0, 17}, true));

  out->push_back(std::make_unique<PagedPrefixCase>(128, 8, 2, 16, 48, Lens{1, 20, 70, 5}));
  out->push_back(std::make_unique<PagedPrefixCase>(64, 4, 4, 32, 128, Lens{64, 3}));

  out->push_back(std::make_unique<DecodeCase>(128, 8, 2, 16, Lens{1, 300, 1000}));
  out->push_back(std::make_unique<DecodeCase>(64, 32, 2, 16, Lens{5000, 77}));  // group 16
  out->push_back(std::make_unique<DecodeCase>(64, 4, 4, 7, Lens{13, 0, 255}));
  out->push_back(std::make_unique<DecodeCase>(128, 12, 4, 32, Lens{33}));  // one split
}

}  // namespace proctor::kernels::cuda
