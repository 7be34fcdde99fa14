// Measures planning and scoring speed of the eval library (reported in the
// eval design note; never asserted on time). Usage:
//   proctor_eval_bench DATA_DIR
// Plans every set whose files are present in DATA_DIR, then scores a
// synthetic output for every planned sample, and prints the timings.
#include <chrono>
#include <cstdio>
#include <map>
#include <string>

#include "eval/catalog.h"
#include "eval/eval_internal.pb.h"

namespace {

double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

int main(int argc, char** argv) {
  using proctor::eval::Catalog;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
    return 2;
  }
  auto catalog = Catalog::Create(argv[1]);
  if (!catalog.ok()) {
    std::fprintf(stderr, "%s\n", catalog.status().ToString().c_str());
    return 1;
  }
  proctor::v1::RunSpec spec;
  for (const auto& info : (*catalog)->ListDatasets()) {
    if (info.available()) spec.add_datasets()->set_name(info.name());
  }
  auto t0 = std::chrono::steady_clock::now();
  auto plan = (*catalog)->Plan(spec);
  auto t1 = std::chrono::steady_clock::now();
  if (!plan.ok()) {
    std::fprintf(stderr, "%s\n", plan.status().ToString().c_str());
    return 1;
  }
  // Synthetic outputs: option 0 wins; generations echo a fixed answer.
  std::vector<std::vector<proctor::v1::Output>> outputs;
  outputs.reserve(plan->samples.size());
  for (const auto& s : plan->samples) {
    std::vector<proctor::v1::Output> outs;
    for (const auto& r : s.requests) {
      proctor::v1::Output o;
      if (r.has_loglikelihood()) {
        for (int i = 0; i < r.loglikelihood().continuations_size(); ++i) {
          o.mutable_loglikelihood()->add_continuations()->set_logprob(-1.0 - i);
        }
      } else {
        o.mutable_generate()->set_text("Let me think. The answer is 42.\n");
      }
      outs.push_back(std::move(o));
    }
    outputs.push_back(std::move(outs));
  }
  auto t2 = std::chrono::steady_clock::now();
  size_t scored = 0;
  std::map<std::string, double> per_family;  // time by name up to the first '_'
  for (size_t i = 0; i < plan->samples.size(); ++i) {
    const auto& s = plan->samples[i];
    auto a = std::chrono::steady_clock::now();
    auto score = (*catalog)->ScoreSample(s.dataset, s.target, outputs[i]);
    per_family[s.dataset.substr(0, s.dataset.find('_'))] +=
        Seconds(a, std::chrono::steady_clock::now());
    if (!score.ok()) {
      std::fprintf(stderr, "%s\n", score.status().ToString().c_str());
      return 1;
    }
    scored += 1;
  }
  auto t3 = std::chrono::steady_clock::now();
  std::printf("sets planned: %d\nsamples planned: %zu\nplan time: %.3f s\n", spec.datasets_size(),
              plan->samples.size(), Seconds(t0, t1));
  std::printf("scored: %zu in %.3f s (%.0f outputs/s)\n", scored, Seconds(t2, t3),
              static_cast<double>(scored) / Seconds(t2, t3));
  for (const auto& [family, secs] : per_family)
    std::printf("  %-14s %.3f s\n", family.c_str(), secs);
  return 0;
}
