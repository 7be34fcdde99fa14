#include "worker/engine/job_runner.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/cpu/reference.h"

namespace proctor::engine {
namespace {

namespace ref = kernels::ref;

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// Rows scored per LogProbs call (bounds the logits memory of large vocabularies).
constexpr int64_t kLogitRows = 64;
constexpr int32_t kDefaultMaxNewTokens = 256;

// Branch-group rule. Members are consecutive sequences of the lexicographic
// order; the group forks at P = the longest prefix of fed tokens common to all
// of them, and members whose fed tokens equal the previous member's (they
// differ only in the last, predicted token) share its fork. Against the
// one-by-one walk, which reuses for each member its common prefix lcp_k with
// the previous distinct member (and, for the first, lcp_0 with what the cache
// holds), a group recomputes
//   waste = max(0, lcp_0 - P) + sum over distinct members k >= 1 of (lcp_k - P)
// positions and runs rows = sum over distinct members of (fed length - P)
// positions in one ExtendBatch. A member joins while waste <=
// kGroupWasteSlack, rows <= Transformer::max_step_rows() and the group has at
// most max_group members. So a group never recomputes a shared part of more
// than a few tokens: the next question of a 5-shot MMLU job shares only the
// few-shot block with the current one, and joining it would recompute the
// current question for each of its continuations, so each question is its own
// group, forked after the question; the continuations of one question differ
// from their first tokens on (sub-branches such as " the cat" / " the dog" /
// " a bird" waste one token). Unrelated sequences (rolling windows of
// different texts: P = 1, the BOS) waste nothing and run together while their
// rows fit one step. The slack is small because a recomputed position costs
// about as much as the small step it saves: with 8, SmolLM2 joined each
// question to the next one's first continuation, recomputing the question's
// 8-token tail (engine_bench: 9% more positions, slower than the walk).
constexpr int64_t kGroupWasteSlack = 2;

// The tokens a scored sequence feeds through the model: all but the last,
// which is only predicted.
std::span<const int32_t> Fed(const ScoredSequence& s) {
  return std::span<const int32_t>(s.tokens.data(), s.tokens.size() - 1);
}

size_t CommonPrefix(std::span<const int32_t> a, std::span<const int32_t> b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

struct GroupSpan {
  size_t size = 1;
  int64_t fork_at = 0;
};

// The branch group starting at seqs[0] (all with something to score) when the
// cache holds `cached`, by the rule above.
GroupSpan NextGroup(std::span<const ScoredSequence* const> seqs, std::span<const int32_t> cached,
                    int max_members) {
  GroupSpan g;
  std::span<const int32_t> prev = Fed(*seqs[0]);
  int64_t p = static_cast<int64_t>(prev.size());
  const int64_t reuse = static_cast<int64_t>(CommonPrefix(cached, prev));
  int64_t fed_sum = p, lcp_sum = 0, distinct = 1;
  g.fork_at = p;
  const size_t limit = std::min(seqs.size(), static_cast<size_t>(std::max(1, max_members)));
  for (size_t j = 1; j < limit; ++j) {
    const std::span<const int32_t> fed = Fed(*seqs[j]);
    const size_t lcp = CommonPrefix(prev, fed);
    if (lcp == fed.size() && lcp == prev.size()) {  // same fed tokens: shares the fork
      g.size = j + 1;
      continue;
    }
    const int64_t np = std::min(p, static_cast<int64_t>(lcp));
    const int64_t nfed = fed_sum + static_cast<int64_t>(fed.size());
    const int64_t nlcp = lcp_sum + static_cast<int64_t>(lcp);
    const int64_t rows = nfed - (distinct + 1) * np;
    const int64_t waste = std::max<int64_t>(0, reuse - np) + nlcp - distinct * np;
    if (rows > Transformer::max_step_rows() || waste > kGroupWasteSlack) break;
    p = np;
    fed_sum = nfed;
    lcp_sum = nlcp;
    ++distinct;
    prev = fed;
    g.size = j + 1;
    g.fork_at = p;
  }
  return g;
}

// The decoding state of one generate request: its sampler, the text so far,
// and the stop rules. Shared by the one-by-one and the batched paths.
class Decoding {
 public:
  Decoding(const v1::GenerateRequest& req, int64_t max_new)
      : req_(&req), rng_(req.seed()), max_new_(max_new) {
    for (const std::string& s : req.stop()) max_stop_ = std::max(max_stop_, s.size());
    out_.set_finish_reason(v1::FINISH_REASON_LENGTH);
  }

  // The next token from the logits [vocab] of the last position (greedy, or
  // seeded temperature/top-p sampling; `logits` is overwritten then).
  int32_t Pick(float* logits, int64_t vocab) {
    if (req_->temperature() <= 0.0f) return static_cast<int32_t>(ref::Argmax(logits, vocab));
    for (int64_t i = 0; i < vocab; ++i) logits[i] /= req_->temperature();
    ref::Softmax(logits, logits, vocab);
    std::vector<int32_t> order(static_cast<size_t>(vocab));
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
    const float top_p = req_->top_p() > 0.0f && req_->top_p() < 1.0f ? req_->top_p() : 1.0f;
    float mass = 0.0f;
    size_t cutoff = 0;
    while (cutoff < order.size() && (cutoff == 0 || mass < top_p)) mass += logits[order[cutoff++]];
    std::uniform_real_distribution<float> u(0.0f, mass);
    const float r = u(rng_);
    float acc = 0.0f;
    for (size_t i = 0; i < cutoff; ++i) {
      acc += logits[order[i]];
      if (r < acc) return order[i];
    }
    return order[cutoff - 1];
  }

  // Takes `next` as generated; true when the request is finished: at an
  // end-of-generation token, at a stop string (cut off), or at max_new.
  bool Take(int32_t next, const Tokenizer* tok) {
    if (tok->IsEndOfGeneration(next)) {
      out_.set_finish_reason(v1::FINISH_REASON_EOS);
      return true;
    }
    ++generated_;
    const size_t old_len = text_.size();
    text_ += tok->TokenBytes(next);
    // Earliest stop-string occurrence that touches the new text.
    size_t stop_at = std::string::npos;
    const size_t from = old_len > max_stop_ ? old_len - max_stop_ : 0;
    for (const std::string& s : req_->stop()) {
      if (s.empty()) continue;
      const size_t at = text_.find(s, from);
      if (at != std::string::npos) stop_at = std::min(stop_at, at);
    }
    if (stop_at != std::string::npos) {
      text_.resize(stop_at);
      out_.set_finish_reason(v1::FINISH_REASON_STOP);
      return true;
    }
    return generated_ >= max_new_;
  }

  v1::GenerateOutput Finish() {
    out_.set_text(text_);
    out_.set_num_tokens(static_cast<int32_t>(generated_));
    return std::move(out_);
  }

 private:
  const v1::GenerateRequest* req_;
  std::mt19937_64 rng_;
  int64_t max_new_;
  size_t max_stop_ = 0;
  int64_t generated_ = 0;
  std::string text_;
  v1::GenerateOutput out_;
};

int64_t MaxNewTokens(const v1::GenerateRequest& req) {
  return req.max_new_tokens() > 0 ? req.max_new_tokens() : kDefaultMaxNewTokens;
}

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
    seq.score_from = static_cast<int64_t>(CommonPrefix(ctx_ids, seq.tokens));
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

absl::Status JobRunner::Prefill(std::span<const int32_t> feed) {
  size_t reuse = 0;
  if (options_.prefix_sharing) reuse = CommonPrefix(cache_.tokens(), feed);
  cache_.Truncate(static_cast<int64_t>(reuse));
  stats_.tokens_reused += static_cast<int64_t>(reuse);
  if (reuse < feed.size()) {
    const std::vector<int32_t> rest(feed.begin() + static_cast<std::ptrdiff_t>(reuse), feed.end());
    stats_.tokens_computed += static_cast<int64_t>(rest.size());
    ++stats_.extend_calls;
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
  PROCTOR_RETURN_IF_ERROR(Prefill(Fed(seq)));
  std::vector<int64_t> positions;
  std::vector<float> lp;
  std::vector<int32_t> am;
  for (int64_t p0 = seq.score_from - 1; p0 < n - 1; p0 += kLogitRows) {
    const int64_t rows = std::min(kLogitRows, n - 1 - p0);
    positions.resize(static_cast<size_t>(rows));
    std::iota(positions.begin(), positions.end(), p0);
    lp.resize(static_cast<size_t>(rows));
    am.resize(static_cast<size_t>(rows));
    PROCTOR_RETURN_IF_ERROR(tf_->LogProbs(cache_, positions.data(), seq.tokens.data() + p0 + 1,
                                          rows, lp.data(), am.data()));
    for (int64_t r = 0; r < rows; ++r) {
      *logprob += lp[static_cast<size_t>(r)];
      if (am[static_cast<size_t>(r)] != seq.tokens[static_cast<size_t>(p0 + 1 + r)])
        *greedy = false;
    }
    stats_.tokens_scored += rows;
  }
  return absl::OkStatus();
}

absl::Status JobRunner::ScoreGroup(std::span<const ScoredSequence* const> members, int64_t fork_at,
                                   double* logprob, bool* greedy) {
  const size_t m = members.size();
  const size_t p = static_cast<size_t>(fork_at);
  // Members fed the same tokens as the previous one read that one's rows. The
  // last distinct member (the first of the final run of such members) extends
  // the main cache itself, which then ends where the one-by-one walk would
  // leave it, ready for the next group; every other distinct member that goes
  // past the prefix extends a fork of the main cache at the prefix (appending
  // to a fork's parent is allowed), and members fed only the prefix read the
  // main cache. Forks die before the main cache is truncated again.
  std::vector<bool> repeat(m, false);
  for (size_t i = 1; i < m; ++i)
    repeat[i] = std::ranges::equal(Fed(*members[i]), Fed(*members[i - 1]));
  size_t last = m - 1;
  while (repeat[last]) --last;
  bool forking = false;
  int64_t fed_total = 0, computed = 0;
  for (size_t i = 0; i < m; ++i) {
    const size_t len = Fed(*members[i]).size();
    fed_total += static_cast<int64_t>(len);
    if (repeat[i] || len == p) continue;
    computed += static_cast<int64_t>(len - p);
    forking = forking || i != last;
  }
  // The main cache: rewound to what it shares with the prefix, then brought
  // to the prefix (forks branch from it) or, with no forks, straight to the
  // last member's tokens (one call, like the walk).
  const std::span<const int32_t> main_fed = Fed(*members[forking ? 0 : last]);
  const size_t reuse = CommonPrefix(cache_.tokens(), forking ? main_fed.first(p) : main_fed);
  computed += static_cast<int64_t>(p) - static_cast<int64_t>(reuse);
  stats_.sequences += static_cast<int64_t>(m);
  stats_.tokens_computed += computed;
  stats_.tokens_reused += fed_total - computed;
  cache_.Truncate(static_cast<int64_t>(reuse));
  const std::span<const int32_t> main_part =
      forking ? main_fed.subspan(reuse, p - reuse) : main_fed.subspan(reuse);
  if (!main_part.empty()) {
    ++stats_.extend_calls;
    const ExtendItem item{&cache_, main_part};
    PROCTOR_RETURN_IF_ERROR(tf_->ExtendBatch(std::span<const ExtendItem>(&item, 1)));
  }
  std::vector<KvCache> forks(m);
  std::vector<const KvCache*> owner(m, &cache_);
  std::vector<ExtendItem> items;
  for (size_t i = 0; forking && i < m; ++i) {
    const std::span<const int32_t> fed = Fed(*members[i]);
    if (repeat[i]) {
      owner[i] = owner[i - 1];
      continue;
    }
    if (fed.size() == p) continue;
    KvCache* target = &cache_;
    if (i != last) {
      PROCTOR_RETURN_IF_ERROR(tf_->Fork(cache_, fork_at, &forks[i]));
      target = &forks[i];
    }
    owner[i] = target;
    items.push_back(ExtendItem{target, fed.subspan(p)});
  }
  if (!items.empty()) {
    ++stats_.extend_calls;
    PROCTOR_RETURN_IF_ERROR(tf_->ExtendBatch(items));
  }
  // Every member's scored rows, in one LogProbs pass (chunked).
  std::vector<CacheRow> rows;
  std::vector<int32_t> targets;
  std::vector<size_t> member_of;
  for (size_t i = 0; i < m; ++i) {
    const ScoredSequence& s = *members[i];
    for (int64_t at = s.score_from - 1; at + 1 < static_cast<int64_t>(s.tokens.size()); ++at) {
      rows.push_back(CacheRow{owner[i], at});
      targets.push_back(s.tokens[static_cast<size_t>(at + 1)]);
      member_of.push_back(i);
    }
    logprob[i] = 0.0;
    greedy[i] = true;
  }
  std::vector<float> lp(rows.size());
  std::vector<int32_t> am(rows.size());
  for (size_t r0 = 0; r0 < rows.size(); r0 += static_cast<size_t>(kLogitRows)) {
    const size_t n = std::min(rows.size() - r0, static_cast<size_t>(kLogitRows));
    PROCTOR_RETURN_IF_ERROR(tf_->LogProbs(std::span<const CacheRow>(rows).subspan(r0, n),
                                          targets.data() + r0, lp.data() + r0, am.data() + r0));
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    logprob[member_of[r]] += lp[r];
    if (am[r] != targets[r]) greedy[member_of[r]] = false;
  }
  stats_.tokens_scored += static_cast<int64_t>(rows.size());
  return absl::OkStatus();
}

std::vector<int32_t> JobRunner::GeneratePrompt(const std::string& context, int64_t max_new) const {
  std::vector<int32_t> prompt = context.empty() ? std::vector<int32_t>{StartToken()}
                                                : model_->tokenizer()->EncodeWithBos(context);
  // Left-truncate the prompt so that it and max_new tokens fit (keep >= 1).
  const int64_t keep = std::max<int64_t>(1, MaxContext() - max_new);
  if (static_cast<int64_t>(prompt.size()) > keep) {
    prompt.erase(prompt.begin(), prompt.end() - keep);
  }
  return prompt;
}

absl::StatusOr<v1::GenerateOutput> JobRunner::Generate(const std::string& context,
                                                       const v1::GenerateRequest& req) {
  const Tokenizer* tok = model_->tokenizer();
  const int64_t ctx_len = MaxContext();
  const int64_t max_new = MaxNewTokens(req);
  const std::vector<int32_t> prompt = GeneratePrompt(context, max_new);
  ++stats_.sequences;
  PROCTOR_RETURN_IF_ERROR(Prefill(prompt));
  const int64_t vocab = model_->config().vocab_size;
  std::vector<float> logits(static_cast<size_t>(vocab));
  Decoding dec(req, max_new);
  for (;;) {
    const int64_t last = cache_.length() - 1;
    tf_->Logits(cache_, &last, 1, logits.data());
    ++stats_.tokens_scored;
    const int32_t next = dec.Pick(logits.data(), vocab);
    if (dec.Take(next, tok) || cache_.length() >= ctx_len) break;
    ++stats_.tokens_computed;
    ++stats_.extend_calls;
    PROCTOR_RETURN_IF_ERROR(tf_->Extend({next}, &cache_));
  }
  return dec.Finish();
}

absl::Status JobRunner::GenerateBatched(
    const std::vector<std::pair<std::string, const v1::Request*>>& requests, const OutputSink& sink,
    const std::atomic<bool>& cancelled) {
  const Tokenizer* tok = model_->tokenizer();
  const int64_t ctx_len = MaxContext();
  const int64_t vocab = model_->config().vocab_size;
  struct Waiting {
    const v1::Request* req;
    int64_t max_new;
    std::vector<int32_t> prompt;
  };
  std::vector<Waiting> waiting;
  waiting.reserve(requests.size());
  for (const auto& [context, req] : requests) {
    const int64_t max_new = MaxNewTokens(req->generate());
    waiting.push_back(Waiting{req, max_new, GeneratePrompt(context, max_new)});
  }
  // Prompts sharing a prefix (a few-shot block) become neighbours.
  if (options_.prefix_sharing) {
    std::stable_sort(waiting.begin(), waiting.end(),
                     [](const Waiting& a, const Waiting& b) { return a.prompt < b.prompt; });
  }
  // A running request. Its cache is a fork of the main cache at fork_at (or a
  // cache of its own when fork_at is 0); `pending` holds the tokens to run in
  // the next step (the rest of the prompt, then the last sampled token).
  struct Slot {
    Slot(const v1::Request* r, int64_t max_new) : req(r), dec(r->generate(), max_new) {}
    const v1::Request* req;
    Decoding dec;
    KvCache cache;
    int64_t fork_at = 0;
    std::vector<int32_t> pending;
  };
  // Invariant: the main cache is truncated only to lengths >= every live
  // slot's fork_at (a fork's parent must keep the positions it shares).
  std::vector<std::unique_ptr<Slot>> active;
  const size_t max_batch = static_cast<size_t>(std::max(1, options_.max_batch));
  std::vector<float> logits;
  std::vector<ExtendItem> items;
  std::vector<CacheRow> rows;
  size_t next = 0;
  while (next < waiting.size() || !active.empty()) {
    if (cancelled.load()) return absl::CancelledError("job cancelled");
    // Admit waiting requests into free slots.
    for (; active.size() < max_batch && next < waiting.size(); ++next) {
      const std::vector<int32_t>& prompt = waiting[next].prompt;
      auto slot = std::make_unique<Slot>(waiting[next].req, waiting[next].max_new);
      ++stats_.sequences;
      if (options_.prefix_sharing) {
        int64_t pinned = 0;
        for (const auto& s : active) pinned = std::max(pinned, s->fork_at);
        int64_t shared = static_cast<int64_t>(CommonPrefix(cache_.tokens(), prompt));
        stats_.tokens_reused += shared;
        // Hold the prefix this prompt shares with the next one in the main
        // cache, so that both fork from it.
        const int64_t ahead =
            next + 1 < waiting.size()
                ? static_cast<int64_t>(CommonPrefix(prompt, waiting[next + 1].prompt))
                : 0;
        if (ahead > shared && (shared >= pinned || shared == cache_.length())) {
          cache_.Truncate(shared);
          const std::vector<int32_t> grow(prompt.begin() + shared, prompt.begin() + ahead);
          stats_.tokens_computed += ahead - shared;
          ++stats_.extend_calls;
          PROCTOR_RETURN_IF_ERROR(tf_->Extend(grow, &cache_));
          shared = ahead;
        }
        if (shared > 0) PROCTOR_RETURN_IF_ERROR(tf_->Fork(cache_, shared, &slot->cache));
        slot->fork_at = shared;
      }
      slot->pending.assign(prompt.begin() + slot->fork_at, prompt.end());
      stats_.tokens_computed += static_cast<int64_t>(slot->pending.size());
      active.push_back(std::move(slot));
    }
    // One step: every slot's pending tokens, then the logits of its last row.
    items.clear();
    rows.clear();
    for (const auto& s : active) {
      if (!s->pending.empty()) items.push_back(ExtendItem{&s->cache, s->pending});
    }
    if (!items.empty()) {
      ++stats_.extend_calls;
      PROCTOR_RETURN_IF_ERROR(tf_->ExtendBatch(items));
    }
    for (const auto& s : active) rows.push_back(CacheRow{&s->cache, s->cache.length() - 1});
    logits.resize(rows.size() * static_cast<size_t>(vocab));
    PROCTOR_RETURN_IF_ERROR(tf_->Logits(rows, logits.data()));
    stats_.tokens_scored += static_cast<int64_t>(rows.size());
    for (size_t i = 0; i < active.size(); ++i) {
      Slot& s = *active[i];
      const int32_t tok_id = s.dec.Pick(logits.data() + i * static_cast<size_t>(vocab), vocab);
      if (s.dec.Take(tok_id, tok) || s.cache.length() >= ctx_len) {
        v1::Output out;
        out.set_request_id(s.req->request_id());
        *out.mutable_generate() = s.dec.Finish();
        sink(std::move(out));
        active[i].reset();
        continue;
      }
      s.pending.assign(1, tok_id);
      ++stats_.tokens_computed;
    }
    std::erase(active, nullptr);
  }
  return absl::OkStatus();
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
  auto record = [&](const Item& it, double lp, bool greedy) {
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
  };
  // Something to score, after at least one context token.
  auto groupable = [&](const ScoredSequence& s) {
    return s.score_from >= 1 && s.score_from < static_cast<int64_t>(s.tokens.size());
  };
  const bool grouped = options_.batching && options_.prefix_sharing;
  const size_t max_group = static_cast<size_t>(std::max(1, options_.max_group));
  std::vector<const ScoredSequence*> group;
  std::vector<double> group_lp;
  for (size_t k = 0; k < order.size();) {
    if (cancelled.load()) return absl::CancelledError("job cancelled");
    const Item& it = items[order[k]];
    if (!grouped || !groupable(it.seq)) {
      double lp;
      bool greedy;
      PROCTOR_RETURN_IF_ERROR(Score(it.seq, &lp, &greedy));
      record(it, lp, greedy);
      ++k;
      continue;
    }
    group.clear();
    for (size_t j = k; j < order.size() && group.size() < max_group; ++j) {
      if (!groupable(items[order[j]].seq)) break;
      group.push_back(&items[order[j]].seq);
    }
    const GroupSpan g = NextGroup(group, cache_.tokens(), options_.max_group);
    group_lp.resize(g.size);
    const std::unique_ptr<bool[]> group_greedy(new bool[g.size]);
    PROCTOR_RETURN_IF_ERROR(ScoreGroup(std::span<const ScoredSequence* const>(group).first(g.size),
                                       g.fork_at, group_lp.data(), group_greedy.get()));
    for (size_t i = 0; i < g.size; ++i) record(items[order[k + i]], group_lp[i], group_greedy[i]);
    k += g.size;
  }
  if (options_.batching) {
    std::vector<std::pair<std::string, const v1::Request*>> work;
    for (size_t idx : generates) work.emplace_back(pending[idx].context, pending[idx].req);
    return GenerateBatched(work, sink, cancelled);
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
