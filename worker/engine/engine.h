// The worker's view of a model runtime. The pull loop (worker/) loads models
// through an Engine and runs leased jobs on a LoadedModel; it never sees
// tokenizers, kernels or devices.
#ifndef PROCTOR_WORKER_ENGINE_ENGINE_H_
#define PROCTOR_WORKER_ENGINE_ENGINE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proctor/v1/common.pb.h"
#include "proctor/v1/requests.pb.h"
#include "proctor/v1/worker.pb.h"

namespace proctor::engine {

// Called once per finished request, from the thread that called RunJob, in
// any order. Must not block for long.
using OutputSink = std::function<void(v1::Output)>;

// A model resident in memory. RunJob may be called from one thread at a time.
class LoadedModel {
 public:
  virtual ~LoadedModel() = default;

  // Runs every request of `job` whose id is not in `skip_request_ids` (already
  // acknowledged by the coordinator), emitting each output as it finishes.
  // Checks `cancelled` between batches and returns CANCELLED when set.
  // Errors are classified for the coordinator: INVALID_ARGUMENT for a request
  // the model cannot run (e.g. context longer than the model allows after
  // truncation rules), RESOURCE_EXHAUSTED for out of memory, INTERNAL for bugs.
  virtual absl::Status RunJob(const v1::Job& job, const std::vector<int64_t>& skip_request_ids,
                              const OutputSink& sink, const std::atomic<bool>& cancelled) = 0;

  // Bytes this model holds (weights + caches), for the LRU model cache.
  virtual int64_t ResidentBytes() const = 0;
};

// Loads models for one backend ("cpu", "cuda", or the test double "scripted").
class Engine {
 public:
  virtual ~Engine() = default;
  virtual std::string backend() const = 0;
  // FAILED_PRECONDITION for a missing or malformed model file (naming the
  // file and what is wrong), RESOURCE_EXHAUSTED when it does not fit.
  virtual absl::StatusOr<std::unique_ptr<LoadedModel>> Load(const v1::ModelRef& model) = 0;
};

}  // namespace proctor::engine

#endif  // PROCTOR_WORKER_ENGINE_ENGINE_H_
