#include "eval/compare.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "eval/bleu.h"

namespace proctor::eval {
namespace {

// log C(n, k) via lgamma.
double LogChoose(int64_t n, int64_t k) {
  return std::lgamma(static_cast<double>(n) + 1) - std::lgamma(static_cast<double>(k) + 1) -
         std::lgamma(static_cast<double>(n - k) + 1);
}

absl::StatusOr<CorpusKind> KindOf(const v1::SampleResultSet& set) {
  if (set.aggregation() == "mean") return CorpusKind::kMean;
  if (set.aggregation() == "corpus_bleu") return CorpusKind::kCorpusBleu;
  if (set.aggregation() == "corpus_word_perplexity") return CorpusKind::kCorpusWordPerplexity;
  return absl::InvalidArgumentError(
      absl::StrCat("set ", set.dataset(), ": unknown aggregation \"", set.aggregation(), "\""));
}

absl::Status CheckSet(const v1::SampleResults& run, const v1::SampleResultSet& set,
                      CorpusKind kind) {
  const auto n = static_cast<size_t>(set.sample_indices_size());
  auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(
        absl::StrCat("run ", run.run_id(), " set ", set.dataset(), ": ", what));
  };
  if (set.stats_width() != StatsWidth(kind)) {
    return bad(absl::StrCat("stats_width ", set.stats_width(), ", expected ", StatsWidth(kind),
                            " for aggregation ", set.aggregation()));
  }
  if (static_cast<size_t>(set.values_size()) != n) {
    return bad(absl::StrCat(set.values_size(), " values for ", n, " samples"));
  }
  if (static_cast<size_t>(set.stats_size()) != n * static_cast<size_t>(set.stats_width())) {
    return bad(
        absl::StrCat(set.stats_size(), " stats for ", n, " samples of width ", set.stats_width()));
  }
  for (size_t i = 1; i < n; ++i) {
    if (set.sample_indices(static_cast<int>(i)) <= set.sample_indices(static_cast<int>(i - 1))) {
      return bad(absl::StrCat("sample_indices not strictly ascending at position ", i));
    }
  }
  for (double v : set.stats()) {
    if (!std::isfinite(v)) return bad("non-finite statistic");
  }
  return absl::OkStatus();
}

struct Node {
  double score_a = 0, score_b = 0, se_a = 0, se_b = 0;
  bool complete = false;
  bool paired = false;
  double paired_se = 0;
  int64_t n = 0;
  bool known = false;
};

void FillGroup(const v1::GroupResult& ga, const v1::GroupResult& gb,
               const std::map<std::string, Node>& nodes, Node& node, v1::GroupComparison& out) {
  node.known = true;
  node.score_a = ga.score();
  node.score_b = gb.score();
  node.se_a = ga.stderr();
  node.se_b = gb.stderr();
  node.complete = ga.complete() && gb.complete();
  // Paired propagation needs every member compared paired.
  bool paired = ga.members_size() > 0;
  double var = 0;
  int64_t total_n = 0;
  for (const std::string& m : ga.members()) {
    auto it = nodes.find(m);
    if (it == nodes.end() || !it->second.paired) {
      paired = false;
      break;
    }
    total_n += it->second.n;
  }
  if (paired) {
    const bool weighted = ga.aggregation() == "weighted";
    const double k = static_cast<double>(ga.members_size());
    for (const std::string& m : ga.members()) {
      const Node& c = nodes.at(m);
      double w = weighted
                     ? (total_n > 0 ? static_cast<double>(c.n) / static_cast<double>(total_n) : 0)
                     : 1.0 / k;
      var += w * w * c.paired_se * c.paired_se;
    }
  }
  node.paired = paired && node.complete;
  node.n = total_n;
  node.paired_se = std::sqrt(var);
  out.set_name(ga.name());
  out.set_score_a(node.score_a);
  out.set_score_b(node.score_b);
  out.set_delta(node.score_b - node.score_a);
  out.set_paired(node.paired);
  out.set_delta_stderr(node.paired ? node.paired_se
                                   : std::sqrt(node.se_a * node.se_a + node.se_b * node.se_b));
  out.set_complete(node.complete);
}

}  // namespace

