#include "worker/engine/job_runner.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/cpu/reference.h"

namespace proctor::engine {
namespace {

namespace ref = kernels::ref;

size_t CommonPrefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b, size_t limit) {
  size_t n = std::min({a.size(), b.size(), limit});
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// Rows of logits computed at once (bounds memory for large vocabularies).
constexpr int64_t kLogitRows = 32;
constexpr int32_t kDefaultMaxNewTokens = 256;

}  // namespace

JobRunner::JobRunner(const Model* model, const Transformer* transformer, JobRunnerOptions options)
    : model_(model), tf_(transformer), options_(options), cache_(model->config()) {}

int64_t JobRunner::MaxContext() const {
  const int64_t ctx = model_->config().context_length;
  return options_.max_context > 0 ? std::min(options_.max_context, ctx) : ctx;
}

int32_t JobRunner::StartToken() const {
  const Tokenizer* t = model_->tokenizer();
  return t->bos_id() >= 0 ? t->bos_id() : t->eos_id();
}

absl::StatusOr<ScoredSequence> JobRunner::LoglikelihoodSequence(
    const std::string& context_in, const std::string& continuation_in) const {
  const Tokenizer* tok = model_->tokenizer();
  std::string context = context_in, continuation = continuation_in;
  // Rule 1: trailing whitespace of the context moves to the continuation.
  size_t cut = context.size();
  while (cut > 0 && IsSpace(context[cut - 1])) --cut;
  continuation = context.substr(cut) + continuation;
  context.resize(cut);

  ScoredSequence seq;
  std::vector<int32_t> ctx_ids;
  if (context.empty()) {
    // Rule 2: score the continuation after BOS (EOS without BOS).
    if (StartToken() < 0) {
      return absl::InvalidArgumentError("empty context and the model has neither BOS nor EOS");
    }
    ctx_ids = {StartToken()};
    seq.tokens = ctx_ids;
    const std::vector<int32_t> cont = tok->Encode(continuation);
    seq.tokens.insert(seq.tokens.end(), cont.begin(), cont.end());
    seq.score_from = 1;
  } else {
    ctx_ids = tok->EncodeWithBos(context);
    seq.tokens = tok->EncodeWithBos(context + continuation);
    seq.score_from = static_cast<int64_t>(CommonPrefix(ctx_ids, seq.tokens, ctx_ids.size()));
    if (seq.score_from == 0) {
      // The first token spans the join and there is no BOS: condition on EOS.
      if (StartToken() < 0) {
        return absl::InvalidArgumentError("continuation merges into the first context token");
      }
      seq.tokens.insert(seq.tokens.begin(), StartToken());
      seq.score_from = 1;
    }
  }
  // Rule 3: truncate from the left; scored tokens are never dropped. The last
  // token is never fed, so a window holds MaxContext() + 1 tokens.
  const int64_t window = MaxContext() + 1;
  const int64_t n = static_cast<int64_t>(seq.tokens.size());
  if (n > window) {
    const int64_t drop = n - window;
    if (drop >= seq.score_from) {
      return absl::InvalidArgumentError(absl::StrCat("continuation of ", n - seq.score_from,
                                                     " tokens does not fit the context window of ",
                                                     MaxContext(), " tokens"));
    }
    seq.tokens.erase(seq.tokens.begin(), seq.tokens.begin() + drop);
    seq.score_from -= drop;
  }
  return seq;
}

std::vector<ScoredSequence> JobRunner::RollingSequences(const std::string& text) const {
  const Tokenizer* tok = model_->tokenizer();
  std::vector<int32_t> full = {StartToken()};
  const std::vector<int32_t> body = tok->Encode(text);
  full.insert(full.end(), body.begin(), body.end());
  const int64_t max_len = MaxContext();
  std::vector<ScoredSequence> out;
  // Predict full[s+1 .. e] (1-based over body tokens) window by window.
  const int64_t total = static_cast<int64_t>(body.size());
  for (int64_t s = 0; s < total; s += max_len) {
    const int64_t e = std::min(total, s + max_len);  // predict full[s+1 .. e]
    const int64_t start = std::max<int64_t>(0, e - max_len);
    ScoredSequence seq;
    seq.tokens.assign(full.begin() + start, full.begin() + e + 1);
    seq.score_from = s + 1 - start;
    out.push_back(std::move(seq));
  }
  return out;
}

absl::Status JobRunner::Prefill(const std::vector<int32_t>& feed) {
  size_t reuse = 0;
  if (options_.prefix_sharing) reuse = CommonPrefix(cache_.tokens(), feed, feed.size());
  cache_.Truncate(static_cast<int64_t>(reuse));
  stats_.tokens_reused += static_cast<int64_t>(reuse);
  if (reuse < feed.size()) {
    const std::vector<int32_t> rest(feed.begin() + static_cast<std::ptrdiff_t>(reuse), feed.end());
    stats_.tokens_computed += static_cast<int64_t>(rest.size());
    PROCTOR_RETURN_IF_ERROR(tf_->Extend(rest, &cache_));
  }
  return absl::OkStatus();
}

absl::Status JobRunner::Score(const ScoredSequence& seq, double* logprob, bool* greedy) {
  *logprob = 0.0;
  *greedy = true;
  ++stats_.sequences;
  const int64_t n = static_cast<int64_t>(seq.tokens.size());
  if (seq.score_from >= n) return absl::OkStatus();  // nothing to score
  if (seq.score_from < 1) return absl::InternalError("scored sequence without a context token");
  const std::vector<int32_t> feed(seq.tokens.begin(), seq.tokens.end() - 1);
  PROCTOR_RETURN_IF_ERROR(Prefill(feed));
  const int64_t vocab = model_->config().vocab_size;
  std::vector<float> logits;
  std::vector<int64_t> positions;
  std::vector<float> lp;
  std::vector<int32_t> am;
  for (int64_t p0 = seq.score_from - 1; p0 < n - 1; p0 += kLogitRows) {
    const int64_t rows = std::min(kLogitRows, n - 1 - p0);
    positions.resize(static_cast<size_t>(rows));
    std::iota(positions.begin(), positions.end(), p0);
    logits.resize(static_cast<size_t>(rows * vocab));
    lp.resize(static_cast<size_t>(rows));
    am.resize(static_cast<size_t>(rows));
    tf_->Logits(cache_, positions.data(), rows, logits.data());
    ref::LogSoftmaxGather(logits.data(), seq.tokens.data() + p0 + 1, lp.data(), am.data(), rows,
                          vocab);
    for (int64_t r = 0; r < rows; ++r) {
      *logprob += lp[static_cast<size_t>(r)];
      if (am[static_cast<size_t>(r)] != seq.tokens[static_cast<size_t>(p0 + 1 + r)])
        *greedy = false;
    }
    stats_.tokens_scored += rows;
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::GenerateOutput> JobRunner::Generate(const std::string& context,
                                                       const v1::GenerateRequest& req) {
  const Tokenizer* tok = model_->tokenizer();
  const int64_t ctx_len = MaxContext();
  int64_t max_new = req.max_new_tokens() > 0 ? req.max_new_tokens() : kDefaultMaxNewTokens;
  std::vector<int32_t> prompt =
      context.empty() ? std::vector<int32_t>{StartToken()} : tok->EncodeWithBos(context);
  // Left-truncate the prompt so that it and max_new tokens fit (keep >= 1).
  const int64_t keep = std::max<int64_t>(1, ctx_len - max_new);
  if (static_cast<int64_t>(prompt.size()) > keep) {
    prompt.erase(prompt.begin(), prompt.end() - keep);
  }
  ++stats_.sequences;
  PROCTOR_RETURN_IF_ERROR(Prefill(prompt));
  const int64_t vocab = model_->config().vocab_size;
  std::vector<float> logits(static_cast<size_t>(vocab));
  std::mt19937_64 rng(req.seed());
  std::vector<int32_t> generated;
  std::string text;
  size_t max_stop = 0;
  for (const std::string& s : req.stop()) max_stop = std::max(max_stop, s.size());
  v1::GenerateOutput out;
  out.set_finish_reason(v1::FINISH_REASON_LENGTH);
  while (static_cast<int64_t>(generated.size()) < max_new) {
    const int64_t last = cache_.length() - 1;
    tf_->Logits(cache_, &last, 1, logits.data());
    ++stats_.tokens_scored;
    int32_t next;
    if (req.temperature() <= 0.0f) {
      next = static_cast<int32_t>(ref::Argmax(logits.data(), vocab));
    } else {
      for (float& l : logits) l /= req.temperature();
      ref::Softmax(logits.data(), logits.data(), vocab);
      std::vector<int32_t> order(static_cast<size_t>(vocab));
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
        return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)];
      });
      const float top_p = req.top_p() > 0.0f && req.top_p() < 1.0f ? req.top_p() : 1.0f;
      float mass = 0.0f;
      size_t cutoff = 0;
      while (cutoff < order.size() && (cutoff == 0 || mass < top_p)) {
        mass += logits[static_cast<size_t>(order[cutoff++])];
      }
      std::uniform_real_distribution<float> u(0.0f, mass);
      float r = u(rng), acc = 0.0f;
      next = order[cutoff - 1];
      for (size_t i = 0; i < cutoff; ++i) {
        acc += logits[static_cast<size_t>(order[i])];
        if (r < acc) {
          next = order[i];
          break;
        }
      }
    }
    if (tok->IsEndOfGeneration(next)) {
      out.set_finish_reason(v1::FINISH_REASON_EOS);
      break;
    }
    generated.push_back(next);
    const size_t old_len = text.size();
    text += tok->TokenBytes(next);
    // Earliest stop-string occurrence that touches the new text.
    size_t stop_at = std::string::npos;
    const size_t from = old_len > max_stop ? old_len - max_stop : 0;
    for (const std::string& s : req.stop()) {
      if (s.empty()) continue;
      const size_t at = text.find(s, from);
      if (at != std::string::npos) stop_at = std::min(stop_at, at);
    }
    if (stop_at != std::string::npos) {
      text.resize(stop_at);
      out.set_finish_reason(v1::FINISH_REASON_STOP);
      break;
    }
    if (static_cast<int64_t>(generated.size()) >= max_new || cache_.length() >= ctx_len) break;
    PROCTOR_RETURN_IF_ERROR(tf_->Extend({next}, &cache_));
    ++stats_.tokens_computed;
  }
  out.set_text(text);
  out.set_num_tokens(static_cast<int32_t>(generated.size()));
  return out;
}

