#include "worker/model_cache.h"

#include <openssl/evp.h>

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"

namespace proctor::worker {
namespace {

// The dtype the backend computes in. Weight quantisation is part of the file
// (and so of the content hash); no backend has a run-time precision switch.
std::string ComputeDtype(const std::string& backend) {
  if (backend == "cpu") return "f32";
  if (backend == "scripted") return "none";
  return absl::StrCat(backend, "-default");
}

std::string Sha256Hex(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), static_cast<size_t>(size)));
}

std::string ModelKeyOf(const v1::Job& job) {
  if (!job.model_key().empty()) return job.model_key();
  return absl::StrCat(job.model().name(), "@", job.model().path());
}

}  // namespace

ModelCache::ModelCache(engine::Engine* engine, const ModelCacheOptions& options,
                       WorkerMetrics* metrics)
    : engine_(engine), options_(options), metrics_(metrics) {}

absl::StatusOr<std::shared_ptr<engine::LoadedModel>> ModelCache::Get(const std::string& key,
                                                                     const v1::ModelRef& model) {
  std::vector<std::shared_ptr<engine::LoadedModel>> evicted;
  {
    absl::MutexLock lock(&mu_);
    // One load at a time; a concurrent caller may find its model loaded after.
    mu_.Await(absl::Condition(
        +[](bool* loading) { return !*loading; }, &loading_));
    auto it = models_.find(key);
    if (it != models_.end() && it->second.identity.has_value()) {
      // A model file overwritten in place since the load: what is resident
      // is no longer that file, so it is reloaded (one stat per file).
      auto known = std::find_if(known_.begin(), known_.end(),
                                [&key](const auto& k) { return k.first == key; });
      if (known != known_.end() &&
          hasher_.HashIfUnchanged(known->second.path) != known->second.file_hash) {
        PROCTOR_LOG(INFO) << "model " << key << ": its files changed since it was loaded; "
                          << "reloading";
        bytes_ -= it->second.bytes;
        evicted.push_back(std::move(it->second.model));
        models_.erase(it);
        lru_.remove(key);
        it = models_.end();
      }
    }
    if (it != models_.end()) {
      lru_.remove(key);
      lru_.push_front(key);
      return it->second.model;
    }
    const size_t max_models = static_cast<size_t>(std::max(1, options_.max_models));
    while (models_.size() >= max_models && EvictOneLocked("", &evicted)) {
    }
    const int64_t expected = model.min_gpu_memory_bytes();
    if (options_.max_bytes > 0 && expected > 0) {
      while (bytes_ + expected > options_.max_bytes && EvictOneLocked("", &evicted)) {
      }
    }
    loading_ = true;
    PublishLocked();
  }
  evicted.clear();  // frees the evicted models' memory before the load

  // Hashed before the load and checked unchanged after it, so the identity
  // is that of the bytes the engine read.
  std::optional<Known> known = IdentityOf(key, model);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<engine::LoadedModel>> loaded = engine_->Load(model);
  const absl::Duration took = absl::Now() - start;
  if (metrics_ != nullptr) {
    metrics_->ObserveModelLoad(took);
    if (!loaded.ok()) metrics_->CountError("model_load");
  }

  absl::MutexLock lock(&mu_);
  loading_ = false;
  if (!loaded.ok()) {
    PROCTOR_LOG(WARNING) << "loading model " << key << " failed after " << took << ": "
                         << loaded.status();
    return loaded.status();
  }
  if (known.has_value() && hasher_.HashIfUnchanged(known->path) != known->file_hash) {
    PROCTOR_LOG(WARNING) << "model " << key << " changed while it was loaded; its outputs will "
                         << "not be added to the result cache";
    known.reset();
  }
  std::shared_ptr<engine::LoadedModel> shared = std::move(loaded).value();
  const int64_t bytes = shared->ResidentBytes();
  std::optional<v1::ModelIdentity> identity;
  if (known.has_value()) {
    identity = known->identity;
    known_.remove_if([&key](const auto& k) { return k.first == key; });
    known_.emplace_front(key, *std::move(known));
    if (known_.size() > kMaxIdentities) known_.pop_back();
  }
  models_[key] = Entry{shared, bytes, std::move(identity)};
  lru_.push_front(key);
  bytes_ += bytes;
  if (options_.max_bytes > 0) {
    while (bytes_ > options_.max_bytes && EvictOneLocked(key, &evicted)) {
    }
  }
  PublishLocked();
  PROCTOR_LOG(INFO) << "loaded model " << key << " (" << bytes << " bytes) in " << took
                    << "; cache holds " << models_.size() << " model(s), " << bytes_ << " bytes";
  // `evicted` is destroyed after the lock is released (declared first).
  return shared;
}

bool ModelCache::EvictOneLocked(const std::string& keep,
                                std::vector<std::shared_ptr<engine::LoadedModel>>* evicted) {
  for (auto it = lru_.rbegin(); it != lru_.rend(); ++it) {
    if (*it == keep) continue;
    auto entry = models_.find(*it);
    PROCTOR_LOG(INFO) << "evicting model " << *it << " (" << entry->second.bytes << " bytes)";
    bytes_ -= entry->second.bytes;
    evicted->push_back(std::move(entry->second.model));
    models_.erase(entry);
    lru_.erase(std::next(it).base());
    return true;
  }
  return false;
}

void ModelCache::PublishLocked() {
  if (metrics_ != nullptr) metrics_->SetModelsLoaded(static_cast<int>(models_.size()), bytes_);
}

