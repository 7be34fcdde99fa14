#include "worker/metrics.h"

#include <exception>
#include <map>
#include <sstream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace proctor::worker {
namespace {

constexpr const char* kRequestKinds[] = {"loglikelihood", "loglikelihood_rolling", "generate",
                                         "execute_code", "other"};
constexpr const char* kJobResults[] = {"completed", "failed",   "cancelled", "lost",
                                       "dropped",   "released", "abandoned", "other"};
constexpr const char* kErrorKinds[] = {"register",     "lease",      "heartbeat", "report",
                                       "report_state", "model_load", "engine",    "other"};

// Every label value gets its series up front, so dashboards see zeros rather
// than no data before the first event.
template <size_t N>
std::map<std::string, prometheus::Counter*, std::less<>> AddAll(
    prometheus::Family<prometheus::Counter>& family, const char* label,
    const char* const (&values)[N]) {
  std::map<std::string, prometheus::Counter*, std::less<>> out;
  for (const char* v : values) out[v] = &family.Add({{label, v}});
  return out;
}

prometheus::Counter* Lookup(const std::map<std::string, prometheus::Counter*, std::less<>>& m,
                            absl::string_view key) {
  auto it = m.find(std::string_view(key.data(), key.size()));
  return it != m.end() ? it->second : m.at("other");
}

}  // namespace

struct WorkerMetrics::Families {
  std::map<std::string, prometheus::Counter*, std::less<>> requests;
  std::map<std::string, prometheus::Counter*, std::less<>> jobs;
  std::map<std::string, prometheus::Counter*, std::less<>> errors;
  prometheus::Histogram* job_duration = nullptr;
  prometheus::Histogram* model_load = nullptr;
  prometheus::Gauge* models_loaded = nullptr;
  prometheus::Gauge* model_bytes = nullptr;
  prometheus::Counter* outputs_reported = nullptr;
  prometheus::Counter* prefill_tokens = nullptr;
  prometheus::Counter* decode_tokens = nullptr;
};

WorkerMetrics::WorkerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()), families_(new Families) {
  prometheus::Registry& r = *registry_;
  families_->requests = AddAll(prometheus::BuildCounter()
                                   .Name("proctor_worker_requests_total")
                                   .Help("Requests run by the engine, by request kind.")
                                   .Register(r),
                               "kind", kRequestKinds);
  families_->jobs = AddAll(prometheus::BuildCounter()
                               .Name("proctor_worker_jobs_total")
                               .Help("Jobs finished by this worker, by result.")
                               .Register(r),
                           "result", kJobResults);
  families_->errors = AddAll(prometheus::BuildCounter()
                                 .Name("proctor_worker_errors_total")
                                 .Help("Errors seen by the worker, by where they happened.")
                                 .Register(r),
                             "kind", kErrorKinds);
  families_->job_duration = &prometheus::BuildHistogram()
                                 .Name("proctor_worker_job_duration_seconds")
                                 .Help("Time from lease to the job's last report.")
                                 .Register(r)
                                 .Add({}, prometheus::Histogram::BucketBoundaries{
                                              0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600});
  families_->model_load = &prometheus::BuildHistogram()
                               .Name("proctor_worker_model_load_seconds")
                               .Help("Time to load a model into memory, failed loads included.")
                               .Register(r)
                               .Add({}, prometheus::Histogram::BucketBoundaries{
                                            0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900});
  families_->models_loaded = &prometheus::BuildGauge()
                                  .Name("proctor_worker_models_loaded")
                                  .Help("Models resident in the worker's model cache.")
                                  .Register(r)
                                  .Add({});
  families_->model_bytes = &prometheus::BuildGauge()
                                .Name("proctor_worker_model_resident_bytes")
                                .Help("Bytes held by the models in the cache.")
                                .Register(r)
                                .Add({});
  families_->outputs_reported = &prometheus::BuildCounter()
                                     .Name("proctor_worker_outputs_reported_total")
                                     .Help("Distinct outputs written to the coordinator.")
                                     .Register(r)
                                     .Add({});
  families_->prefill_tokens = &prometheus::BuildCounter()
                                   .Name("proctor_worker_prefill_tokens_total")
                                   .Help("Prompt tokens processed, as reported by the engine.")
                                   .Register(r)
                                   .Add({});
  families_->decode_tokens = &prometheus::BuildCounter()
                                  .Name("proctor_worker_decode_tokens_total")
                                  .Help("Tokens generated by generate requests.")
                                  .Register(r)
                                  .Add({});
}

WorkerMetrics::~WorkerMetrics() = default;

absl::StatusOr<int> WorkerMetrics::StartExposer(const std::string& address) {
  if (exposer_ != nullptr) {
    return absl::FailedPreconditionError("metrics exposer already started");
  }
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address, 1);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("--metrics_address=", address, ": cannot serve metrics: ", e.what()));
  }
  exposer_->RegisterCollectable(registry_);
  const std::vector<int> ports = exposer_->GetListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(absl::StrCat("--metrics_address=", address, ": not listening"));
  }
  return ports.front();
}

void WorkerMetrics::CountRequest(absl::string_view kind) {
  Lookup(families_->requests, kind)->Increment();
}

void WorkerMetrics::CountJob(absl::string_view result, absl::Duration duration) {
  Lookup(families_->jobs, result)->Increment();
  families_->job_duration->Observe(absl::ToDoubleSeconds(duration));
}

void WorkerMetrics::ObserveModelLoad(absl::Duration duration) {
  families_->model_load->Observe(absl::ToDoubleSeconds(duration));
}

void WorkerMetrics::SetModelsLoaded(int count, int64_t resident_bytes) {
  families_->models_loaded->Set(count);
  families_->model_bytes->Set(static_cast<double>(resident_bytes));
}

void WorkerMetrics::CountError(absl::string_view kind) {
  Lookup(families_->errors, kind)->Increment();
}

void WorkerMetrics::AddOutputsReported(int64_t n) {
  families_->outputs_reported->Increment(static_cast<double>(n));
}

void WorkerMetrics::AddPrefillTokens(int64_t n) {
  families_->prefill_tokens->Increment(static_cast<double>(n));
}

void WorkerMetrics::AddDecodeTokens(int64_t n) {
  families_->decode_tokens->Increment(static_cast<double>(n));
}

std::string WorkerMetrics::RenderText() const {
  prometheus::TextSerializer serializer;
  std::ostringstream out;
  serializer.Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace proctor::worker
