// Suite wall time on this machine, projected from a stratified random sample.
//
// A whole suite (opencompass-2023: ~46k samples of the sets present here,
// several of them generative) takes hours on a 2-core CPU worker, so this
// benchmark measures a random sample of every set and projects:
//
//   PROCTOR_SHARED_DATA=../shared/data build/bin/proctor_suite_time_bench
//     --model=data-cache/models/SmolLM2-135M-Instruct.Q4_1.gguf --suite=opencompass-2023
//     --samples=24 --sets_per_group=8 --threads=2 --validate=arc_c
//
// Method. Every set of the suite whose files are present is planned exactly as
// `proctor eval` plans it (catalog + the coordinator's planner, default
// options). For each set, `--draws` disjoint random draws of `--samples`
// samples are each run as ONE job (their requests plus the few-shot prefixes
// they use, as the planner would shard them) through the same CPU engine a
// worker uses, in this process; the set's projection is samples_in_set x
// seconds / drawn, averaged over the draws (min..max shown). Groups (MMLU,
// GAOKAO, FLORES) with more than --sets_per_group members are themselves
// sampled: the drawn member sets are measured and the group is projected with
// the ratio estimator (sum of the members' sample counts x measured seconds
// per drawn sample of the measured members). A drawn job computes each
// few-shot prefix once for `--samples` samples where a planned job amortises
// it over up to a 32k-token job, so projections lean high for few-shot sets.
// Excluded: coordinator/worker overhead (measured apart at <= 1.05x:
// proctor_e2e_overhead_bench) and sandbox time of HumanEval/MBPP judge jobs.
//
// --validate=SET,... also runs those sets in full (all planned jobs) and
// prints measured vs projected: the check that the projection is sound.
// A benchmark, not a test: nothing is asserted on time.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "bench/planned_jobs.h"
#include "common/status_macros.h"
#include "eval/catalog.h"
#include "worker/engine/cpu_engine.h"

ABSL_FLAG(std::string, model, "", "Model file (required)");
ABSL_FLAG(std::string, suite, "opencompass-2023", "Suite to project");
ABSL_FLAG(std::string, data_dir, "",
          "Dataset root (default: $PROCTOR_DATA_DIR, else $PROCTOR_SHARED_DATA/datasets)");
ABSL_FLAG(int64_t, samples, 24, "Samples per draw");
ABSL_FLAG(int, draws, 2, "Disjoint random draws per set");
ABSL_FLAG(int, sets_per_group, 8, "Member sets measured per group (0 = all)");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the random draws");
ABSL_FLAG(int, threads, 2, "Engine compute threads");
ABSL_FLAG(std::string, validate, "", "Comma-separated sets also run in full, for comparison");

