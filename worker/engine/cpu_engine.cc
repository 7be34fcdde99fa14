#include "worker/engine/cpu_engine.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/cpu/thread_pool.h"
#include "worker/engine/job_runner.h"
#include "worker/engine/model.h"
#include "worker/engine/transformer.h"

namespace proctor::engine {
namespace {

class CpuLoadedModel : public LoadedModel {
 public:
  CpuLoadedModel(std::unique_ptr<Model> model, int threads, JobRunnerOptions runner_options)
      : model_(std::move(model)),
        pool_(threads),
        tf_(&model_->weights(), &pool_),
        runner_(model_.get(), &tf_, runner_options) {}

  absl::Status RunJob(const v1::Job& job, const std::vector<int64_t>& skip_request_ids,
                      const OutputSink& sink, const std::atomic<bool>& cancelled) override {
    return runner_.Run(job, skip_request_ids, sink, cancelled);
  }

  int64_t ResidentBytes() const override { return model_->WeightBytes() + runner_.CacheBytes(); }

 private:
  std::unique_ptr<Model> model_;
  kernels::ThreadPool pool_;
  Transformer tf_;
  JobRunner runner_;
};

class CpuEngine : public Engine {
 public:
  explicit CpuEngine(CpuEngineOptions options) : options_(std::move(options)) {
    if (options_.threads <= 0) {
      options_.threads = std::max(1u, std::thread::hardware_concurrency());
    }
  }

  std::string backend() const override { return "cpu"; }

  JobRunnerOptions RunnerOptions() const {
    JobRunnerOptions r;
    r.prefix_sharing = options_.prefix_sharing;
    r.max_batch = std::max(1, options_.max_batch);
    return r;
  }

  absl::StatusOr<std::unique_ptr<LoadedModel>> Load(const v1::ModelRef& ref) override {
    const std::string path = ref.path().empty() ? ref.name() : ref.path();
    PROCTOR_ASSIGN_OR_RETURN(const std::string canonical,
                             ResolveModelPath(path, options_.allowed_model_roots));
    auto model = Model::Load(canonical);
    if (!model.ok()) {
      // NOT_FOUND from the loader is still "fix the model reference" here.
      return absl::FailedPreconditionError(model.status().message());
    }
    if ((*model)->tokenizer() == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": no tokenizer (put tokenizer.bin beside a llama2.c model)"));
    }
    return std::unique_ptr<LoadedModel>(
        new CpuLoadedModel(std::move(*model), options_.threads, RunnerOptions()));
  }

 private:
  CpuEngineOptions options_;
};

}  // namespace

std::unique_ptr<Engine> CreateCpuEngine(const CpuEngineOptions& options) {
  return std::make_unique<CpuEngine>(options);
}

}  // namespace proctor::engine
