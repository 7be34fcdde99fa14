#include "worker/engine/cuda/cuda_engine.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "kernels/comm/nccl_communicator.h"
#include "worker/engine/cuda/backend_cuda.h"
#include "worker/engine/cuda/device_info.h"
#include "worker/engine/job_runner.h"
#include "worker/engine/model.h"
#include "worker/engine/tensor_parallel.h"
#include "worker/engine/transformer.h"

namespace proctor::engine::cuda {
namespace {

JobRunnerOptions RunnerOptions(const CudaEngineOptions& o) {
  JobRunnerOptions r;
  r.prefix_sharing = o.prefix_sharing;
  r.max_batch = std::max(1, o.max_batch);
  return r;
}

// Members are declared in construction order and destroyed in reverse: the
// runner (and its KV cache) before the transformer, the backends, the NCCL
// group and finally the mapped model.
class CudaLoadedModel : public LoadedModel {
 public:
  absl::Status RunJob(const v1::Job& job, const std::vector<int64_t>& skip_request_ids,
                      const OutputSink& sink, const std::atomic<bool>& cancelled) override {
    return runner->Run(job, skip_request_ids, sink, cancelled);
  }
  int64_t ResidentBytes() const override {
    const MemoryPlan& p = gpus->plan;
    return p.tp * (p.weight_bytes + p.workspace_bytes + p.kv_bytes);
  }

  std::unique_ptr<Model> model;
  std::unique_ptr<CudaRanks> gpus;
  std::unique_ptr<Transformer> transformer;
  std::unique_ptr<JobRunner> runner;
};

class CudaEngine : public Engine {
 public:
  CudaEngine(CudaEngineOptions options, std::vector<CudaDevice> devices)
      : options_(std::move(options)), devices_(std::move(devices)) {}

  std::string backend() const override { return "cuda"; }

  absl::StatusOr<std::unique_ptr<LoadedModel>> Load(const v1::ModelRef& ref) override {
    const std::string path = ref.path().empty() ? ref.name() : ref.path();
    PROCTOR_ASSIGN_OR_RETURN(const std::string canonical,
                             ResolveModelPath(path, options_.allowed_model_roots));
    auto m = std::make_unique<CudaLoadedModel>();
    auto model = Model::Load(canonical);
    if (!model.ok()) return absl::FailedPreconditionError(model.status().message());
    m->model = std::move(*model);
    if (m->model->tokenizer() == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": no tokenizer (put tokenizer.bin beside a llama2.c model)"));
    }
    PROCTOR_ASSIGN_OR_RETURN(m->gpus, UploadToGpus(m->model->weights(), options_));
    PROCTOR_LOG(INFO) << "cuda: loaded " << path << ": " << m->gpus->plan.DebugString();
    m->transformer = std::make_unique<Transformer>(m->gpus->ranks());
    m->runner = std::make_unique<JobRunner>(m->model.get(), m->transformer.get(),
                                            RunnerOptions(options_));
    return std::unique_ptr<LoadedModel>(std::move(m));
  }

 private:
  CudaEngineOptions options_;
  std::vector<CudaDevice> devices_;
};

}  // namespace

std::vector<Backend*> CudaRanks::ranks() const {
  std::vector<Backend*> out;
  for (const auto& b : backends) out.push_back(b.get());
  return out;
}

absl::StatusOr<std::unique_ptr<CudaRanks>> UploadToGpus(const ModelWeights& weights,
                                                        const CudaEngineOptions& options) {
  std::vector<int> all;
  for (const CudaDevice& d : ListCudaDevices()) all.push_back(d.index);
  if (all.empty()) return absl::FailedPreconditionError("no CUDA device");
  auto g = std::make_unique<CudaRanks>();
  PROCTOR_ASSIGN_OR_RETURN(
      g->plan, ChooseTensorParallel(weights.config, FreeDeviceBytes(all), options.plan));
  const int tp = g->plan.tp;
  const std::vector<int> used(all.begin(), all.begin() + tp);
  if (tp > 1 || options.nccl_at_tp1) {
    g->nccl = kernels::comm::CreateNcclGroup(used);
    if (!g->nccl.error.empty()) return absl::InternalError(g->nccl.error);
  }
  // Shard and upload every rank in parallel (one thread per GPU).
  g->backends.resize(static_cast<size_t>(tp));
  std::vector<absl::Status> status(static_cast<size_t>(tp));
  std::vector<std::thread> threads;
  for (int r = 0; r < tp; ++r) {
    threads.emplace_back([&, r] {
      const size_t i = static_cast<size_t>(r);
      CudaBackendOptions o;
      o.device = used[i];
      o.plan = g->plan;
      o.chunk_tokens = options.plan.chunk_tokens;
      o.max_step_sequences = options.plan.max_step_sequences;
      o.logit_rows = options.plan.logit_rows;
      o.cuda_graphs = options.cuda_graphs;
      kernels::comm::NcclCommunicator* comm =
          g->nccl.ranks.empty() ? nullptr : g->nccl.ranks[i].get();
      absl::StatusOr<ModelWeights> shard = ShardWeights(weights, r, tp);
      if (!shard.ok()) {
        status[i] = shard.status();
        return;
      }
      auto b = CreateCudaBackend(*shard, comm, o);
      if (!b.ok()) {
        status[i] = b.status();
        return;
      }
      g->backends[i] = std::move(*b);
    });
  }
  for (std::thread& t : threads) t.join();
  for (int r = 0; r < tp; ++r) {
    const absl::Status& s = status[static_cast<size_t>(r)];
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat("GPU ", used[static_cast<size_t>(r)], " (rank ", r,
                                                 "/", tp, "): ", s.message()));
    }
  }
  return g;
}

absl::StatusOr<std::unique_ptr<Engine>> CreateCudaEngine(const CudaEngineOptions& options) {
  std::vector<CudaDevice> devices = ListCudaDevices();
  if (devices.empty()) {
    return absl::FailedPreconditionError(
        "no CUDA device: this process sees no GPU (no driver, no device, or "
        "CUDA_VISIBLE_DEVICES is empty); use --backend=cpu");
  }
  return std::unique_ptr<Engine>(new CudaEngine(options, std::move(devices)));
}

}  // namespace proctor::engine::cuda