namespace {

using Clock = std::chrono::steady_clock;
namespace v1 = proctor::v1;
namespace coord = proctor::coordinator;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string DataDir() {
  if (!absl::GetFlag(FLAGS_data_dir).empty()) return absl::GetFlag(FLAGS_data_dir);
  if (const char* d = std::getenv("PROCTOR_DATA_DIR"); d != nullptr && *d != '\0') return d;
  if (const char* s = std::getenv("PROCTOR_SHARED_DATA"); s != nullptr && *s != '\0') {
    return absl::StrCat(s, "/datasets");
  }
  return "../shared/data/datasets";
}

struct Bench {
  const proctor::eval::Catalog* catalog;
  proctor::engine::LoadedModel* model;
  v1::ModelRef model_ref;
};

// The set planned as `proctor eval --dataset NAME` plans it.
absl::StatusOr<coord::PlannedRun> PlanSet(const Bench& b, const std::string& set) {
  v1::RunSpec spec;
  *spec.mutable_model() = b.model_ref;
  spec.add_datasets()->set_name(set);
  return proctor::bench::PlanLikeCoordinator(*b.catalog, spec);
}

absl::StatusOr<double> TimeJob(const Bench& b, const v1::Job& job) {
  const std::atomic<bool> cancelled{false};
  int64_t outputs = 0;
  const Clock::time_point start = Clock::now();
  PROCTOR_RETURN_IF_ERROR(b.model->RunJob(
      job, {}, [&](v1::Output) { ++outputs; }, cancelled));
  const double s = Since(start);
  if (outputs != job.requests_size()) {
    return absl::InternalError(
        absl::StrCat("job emitted ", outputs, " outputs for ", job.requests_size(), " requests"));
  }
  return s;
}

// One job holding the requests of `samples` (indices into planned.samples),
// with the prefixes they reference renumbered.
v1::Job JobOfSamples(const Bench& b, const coord::PlannedRun& planned,
                     const std::vector<size_t>& samples) {
  std::map<int64_t, std::pair<size_t, size_t>> where;  // request id -> (payload, index)
  for (size_t p = 0; p < planned.payloads.size(); ++p) {
    for (size_t i = 0; i < planned.payloads[p].requests.size(); ++i) {
      where[planned.payloads[p].requests[i].request_id()] = {p, i};
    }
  }
  v1::Job job = proctor::bench::LeasedJob(coord::JobPayload{}, 1, b.model_ref);
  std::map<std::pair<size_t, int32_t>, int32_t> prefix_index;  // (payload, old) -> new
  for (size_t s : samples) {
    for (int64_t id : planned.samples[s].request_ids) {
      const auto [p, i] = where.at(id);
      v1::Request r = planned.payloads[p].requests[i];
      if (r.prefix_index() > 0) {
        auto [it, inserted] =
            prefix_index.try_emplace({p, r.prefix_index()}, job.prefixes_size() + 1);
        if (inserted) {
          job.add_prefixes(planned.payloads[p].prefixes[static_cast<size_t>(r.prefix_index() - 1)]);
        }
        r.set_prefix_index(it->second);
      }
      *job.add_requests() = std::move(r);
    }
  }
  return job;
}

struct SetResult {
  std::string name;
  int64_t samples = 0;
  int64_t drawn = 0;
  double seconds = 0;  // measured, all draws
  double projected = 0, lo = 0, hi = 0;
};

absl::StatusOr<SetResult> MeasureSet(const Bench& b, const std::string& set, std::mt19937_64* rng) {
  PROCTOR_ASSIGN_OR_RETURN(coord::PlannedRun planned, PlanSet(b, set));
  SetResult r;
  r.name = set;
  r.samples = static_cast<int64_t>(planned.samples.size());
  std::vector<size_t> order(planned.samples.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), *rng);
  const size_t m = static_cast<size_t>(std::max<int64_t>(1, absl::GetFlag(FLAGS_samples)));
  std::vector<double> estimates;
  for (int d = 0; d < absl::GetFlag(FLAGS_draws); ++d) {
    const size_t begin = static_cast<size_t>(d) * m;
    if (begin >= order.size()) break;
    std::vector<size_t> draw(
        order.begin() + static_cast<std::ptrdiff_t>(begin),
        order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), begin + m)));
    std::sort(draw.begin(), draw.end());
    PROCTOR_ASSIGN_OR_RETURN(const double s, TimeJob(b, JobOfSamples(b, planned, draw)));
    r.seconds += s;
    r.drawn += static_cast<int64_t>(draw.size());
    estimates.push_back(static_cast<double>(r.samples) * s / static_cast<double>(draw.size()));
  }
  double sum = 0;
  for (double e : estimates) sum += e;
  r.projected = sum / static_cast<double>(estimates.size());
  r.lo = *std::min_element(estimates.begin(), estimates.end());
  r.hi = *std::max_element(estimates.begin(), estimates.end());
  return r;
}

absl::StatusOr<double> RunSetInFull(const Bench& b, const std::string& set) {
  PROCTOR_ASSIGN_OR_RETURN(coord::PlannedRun planned, PlanSet(b, set));
  double total = 0;
  for (size_t i = 0; i < planned.payloads.size(); ++i) {
    PROCTOR_ASSIGN_OR_RETURN(
        const double s,
        TimeJob(b, proctor::bench::LeasedJob(planned.payloads[i], static_cast<int64_t>(i) + 1,
                                             b.model_ref)));
    total += s;
  }
  return total;
}

std::string Hms(double s) {
  const int64_t t = static_cast<int64_t>(s + 0.5);
  return absl::StrCat(t / 3600, "h ", (t / 60) % 60, "m ", t % 60, "s");
}