std::vector<std::string> ModelCache::LoadedKeys() const {
  absl::MutexLock lock(&mu_);
  return {lru_.begin(), lru_.end()};
}

int64_t ModelCache::ResidentBytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

}  // namespace proctor::worker

namespace proctor::worker {

std::optional<ModelCache::Known> ModelCache::IdentityOf(const std::string& key,
                                                        const v1::ModelRef& model) {
  const std::string path = model.path().empty() ? model.name() : model.path();
  const std::string& build = EngineBuild();
  if (path.empty() || build == "unknown-build") return std::nullopt;
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> file_hash = hasher_.Hash(path);
  if (!file_hash.ok()) {
    PROCTOR_LOG(INFO) << "model " << key << " has no content hash (" << file_hash.status()
                      << "); its outputs will not be cached";
    return std::nullopt;
  }
  Known known;
  known.path = path;
  known.file_hash = *file_hash;
  v1::ModelIdentity& id = known.identity;
  id.set_model_key(key);
  const std::string backend = engine_->backend();
  // The scripted test double derives its outputs from the model name, so
  // for it the name is part of the "weights".
  id.set_content_hash(backend == "scripted"
                          ? Sha256Hex(absl::StrCat("scripted", std::string(1, '\0'), model.name(),
                                                   std::string(1, '\0'), *file_hash))
                          : *file_hash);
  id.set_engine_build(build);
  id.set_backend(backend);
  id.set_dtype(ComputeDtype(backend));
  id.set_tensor_parallel(model.tensor_parallel());
  PROCTOR_LOG(INFO) << "model " << key << " content sha256 " << *file_hash << " (hashed in "
                    << absl::Now() - start << ")";
  return known;
}

std::optional<v1::ModelIdentity> ModelCache::Identity(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto it = models_.find(key);
  if (it == models_.end()) return std::nullopt;
  return it->second.identity;
}

std::vector<v1::ModelIdentity> ModelCache::FreshIdentities() const {
  std::vector<std::pair<std::string, Known>> known;
  {
    absl::MutexLock lock(&mu_);
    known.assign(known_.begin(), known_.end());
  }
  std::vector<v1::ModelIdentity> out;
  for (auto& [key, k] : known) {
    if (hasher_.HashIfUnchanged(k.path) == k.file_hash) out.push_back(std::move(k.identity));
  }
  return out;
}

// ---- IdentityStampingClient --------------------------------------------------

namespace {

class StampingStream final : public ReportStream {
 public:
  StampingStream(std::unique_ptr<ReportStream> inner, const IdentityStampingClient* client)
      : inner_(std::move(inner)), client_(client) {}
  bool Write(const v1::ReportOutputsRequest& message) override {
    if (message.outputs_size() == 0 || message.has_model_identity()) {
      return inner_->Write(message);
    }
    std::optional<v1::ModelIdentity> identity = client_->IdentityFor(message.job_id());
    if (!identity.has_value()) return inner_->Write(message);
    v1::ReportOutputsRequest stamped = message;
    *stamped.mutable_model_identity() = *std::move(identity);
    return inner_->Write(stamped);
  }
  absl::StatusOr<v1::ReportOutputsResponse> Finish() override { return inner_->Finish(); }
  void Cancel() override { inner_->Cancel(); }

 private:
  const std::unique_ptr<ReportStream> inner_;
  const IdentityStampingClient* const client_;
};

}  // namespace

IdentityStampingClient::IdentityStampingClient(CoordinatorClient* inner, const ModelCache* models)
    : inner_(inner), models_(models) {}

void IdentityStampingClient::Track(const v1::Job& job) {
  absl::MutexLock lock(&mu_);
  model_key_of_job_[job.job_id()] = ModelKeyOf(job);
}

void IdentityStampingClient::Untrack(int64_t job_id) {
  absl::MutexLock lock(&mu_);
  model_key_of_job_.erase(job_id);
}

std::optional<v1::ModelIdentity> IdentityStampingClient::IdentityFor(int64_t job_id) const {
  std::string key;
  {
    absl::MutexLock lock(&mu_);
    auto it = model_key_of_job_.find(job_id);
    if (it == model_key_of_job_.end()) return std::nullopt;
    key = it->second;
  }
  return models_->Identity(key);
}

absl::StatusOr<v1::RegisterResponse> IdentityStampingClient::Register(
    const v1::RegisterRequest& request, absl::Duration timeout) {
  return inner_->Register(request, timeout);
}

absl::StatusOr<v1::LeaseResponse> IdentityStampingClient::Lease(const v1::LeaseRequest& request,
                                                                absl::Duration timeout) {
  return inner_->Lease(request, timeout);
}

absl::StatusOr<v1::HeartbeatResponse> IdentityStampingClient::Heartbeat(
    const v1::HeartbeatRequest& request, absl::Duration timeout) {
  return inner_->Heartbeat(request, timeout);
}

absl::StatusOr<v1::GetReportStateResponse> IdentityStampingClient::GetReportState(
    const v1::GetReportStateRequest& request, absl::Duration timeout) {
  return inner_->GetReportState(request, timeout);
}

std::unique_ptr<ReportStream> IdentityStampingClient::OpenReportStream(absl::Duration timeout) {
  return std::make_unique<StampingStream>(inner_->OpenReportStream(timeout), this);
}

}  // namespace proctor::worker