double McNemarExactPValue(int64_t a_only, int64_t b_only) {
  const int64_t n = a_only + b_only;
  if (n <= 0) return 1.0;
  const int64_t k = std::min(a_only, b_only);
  // P(X <= k) = Σ_{i<=k} C(n,i) / 2^n, summed in log space around the max term.
  std::vector<double> logs;
  logs.reserve(static_cast<size_t>(k + 1));
  for (int64_t i = 0; i <= k; ++i) logs.push_back(LogChoose(n, i) - n * std::log(2.0));
  double mx = *std::max_element(logs.begin(), logs.end());
  double sum = 0;
  for (double l : logs) sum += std::exp(l - mx);
  double p = 2.0 * std::exp(mx + std::log(sum));
  return std::min(1.0, p);
}

int StatsWidth(CorpusKind kind) {
  switch (kind) {
    case CorpusKind::kMean:
      return 1;
    case CorpusKind::kCorpusBleu:
      return 10;
    case CorpusKind::kCorpusWordPerplexity:
      return 2;
  }
  return 1;
}

double CorpusMetric(CorpusKind kind, absl::Span<const double> stats,
                    absl::Span<const int64_t> counts) {
  const size_t w = static_cast<size_t>(StatsWidth(kind));
  std::vector<double> sum(w, 0.0);
  int64_t total = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0) continue;
    total += counts[i];
    for (size_t j = 0; j < w; ++j) sum[j] += static_cast<double>(counts[i]) * stats[i * w + j];
  }
  switch (kind) {
    case CorpusKind::kMean:
      return total > 0 ? sum[0] / static_cast<double>(total) : 0;
    case CorpusKind::kCorpusBleu: {
      BleuStats b;
      b.hyp_len = static_cast<int64_t>(std::llround(sum[0]));
      b.ref_len = static_cast<int64_t>(std::llround(sum[1]));
      for (size_t j = 0; j < 4; ++j) {
        b.correct[j] = static_cast<int64_t>(std::llround(sum[2 + j]));
        b.total[j] = static_cast<int64_t>(std::llround(sum[6 + j]));
      }
      return BleuFromStats(b, BleuSmoothing::kNone);
    }
    case CorpusKind::kCorpusWordPerplexity:
      return sum[1] > 0 ? std::exp(-sum[0] / sum[1]) : 0;
  }
  return 0;
}

uint64_t SplitMix64::Next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t SplitMix64::Below(uint64_t n) {
  // Accept x < limit, the largest multiple of n that fits in 2^64.
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % n + 1) % n;
  while (true) {
    uint64_t x = Next();
    if (x < limit || limit == UINT64_MAX) return x % n;
  }
}

absl::StatusOr<PairedBootstrapResult> PairedBootstrap(CorpusKind kind,
                                                      absl::Span<const double> stats_a,
                                                      absl::Span<const double> stats_b,
                                                      int resamples, uint64_t seed) {
  const size_t w = static_cast<size_t>(StatsWidth(kind));
  if (stats_a.size() != stats_b.size() || stats_a.empty() || stats_a.size() % w != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("paired bootstrap: stats sizes ", stats_a.size(), " and ", stats_b.size(),
                     " are not the same non-zero multiple of width ", w));
  }
  if (resamples < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("paired bootstrap: resamples must be >= 1, got ", resamples));
  }
  const size_t n = stats_a.size() / w;
  std::vector<int64_t> counts(n, 1);
  PairedBootstrapResult r;
  r.resamples = resamples;
  r.delta = CorpusMetric(kind, stats_b, counts) - CorpusMetric(kind, stats_a, counts);
  SplitMix64 rng(seed);
  std::vector<double> deltas;
  deltas.reserve(static_cast<size_t>(resamples));
  int64_t extreme = 0;
  for (int b = 0; b < resamples; ++b) {
    std::fill(counts.begin(), counts.end(), 0);
    for (size_t i = 0; i < n; ++i) ++counts[rng.Below(n)];
    double d = CorpusMetric(kind, stats_b, counts) - CorpusMetric(kind, stats_a, counts);
    deltas.push_back(d);
    if (std::fabs(d - r.delta) >= std::fabs(r.delta)) ++extreme;
  }
  double mean = 0;
  for (double d : deltas) mean += d;
  mean /= static_cast<double>(deltas.size());
  double ss = 0;
  for (double d : deltas) ss += (d - mean) * (d - mean);
  r.stderr_ = deltas.size() > 1 ? std::sqrt(ss / static_cast<double>(deltas.size() - 1)) : 0;
  r.p_value = static_cast<double>(1 + extreme) / static_cast<double>(resamples + 1);
  return r;
}

