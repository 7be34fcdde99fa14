#include "coordinator/result_cache.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "coordinator/coordinator.h"

namespace proctor::coordinator {
namespace {

// Jobs whose request hashes are remembered (a few per active lease is plenty;
// a forgotten job is re-hashed from its stored payload).
constexpr size_t kRememberedJobs = 4096;
constexpr size_t kMaxIdentityField = 256;

// Incremental SHA-256 over length-prefixed fields.
class KeyHasher {
 public:
  KeyHasher() : ctx_(EVP_MD_CTX_new()) {
    // Initialising a built-in digest fails only when out of memory.
    if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
      PROCTOR_LOG(FATAL) << "cannot initialise SHA-256 (out of memory?)";
    }
  }
  ~KeyHasher() { EVP_MD_CTX_free(ctx_); }
  KeyHasher(const KeyHasher&) = delete;
  KeyHasher& operator=(const KeyHasher&) = delete;

  void Field(absl::string_view bytes) {
    U64(bytes.size());
    EVP_DigestUpdate(ctx_, bytes.data(), bytes.size());
  }
  void U64(uint64_t v) {
    unsigned char le[8];
    for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(v >> (8 * i));
    EVP_DigestUpdate(ctx_, le, sizeof(le));
  }
  void Float(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof(bits));
    U64(bits);
  }
  std::string Finish() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(ctx_, digest, &size);
    return std::string(reinterpret_cast<const char*>(digest), size);
  }

 private:
  EVP_MD_CTX* ctx_;
};

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

bool IsCacheableRequest(const v1::Request& request) {
  switch (request.kind_case()) {
    case v1::Request::kLoglikelihood:
    case v1::Request::kLoglikelihoodRolling:
      return true;
    case v1::Request::kGenerate:
      return request.generate().temperature() == 0.0f;
    default:
      return false;
  }
}

absl::StatusOr<std::string> RequestHash(const v1::Request& request,
                                        absl::Span<const std::string> prefixes) {
  if (!IsCacheableRequest(request)) {
    return absl::InvalidArgumentError(absl::StrCat("request ", request.request_id(),
                                                   " is not cacheable (kind ",
                                                   static_cast<int>(request.kind_case()), ")"));
  }
  const int32_t prefix_index = request.prefix_index();
  if (prefix_index < 0 || static_cast<size_t>(prefix_index) > prefixes.size()) {
    return absl::InvalidArgumentError(absl::StrCat("request ", request.request_id(),
                                                   ": prefix_index ", prefix_index, " outside [0, ",
                                                   prefixes.size(), "]"));
  }
  KeyHasher h;
  h.Field("proctor.request.v1");
  // The prefix is its own field: the engine may tokenize it separately, so
  // "ab"+"c" and "a"+"bc" must not share a key.
  h.U64(prefix_index > 0 ? 1 : 0);
  h.Field(prefix_index > 0 ? absl::string_view(prefixes[static_cast<size_t>(prefix_index - 1)])
                           : absl::string_view());
  switch (request.kind_case()) {
    case v1::Request::kLoglikelihood: {
      const auto& r = request.loglikelihood();
      h.Field("loglikelihood");
      h.Field(r.context());
      h.U64(static_cast<uint64_t>(r.continuations_size()));
      for (const std::string& c : r.continuations()) h.Field(c);
      break;
    }
    case v1::Request::kLoglikelihoodRolling:
      h.Field("loglikelihood_rolling");
      h.Field(request.loglikelihood_rolling().text());
      break;
    case v1::Request::kGenerate: {
      const auto& r = request.generate();
      h.Field("generate");
      h.Field(r.context());
      h.U64(static_cast<uint64_t>(r.stop_size()));
      for (const std::string& s : r.stop()) h.Field(s);
      h.U64(static_cast<uint64_t>(static_cast<int64_t>(r.max_new_tokens())));
      h.Float(r.temperature());
      h.Float(r.top_p());
      h.U64(r.seed());
      break;
    }
    default:
      break;  // excluded by IsCacheableRequest
  }
  return h.Finish();
}