absl::Status Main() {
  if (absl::GetFlag(FLAGS_model).empty()) return absl::InvalidArgumentError("--model is required");
  PROCTOR_ASSIGN_OR_RETURN(std::unique_ptr<proctor::eval::Catalog> catalog,
                           proctor::eval::Catalog::Create(DataDir()));
  // Suite members -> (group or set name, member sets present, missing sets).
  const std::vector<v1::SuiteInfo> suites = catalog->ListSuites();
  auto suite = std::find_if(suites.begin(), suites.end(), [](const v1::SuiteInfo& s) {
    return s.name() == absl::GetFlag(FLAGS_suite);
  });
  if (suite == suites.end()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown suite ", absl::GetFlag(FLAGS_suite)));
  }
  const std::vector<v1::DatasetInfo> sets = catalog->ListDatasets();
  struct Stratum {
    std::string name;
    std::vector<std::string> present, missing;
  };
  // A suite lists its member sets; sets of one group (mmlu_*, gaokao_*,
  // flores_*) form one stratum, named after the group.
  std::vector<Stratum> strata;
  for (const std::string& member : suite->datasets()) {
    auto info = std::find_if(sets.begin(), sets.end(),
                             [&](const v1::DatasetInfo& d) { return d.name() == member; });
    std::string stratum = member;
    bool available = false;
    if (info != sets.end()) {
      if (!info->groups().empty()) stratum = info->groups(0);
      available = info->available();
    } else {
      // A group name: every set that belongs to it.
      for (const v1::DatasetInfo& d : sets) {
        if (std::find(d.groups().begin(), d.groups().end(), member) == d.groups().end()) continue;
        auto it = std::find_if(strata.begin(), strata.end(),
                               [&](const Stratum& st) { return st.name == member; });
        if (it == strata.end()) it = strata.insert(strata.end(), Stratum{member, {}, {}});
        (d.available() ? it->present : it->missing).push_back(d.name());
      }
      continue;
    }
    auto it = std::find_if(strata.begin(), strata.end(),
                           [&](const Stratum& st) { return st.name == stratum; });
    if (it == strata.end()) it = strata.insert(strata.end(), Stratum{stratum, {}, {}});
    (available ? it->present : it->missing).push_back(member);
  }

  const std::string model_path = std::filesystem::absolute(absl::GetFlag(FLAGS_model)).string();
  v1::ModelRef ref;
  ref.set_name(std::filesystem::path(model_path).stem().string());
  ref.set_path(model_path);
  ref.set_backend("cpu");
  proctor::engine::CpuEngineOptions options;
  options.threads = absl::GetFlag(FLAGS_threads);
  std::unique_ptr<proctor::engine::Engine> engine = proctor::engine::CreateCpuEngine(options);
  const Clock::time_point load_start = Clock::now();
  PROCTOR_ASSIGN_OR_RETURN(std::unique_ptr<proctor::engine::LoadedModel> model, engine->Load(ref));
  const double load_s = Since(load_start);
  const Bench b{catalog.get(), model.get(), ref};

  std::mt19937_64 rng(absl::GetFlag(FLAGS_seed));
  std::printf("%-34s %9s %7s %9s %12s %25s\n", "set or group", "samples", "drawn", "measured",
              "projected", "draws min..max");
  double total = 0, measured = 0;
  int64_t total_samples = 0, drawn = 0, missing_sets = 0;
  std::vector<std::string> missing_names;
  std::map<std::string, double> projected_by_set;
  for (const Stratum& st : strata) {
    missing_sets += static_cast<int64_t>(st.missing.size());
    if (!st.missing.empty()) missing_names.push_back(st.name);
    if (st.present.empty()) continue;
    std::vector<std::string> chosen = st.present;
    const int k = absl::GetFlag(FLAGS_sets_per_group);
    if (k > 0 && static_cast<int>(chosen.size()) > k) {
      std::shuffle(chosen.begin(), chosen.end(), rng);
      chosen.resize(static_cast<size_t>(k));
      std::sort(chosen.begin(), chosen.end());
    }
    int64_t stratum_samples = 0, chosen_samples = 0;
    double chosen_projected = 0, chosen_lo = 0, chosen_hi = 0, stratum_measured = 0;
    int64_t stratum_drawn = 0;
    for (const std::string& set : st.present) {
      const bool measure = std::find(chosen.begin(), chosen.end(), set) != chosen.end();
      if (!measure) {
        PROCTOR_ASSIGN_OR_RETURN(coord::PlannedRun planned, PlanSet(b, set));
        stratum_samples += static_cast<int64_t>(planned.samples.size());
        continue;
      }
      PROCTOR_ASSIGN_OR_RETURN(SetResult r, MeasureSet(b, set, &rng));
      projected_by_set[set] = r.projected;
      stratum_samples += r.samples;
      chosen_samples += r.samples;
      chosen_projected += r.projected;
      chosen_lo += r.lo;
      chosen_hi += r.hi;
      stratum_measured += r.seconds;
      stratum_drawn += r.drawn;
      if (st.present.size() > 1) {
        std::printf("  %-32s %9lld %7lld %8.1fs %12s %12s..%-12s\n", set.c_str(),
                    static_cast<long long>(r.samples), static_cast<long long>(r.drawn), r.seconds,
                    Hms(r.projected).c_str(), Hms(r.lo).c_str(), Hms(r.hi).c_str());
      }
      std::fflush(stdout);
    }
    // Ratio estimator over the measured members.
    const double scale = chosen_samples > 0 ? static_cast<double>(stratum_samples) /
                                                  static_cast<double>(chosen_samples)
                                            : 0.0;
    const double proj = chosen_projected * scale;
    std::printf(
        "%-34s %9lld %7lld %8.1fs %12s %12s..%-12s%s\n",
        (st.present.size() > 1
             ? absl::StrCat(st.name, " (", chosen.size(), "/", st.present.size(), " sets measured)")
             : st.name)
            .c_str(),
        static_cast<long long>(stratum_samples), static_cast<long long>(stratum_drawn),
        stratum_measured, Hms(proj).c_str(), Hms(chosen_lo * scale).c_str(),
        Hms(chosen_hi * scale).c_str(),
        st.missing.empty() ? "" : absl::StrCat("  (", st.missing.size(), " sets missing)").c_str());
    std::fflush(stdout);
    total += proj;
    measured += stratum_measured;
    total_samples += stratum_samples;
    drawn += stratum_drawn;
  }
  std::printf("\nmodel load %.2fs; %lld samples in the sets present, %lld drawn and run in %s\n",
              load_s, static_cast<long long>(total_samples), static_cast<long long>(drawn),
              Hms(measured).c_str());
  std::printf("projected wall time of suite %s on the sets present: %s (%.0f s)\n",
              absl::GetFlag(FLAGS_suite).c_str(), Hms(total).c_str(), total);
  if (missing_sets > 0) {
    std::printf("not projected: %lld sets whose files are missing (%s)\n",
                static_cast<long long>(missing_sets), absl::StrJoin(missing_names, ", ").c_str());
  }
  std::string validation;
  for (absl::string_view v :
       absl::StrSplit(absl::GetFlag(FLAGS_validate), ',', absl::SkipEmpty())) {
    const std::string set(v);
    auto it = projected_by_set.find(set);
    if (it == projected_by_set.end()) {
      std::printf("validate %s: not measured in this run (not in the suite or not drawn)\n",
                  set.c_str());
      continue;
    }
    PROCTOR_ASSIGN_OR_RETURN(const double full, RunSetInFull(b, set));
    std::printf("validate %s: projected %.1f s, full run %.1f s (projection / full = %.3f)\n",
                set.c_str(), it->second, full, it->second / full);
    absl::StrAppend(&validation, validation.empty() ? "" : ",", "\"", set, "\":[", it->second, ",",
                    full, "]");
  }
  std::printf(
      "{\"bench\":\"suite_time\",\"suite\":\"%s\",\"samples\":%lld,\"drawn\":%lld,"
      "\"measured_s\":%.1f,\"projected_s\":%.0f,\"missing_sets\":%lld,\"validate\":{%s}}\n",
      absl::GetFlag(FLAGS_suite).c_str(), static_cast<long long>(total_samples),
      static_cast<long long>(drawn), measured, total, static_cast<long long>(missing_sets),
      validation.c_str());
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const absl::Status s = Main();
  if (!s.ok()) {
    std::fprintf(stderr, "proctor_suite_time_bench: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
