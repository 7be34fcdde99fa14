#include "eval/aggregate.h"

#include <cmath>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "eval/bleu.h"
#include "eval/eval_internal.pb.h"
#include "eval/registry.h"
#include "eval/stats.h"

namespace proctor::eval {
namespace {

struct UnitScore {
  bool complete = false;
  double score = 0;
  double stderr_ = 0;
  int64_t n = 0;
};

// Naive mean of member scores; stderr assumes independent members.
v1::GroupResult Combine(const std::string& name, const std::vector<std::string>& members,
                        const std::map<std::string, UnitScore>& units, bool weighted) {
  v1::GroupResult g;
  g.set_name(name);
  g.set_aggregation(weighted ? "weighted" : "mean");
  g.set_complete(true);
  std::vector<MeanStderr> present;
  for (const std::string& m : members) {
    g.add_members(m);
    auto it = units.find(m);
    if (it == units.end() || !it->second.complete) {
      g.set_complete(false);
      g.add_missing(m);
      if (it == units.end()) continue;
      if (!it->second.complete) continue;
    }
    MeanStderr ms;
    ms.mean = it->second.score;
    ms.stderr_ = it->second.stderr_;
    ms.n = it->second.n;
    ms.has_stderr = true;
    present.push_back(ms);
  }
  if (present.empty()) return g;
  if (weighted) {
    MeanStderr w = WeightedMean(present);
    g.set_score(w.mean);
    g.set_stderr(w.stderr_);
  } else {
    double sum = 0, var = 0;
    for (const MeanStderr& m : present) {
      sum += m.mean;
      var += m.stderr_ * m.stderr_;
    }
    double k = static_cast<double>(present.size());
    g.set_score(sum / k);
    g.set_stderr(std::sqrt(var) / k);
  }
  g.set_has_stderr(true);
  return g;
}

}  // namespace

absl::StatusOr<v1::SetResult> AggregateSet(const PlannedSetScores& set) {
  const SetDef& def = *set.def;
  v1::SetResult r;
  r.set_dataset(def.name);
  r.set_dimension(def.dimension);
  r.set_prompt_hash(PromptHash(def));
  r.set_num_samples_total(set.num_samples_planned);
  r.set_primary_metric(PrimaryMetric(def));
  std::vector<std::string> order;
  std::map<std::string, std::vector<double>> values;
  std::vector<BleuStats> bleu;
  double rolling_ll = 0;
  int64_t rolling_words = 0, rolling_bytes = 0;
  int64_t scored = 0;
  if (set.sample_scores != nullptr) {
    for (size_t i = 0; i < set.sample_scores->size(); ++i) {
      internal::SampleScore s;
      if (!s.ParseFromString((*set.sample_scores)[i])) {
        return absl::InvalidArgumentError(
            absl::StrCat(def.name, ": sample score ", i, " does not parse"));
      }
      if (s.needs_judge() && !s.judged()) continue;
      ++scored;
      for (const internal::MetricValue& m : s.metrics()) {
        if (values.find(m.name()) == values.end()) order.push_back(m.name());
        values[m.name()].push_back(m.value());
      }
      if (def.metric == "bleu") {
        BleuStats b;
        b.hyp_len = s.bleu_hyp_len();
        b.ref_len = s.bleu_ref_len();
        for (int n = 0; n < 4 && n < s.bleu_correct_size() && n < s.bleu_total_size(); ++n) {
          b.correct[static_cast<size_t>(n)] = s.bleu_correct(n);
          b.total[static_cast<size_t>(n)] = s.bleu_total(n);
        }
        bleu.push_back(b);
      }
      rolling_ll += s.rolling_loglikelihood();
      rolling_words += s.rolling_words();
      rolling_bytes += s.rolling_bytes();
    }
  }
  r.set_num_samples(scored);
  r.set_complete(set.num_samples_planned > 0 && scored >= set.num_samples_planned);
  // The primary metric first, then the others in first-seen order.
  auto emit = [&r](const std::string& name, double value, double se, bool has_se) {
    v1::MetricValue* m = r.add_metrics();
    m->set_name(name);
    m->set_value(value);
    m->set_stderr(se);
    m->set_has_stderr(has_se);
  };
  if (def.metric == "bleu") {
    MeanStderr b =
        CorpusBleuBootstrap(bleu, BleuSmoothing::kNone, kBootstrapResamples, kBootstrapSeed);
    emit("bleu", b.mean, b.stderr_, b.has_stderr);
  } else if (def.metric == "word_perplexity") {
    if (rolling_words > 0) {
      emit("word_perplexity", std::exp(-rolling_ll / static_cast<double>(rolling_words)), 0, false);
    }
    if (rolling_bytes > 0) {
      emit("bits_per_byte", -rolling_ll / static_cast<double>(rolling_bytes) / std::log(2.0), 0,
           false);
    }
  }
  std::string primary = PrimaryMetric(def);
  auto it = values.find(primary);
  if (it != values.end()) {
    MeanStderr ms = ComputeMeanStderr(it->second);
    emit(primary, ms.mean, ms.stderr_, ms.has_stderr);
  }
  for (const std::string& name : order) {
    if (name == primary) continue;
    MeanStderr ms = ComputeMeanStderr(values[name]);
    emit(name, ms.mean, ms.stderr_, ms.has_stderr);
  }
  return r;
}

absl::StatusOr<v1::Results> AggregateAll(const std::vector<PlannedSetScores>& sets) {
  v1::Results results;
  std::map<std::string, UnitScore> units;  // set and group names
  std::vector<std::string> groups_seen;
  for (const PlannedSetScores& s : sets) {
    absl::StatusOr<v1::SetResult> r = AggregateSet(s);
    if (!r.ok()) return r.status();
    UnitScore u;
    u.complete = r->complete();
    u.n = r->num_samples();
    for (const v1::MetricValue& m : r->metrics()) {
      if (m.name() == r->primary_metric()) {
        u.score = m.value();
        u.stderr_ = m.stderr();
      }
    }
    units[s.def->name] = u;
    if (!s.def->group.empty() &&
        std::find(groups_seen.begin(), groups_seen.end(), s.def->group) == groups_seen.end()) {
      groups_seen.push_back(s.def->group);
    }
    *results.add_sets() = *std::move(r);
  }
  for (const std::string& group : groups_seen) {
    std::vector<std::string> members;
    for (const SetDef* d : GroupMembers(group)) members.push_back(d->name);
    v1::GroupResult g = Combine(group, members, units, /*weighted=*/false);
    UnitScore u;
    u.complete = g.complete();
    u.score = g.score();
    u.stderr_ = g.stderr();
    units[group] = u;
    *results.add_groups() = g;
    if (group == "mmlu") {
      *results.add_groups() = Combine("mmlu_weighted", members, units, /*weighted=*/true);
    }
  }
  // Dimension members: every registered set of the dimension, a group
  // counting once.
  std::vector<std::string> dims = Dimensions();
  dims.push_back("Safety");
  std::map<std::string, UnitScore> dim_units;
  for (const std::string& dim : dims) {
    std::vector<std::string> members;
    for (const SetDef& d : AllSets()) {
      if (d.dimension != dim || !d.variant_of.empty()) continue;
      std::string unit = d.group.empty() ? d.name : d.group;
      if (std::find(members.begin(), members.end(), unit) == members.end()) {
        members.push_back(unit);
      }
    }
    v1::GroupResult g = Combine(dim, members, units, /*weighted=*/false);
    UnitScore u;
    u.complete = g.complete();
    u.score = g.score();
    u.stderr_ = g.stderr();
    dim_units[dim] = u;
    *results.add_dimensions() = g;
  }
  *results.mutable_overall() = Combine("Overall", Dimensions(), dim_units, /*weighted=*/false);
  return results;
}

}  // namespace proctor::eval