absl::Status ValidateModelIdentity(const v1::ModelIdentity& identity, absl::string_view field) {
  if (identity.content_hash().size() != 64 || !IsLowerHex(identity.content_hash())) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".content_hash: want 64 lowercase hex digits, got ",
                     identity.content_hash().size(), " bytes"));
  }
  if (identity.engine_build().empty() || identity.engine_build().size() > kMaxIdentityField) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".engine_build: must be 1-", kMaxIdentityField, " bytes"));
  }
  if (identity.backend().empty() || identity.backend().size() > kMaxIdentityField) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".backend: must be 1-", kMaxIdentityField, " bytes"));
  }
  if (identity.dtype().size() > kMaxIdentityField) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".dtype: longer than ", kMaxIdentityField, " bytes"));
  }
  if (identity.model_key().size() > 16 * kMaxIdentityField) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".model_key: longer than ", 16 * kMaxIdentityField, " bytes"));
  }
  if (identity.tensor_parallel() < 0 || identity.tensor_parallel() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".tensor_parallel: ", identity.tensor_parallel(), " outside [0, 64]"));
  }
  return absl::OkStatus();
}

std::string ResultCacheKey(const v1::ModelIdentity& identity, absl::string_view request_hash) {
  KeyHasher h;
  h.Field("proctor.result_cache");
  h.U64(kResultCacheKeyVersion);
  h.Field(identity.content_hash());
  h.Field(identity.engine_build());
  h.Field(identity.backend());
  h.Field(identity.dtype());
  h.U64(static_cast<uint64_t>(static_cast<int64_t>(identity.tensor_parallel())));
  h.Field(request_hash);
  return h.Finish();
}

// ---- ResultCache ---------------------------------------------------------------

ResultCache::ResultCache(Store* store, CoordinatorMetrics* metrics)
    : store_(store), metrics_(metrics) {}

ResultCache::JobHashes ResultCache::HashJob(absl::Span<const std::string> prefixes,
                                            absl::Span<const v1::Request* const> requests) {
  JobHashes hashes;
  for (const v1::Request* request : requests) {
    const v1::Request& r = *request;
    if (!IsCacheableRequest(r)) continue;
    absl::StatusOr<std::string> h = RequestHash(r, prefixes);
    // A bad prefix index is simply not cached.
    if (h.ok()) hashes[r.request_id()] = Hashed{*std::move(h), static_cast<int>(r.kind_case())};
  }
  return hashes;
}

void ResultCache::Remember(int64_t job_id, std::shared_ptr<const JobHashes> hashes) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = jobs_.insert_or_assign(job_id, std::move(hashes));
  if (!inserted) return;
  job_order_.push_back(job_id);
  while (job_order_.size() > kRememberedJobs) {
    jobs_.erase(job_order_.front());
    job_order_.pop_front();
  }
}

std::shared_ptr<const ResultCache::JobHashes> ResultCache::Recall(int64_t job_id) {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  return it == jobs_.end() ? nullptr : it->second;
}

absl::StatusOr<std::vector<v1::Output>> ResultCache::Lookup(const v1::Job& job,
                                                            const v1::ModelIdentity& identity) {
  std::vector<std::string> prefixes(job.prefixes().begin(), job.prefixes().end());
  std::vector<const v1::Request*> requests;
  for (const v1::Request& r : job.requests()) requests.push_back(&r);
  auto hashes = std::make_shared<const JobHashes>(HashJob(prefixes, requests));
  Remember(job.job_id(), hashes);
  std::vector<int64_t> ids;
  std::vector<std::string> keys;
  for (const v1::Request& r : job.requests()) {
    auto it = hashes->find(r.request_id());
    if (it == hashes->end()) continue;
    ids.push_back(r.request_id());
    keys.push_back(ResultCacheKey(identity, it->second.hash));
  }
  std::vector<v1::Output> hits;
  if (keys.empty()) return hits;
  PROCTOR_ASSIGN_OR_RETURN(std::vector<std::optional<v1::Output>> found, store_->LookupCache(keys));
  for (size_t i = 0; i < found.size() && i < ids.size(); ++i) {
    // An entry of another kind would be a collision or a corrupt store: skip.
    if (!found[i].has_value() ||
        static_cast<int>(found[i]->result_case()) != (*hashes).at(ids[i]).kind) {
      continue;
    }
    v1::Output& out = hits.emplace_back(*std::move(found[i]));
    out.set_request_id(ids[i]);
  }
  if (metrics_ != nullptr) {
    metrics_->CacheLookups(static_cast<int64_t>(hits.size()),
                           static_cast<int64_t>(keys.size() - hits.size()));
  }
  return hits;
}