absl::Status JobRunner::Run(const v1::Job& job, const std::vector<int64_t>& skip_request_ids,
                            const OutputSink& sink, const std::atomic<bool>& cancelled) {
  if (model_->tokenizer() == nullptr) {
    return absl::FailedPreconditionError("model has no tokenizer");
  }
  const std::unordered_set<int64_t> skip(skip_request_ids.begin(), skip_request_ids.end());
  struct Pending {
    const v1::Request* req;
    std::string context;
    int remaining = 0;
    v1::Output out;
  };
  struct Item {
    ScoredSequence seq;
    size_t pending;
    int slot;  // continuation index (loglikelihood) or -1 (rolling)
  };
  std::vector<Pending> pending;
  std::vector<Item> items;
  std::vector<size_t> generates;
  // Validate and tokenise everything first.
  for (const v1::Request& r : job.requests()) {
    if (skip.count(r.request_id()) > 0) continue;
    if (r.prefix_index() < 0 || r.prefix_index() > job.prefixes_size()) {
      return absl::InvalidArgumentError(absl::StrCat("request ", r.request_id(), ": prefix_index ",
                                                     r.prefix_index(), " out of range"));
    }
    Pending p;
    p.req = &r;
    p.out.set_request_id(r.request_id());
    const std::string prefix = r.prefix_index() > 0 ? job.prefixes(r.prefix_index() - 1) : "";
    const size_t idx = pending.size();
    switch (r.kind_case()) {
      case v1::Request::kLoglikelihood: {
        const auto& ll = r.loglikelihood();
        if (ll.continuations_size() == 0) {
          return absl::InvalidArgumentError(
              absl::StrCat("request ", r.request_id(), ": no continuations"));
        }
        for (int c = 0; c < ll.continuations_size(); ++c) {
          auto seq = LoglikelihoodSequence(prefix + ll.context(), ll.continuations(c));
          if (!seq.ok()) {
            return absl::InvalidArgumentError(
                absl::StrCat("request ", r.request_id(), ": ", seq.status().message()));
          }
          items.push_back(Item{std::move(*seq), idx, c});
          p.out.mutable_loglikelihood()->add_continuations();
        }
        p.remaining = ll.continuations_size();
        break;
      }
      case v1::Request::kLoglikelihoodRolling: {
        std::vector<ScoredSequence> seqs =
            RollingSequences(prefix + r.loglikelihood_rolling().text());
        p.out.mutable_loglikelihood_rolling();
        p.remaining = static_cast<int>(seqs.size());
        for (ScoredSequence& s : seqs) items.push_back(Item{std::move(s), idx, -1});
        break;
      }
      case v1::Request::kGenerate:
        if (r.generate().max_new_tokens() < 0) {
          return absl::InvalidArgumentError(
              absl::StrCat("request ", r.request_id(), ": negative max_new_tokens"));
        }
        p.context = prefix + r.generate().context();
        generates.push_back(idx);
        break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("request ", r.request_id(), ": no request kind set"));
    }
    pending.push_back(std::move(p));
  }
  // Requests with nothing to score (empty rolling text) finish immediately.
  for (Pending& p : pending) {
    if (p.req->kind_case() == v1::Request::kLoglikelihoodRolling && p.remaining == 0) sink(p.out);
  }
  // Depth-first order of the token prefix tree = lexicographic order.
  std::vector<size_t> order(items.size());
  std::iota(order.begin(), order.end(), 0);
  if (options_.prefix_sharing) {
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return items[a].seq.tokens < items[b].seq.tokens; });
  }
  for (size_t k = 0; k < order.size(); ++k) {
    if (cancelled.load()) return absl::CancelledError("job cancelled");
    const Item& it = items[order[k]];
    double lp;
    bool greedy;
    PROCTOR_RETURN_IF_ERROR(Score(it.seq, &lp, &greedy));
    Pending& p = pending[it.pending];
    const int32_t n =
        static_cast<int32_t>(it.seq.tokens.size() - static_cast<size_t>(it.seq.score_from));
    if (it.slot >= 0) {
      v1::ContinuationScore* cs = p.out.mutable_loglikelihood()->mutable_continuations(it.slot);
      cs->set_logprob(lp);
      cs->set_num_tokens(n);
      cs->set_is_greedy(greedy);
    } else {
      auto* ro = p.out.mutable_loglikelihood_rolling();
      ro->set_logprob(ro->logprob() + lp);
      ro->set_num_tokens(ro->num_tokens() + n);
    }
    if (--p.remaining == 0) sink(p.out);
  }
  for (size_t idx : generates) {
    if (cancelled.load()) return absl::CancelledError("job cancelled");
    Pending& p = pending[idx];
    PROCTOR_ASSIGN_OR_RETURN(v1::GenerateOutput g, Generate(p.context, p.req->generate()));
    *p.out.mutable_generate() = std::move(g);
    sink(p.out);
  }
  return absl::OkStatus();
}

}  // namespace proctor::engine