absl::StatusOr<v1::Comparison> CompareRuns(const v1::SampleResults& samples_a,
                                           const v1::Results& results_a,
                                           const v1::SampleResults& samples_b,
                                           const v1::Results& results_b,
                                           const CompareOptions& options) {
  if (!(options.alpha > 0 && options.alpha < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("alpha must be in (0, 1), got ", options.alpha));
  }
  v1::Comparison c;
  c.set_run_a(samples_a.run_id());
  c.set_run_b(samples_b.run_id());
  c.set_model_a(results_a.model());
  c.set_model_b(results_b.model());
  c.set_alpha(options.alpha);

  std::map<std::string, const v1::SampleResultSet*> b_sets;
  for (const v1::SampleResultSet& s : samples_b.sets()) b_sets[s.dataset()] = &s;
  std::map<std::string, std::string> dimension_of;
  for (const v1::SetResult& s : results_a.sets()) dimension_of[s.dataset()] = s.dimension();
  std::map<std::string, bool> set_complete_b;
  for (const v1::SetResult& s : results_b.sets()) set_complete_b[s.dataset()] = s.complete();
  std::map<std::string, bool> set_complete_a;
  for (const v1::SetResult& s : results_a.sets()) set_complete_a[s.dataset()] = s.complete();

  std::map<std::string, Node> nodes;
  for (const v1::SampleResultSet& a : samples_a.sets()) {
    auto bit = b_sets.find(a.dataset());
    if (bit == b_sets.end()) {
      c.add_only_in_a(a.dataset());
      continue;
    }
    const v1::SampleResultSet& b = *bit->second;
    b_sets.erase(bit);
    PROCTOR_ASSIGN_OR_RETURN(CorpusKind kind, KindOf(a));
    PROCTOR_ASSIGN_OR_RETURN(CorpusKind kind_b, KindOf(b));
    if (kind != kind_b) {
      return absl::InvalidArgumentError(
          absl::StrCat("set ", a.dataset(), ": aggregation ", a.aggregation(), " in run ",
                       c.run_a(), " but ", b.aggregation(), " in run ", c.run_b()));
    }
    PROCTOR_RETURN_IF_ERROR(CheckSet(samples_a, a, kind));
    PROCTOR_RETURN_IF_ERROR(CheckSet(samples_b, b, kind));
    const size_t w = static_cast<size_t>(StatsWidth(kind));

    v1::SetComparison* sc = c.add_sets();
    sc->set_dataset(a.dataset());
    sc->set_dimension(dimension_of[a.dataset()]);
    sc->set_primary_metric(a.primary_metric());
    sc->set_higher_is_better(a.higher_is_better());
    sc->set_prompt_hash_a(a.prompt_hash());
    sc->set_prompt_hash_b(b.prompt_hash());
    sc->set_prompt_differs(a.prompt_hash() != b.prompt_hash());
    if (sc->prompt_differs()) c.set_prompt_mismatches(c.prompt_mismatches() + 1);

    // Merge the two ascending index lists.
    std::vector<double> pa, pb;
    std::vector<double> va, vb;
    int ia = 0, ib = 0;
    int64_t unpaired = 0;
    while (ia < a.sample_indices_size() || ib < b.sample_indices_size()) {
      if (ib == b.sample_indices_size() ||
          (ia < a.sample_indices_size() && a.sample_indices(ia) < b.sample_indices(ib))) {
        ++unpaired, ++ia;
      } else if (ia == a.sample_indices_size() || b.sample_indices(ib) < a.sample_indices(ia)) {
        ++unpaired, ++ib;
      } else {
        for (size_t j = 0; j < w; ++j) {
          pa.push_back(a.stats(static_cast<int>(static_cast<size_t>(ia) * w + j)));
          pb.push_back(b.stats(static_cast<int>(static_cast<size_t>(ib) * w + j)));
        }
        va.push_back(a.values(ia));
        vb.push_back(b.values(ib));
        ++ia, ++ib;
      }
    }
    const int64_t n = static_cast<int64_t>(va.size());
    sc->set_num_paired(n);
    sc->set_num_unpaired(unpaired);
    Node node;
    node.known = true;
    node.n = n;
    node.complete = set_complete_a[a.dataset()] && set_complete_b[a.dataset()];
    if (n == 0) {
      sc->set_test("none");
      sc->set_p_value(1);
      sc->set_outcome("none");  // nothing to compare: not counted
      nodes[a.dataset()] = node;
      continue;
    }
    std::vector<int64_t> ones(static_cast<size_t>(n), 1);
    sc->set_score_a(CorpusMetric(kind, pa, ones));
    sc->set_score_b(CorpusMetric(kind, pb, ones));
    sc->set_delta(sc->score_b() - sc->score_a());
    bool binary = kind == CorpusKind::kMean;
    for (size_t i = 0; binary && i < va.size(); ++i) {
      binary = (va[i] == 0 || va[i] == 100) && (vb[i] == 0 || vb[i] == 100);
    }
    if (binary) {
      int64_t a_only = 0, b_only = 0;
      double ss = 0;
      const double mean_d = sc->delta();
      for (size_t i = 0; i < va.size(); ++i) {
        if (va[i] > vb[i]) ++a_only;
        if (vb[i] > va[i]) ++b_only;
        double d = vb[i] - va[i];
        ss += (d - mean_d) * (d - mean_d);
      }
      sc->set_test("mcnemar_exact");
      sc->set_a_only(a_only);
      sc->set_b_only(b_only);
      sc->set_p_value(McNemarExactPValue(a_only, b_only));
      // Standard error of the mean paired difference.
      sc->set_delta_stderr(n > 1 ? std::sqrt(ss / static_cast<double>(n - 1)) /
                                       std::sqrt(static_cast<double>(n))
                                 : 0);
    } else {
      PROCTOR_ASSIGN_OR_RETURN(
          PairedBootstrapResult boot,
          PairedBootstrap(kind, pa, pb, options.bootstrap_resamples, options.bootstrap_seed));
      sc->set_test("paired_bootstrap");
      sc->set_p_value(boot.p_value);
      sc->set_delta_stderr(boot.stderr_);
    }
    const bool b_better = a.higher_is_better() ? sc->delta() > 0 : sc->delta() < 0;
    const bool a_better = a.higher_is_better() ? sc->delta() < 0 : sc->delta() > 0;
    if (sc->p_value() < options.alpha && b_better) {
      sc->set_outcome("win");
      c.set_wins(c.wins() + 1);
    } else if (sc->p_value() < options.alpha && a_better) {
      sc->set_outcome("loss");
      c.set_losses(c.losses() + 1);
    } else {
      sc->set_outcome("tie");
      c.set_ties(c.ties() + 1);
    }
    node.paired = unpaired == 0;
    node.paired_se = sc->delta_stderr();
    nodes[a.dataset()] = node;
  }
  for (const auto& [name, set] : b_sets) {
    (void)set;
    c.add_only_in_b(name);
  }

  // Groups, then dimensions (whose members may be groups), then Overall.
  auto roll = [&](const google::protobuf::RepeatedPtrField<v1::GroupResult>& ga,
                  const google::protobuf::RepeatedPtrField<v1::GroupResult>& gb,
                  google::protobuf::RepeatedPtrField<v1::GroupComparison>* out) {
    for (const v1::GroupResult& g : ga) {
      auto it = std::find_if(gb.begin(), gb.end(),
                             [&](const v1::GroupResult& x) { return x.name() == g.name(); });
      if (it == gb.end()) continue;
      Node node;
      FillGroup(g, *it, nodes, node, *out->Add());
      nodes[g.name()] = node;
    }
  };
  roll(results_a.groups(), results_b.groups(), c.mutable_groups());
  roll(results_a.dimensions(), results_b.dimensions(), c.mutable_dimensions());
  if (results_a.has_overall() && results_b.has_overall()) {
    Node node;
    FillGroup(results_a.overall(), results_b.overall(), nodes, node, *c.mutable_overall());
  }
  return c;
}

}  // namespace proctor::eval