absl::StatusOr<std::vector<CacheEntry>> ResultCache::EntriesFor(
    int64_t job_id, const v1::ModelIdentity& identity,
    const google::protobuf::RepeatedPtrField<v1::Output>& outputs) {
  std::shared_ptr<const JobHashes> hashes = Recall(job_id);
  if (hashes == nullptr) {
    PROCTOR_ASSIGN_OR_RETURN(JobPayload payload, store_->LoadJobPayload(job_id));
    std::vector<const v1::Request*> requests;
    for (const v1::Request& r : payload.requests) requests.push_back(&r);
    hashes = std::make_shared<const JobHashes>(HashJob(payload.prefixes, requests));
    Remember(job_id, hashes);
  }
  std::vector<CacheEntry> entries;
  for (const v1::Output& o : outputs) {
    auto it = hashes->find(o.request_id());
    if (it == hashes->end() || static_cast<int>(o.result_case()) != it->second.kind) continue;
    entries.push_back(CacheEntry{ResultCacheKey(identity, it->second.hash), o});
  }
  return entries;
}

void ResultCache::RefreshEntriesGauge() {
  if (metrics_ == nullptr) return;
  absl::StatusOr<int64_t> n = store_->CountCacheEntries();
  if (n.ok()) metrics_->SetCacheEntries(*n);
}

// ---- The coordinator's use of the cache at lease time --------------------------
// (a Coordinator member, kept here beside the cache it drives)

absl::StatusOr<bool> Coordinator::AnswerFromCache(const v1::LeaseRequest& request, v1::Job* job) {
  if (job->judge() || job->requests_size() == 0) return false;
  {
    absl::MutexLock lock(&mu_);
    auto run = runs_.find(job->run_id());
    if (run == runs_.end() || run->second.record.spec.no_cache()) return false;
  }
  // Only a worker that has hashed this model, and found its files unchanged
  // when it asked, can vouch for the content hash.
  const v1::ModelIdentity* identity = nullptr;
  for (const v1::ModelIdentity& candidate : request.model_identities()) {
    if (candidate.model_key() == job->model_key()) {
      identity = &candidate;
      break;
    }
  }
  if (identity == nullptr) return false;
  PROCTOR_ASSIGN_OR_RETURN(std::vector<v1::Output> hits, result_cache_.Lookup(*job, *identity));
  if (hits.empty()) return false;
  v1::ReportOutputsRequest report;
  report.set_job_id(job->job_id());
  report.set_fencing_token(job->fencing_token());
  // Written back with the identity: marks the entries used (LRU).
  *report.mutable_model_identity() = *identity;
  absl::flat_hash_set<int64_t> answered;
  for (v1::Output& o : hits) {
    answered.insert(o.request_id());
    *report.add_outputs() = std::move(o);
  }
  PROCTOR_RETURN_IF_ERROR(StoreOutputs(report, /*from_cache=*/true).status());
  if (answered.size() == static_cast<size_t>(job->requests_size())) {
    v1::ReportOutputsRequest done;
    done.set_job_id(job->job_id());
    done.set_fencing_token(job->fencing_token());
    done.set_complete(true);
    PROCTOR_RETURN_IF_ERROR(EndJob(done).status());
    return true;
  }
  auto* requests = job->mutable_requests();
  requests->erase(
      std::remove_if(requests->begin(), requests->end(),
                     [&](const v1::Request& r) { return answered.contains(r.request_id()); }),
      requests->end());
  return false;
}

}  // namespace proctor::coordinator
