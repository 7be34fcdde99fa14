#include "coordinator/sweeps/sweep_manager.h"

#include <glob.h>
#include <sys/stat.h>

#include <algorithm>
#include <set>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/periodic_thread.h"
#include "common/status_macros.h"
#include "coordinator/sweeps/cron.h"

namespace proctor::coordinator {
namespace {

constexpr int kMaxModels = 1000;
// Slots walked to find the most recent missed one (a minute schedule down
// for almost two years); beyond it the firing is the slot reached.
constexpr int kMaxCatchUpSlots = 1'000'000;

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t us = absl::ToUnixMicros(t);
  int64_t s = us / 1'000'000, rem = us % 1'000'000;
  if (rem < 0) rem += 1'000'000, --s;
  out->set_seconds(s);
  out->set_nanos(static_cast<int32_t>(rem * 1000));
}

absl::Status ValidateName(const std::string& name) {
  if (name.empty() || name.size() > 63) {
    return absl::InvalidArgumentError(
        absl::StrCat("name: must be 1 to 63 characters, got ", name.size()));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    (i > 0 && (c == '_' || c == '.' || c == '-'));
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "name: \"", name, "\" must match [a-z0-9][a-z0-9_.-]* (bad character at ", i, ")"));
    }
  }
  return absl::OkStatus();
}

std::string ModelKey(const v1::ModelRef& m) { return m.path().empty() ? m.name() : m.path(); }

}  // namespace

absl::StatusOr<std::vector<v1::ModelRef>> ExpandModelGlob(const std::string& pattern,
                                                          const v1::ModelRef& base) {
  if (pattern.empty()) return absl::InvalidArgumentError("model_glob: empty pattern");
  glob_t g{};
  const int rc = ::glob(pattern.c_str(), GLOB_MARK | GLOB_NOSORT, nullptr, &g);
  std::vector<std::string> paths;
  if (rc == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) paths.emplace_back(g.gl_pathv[i]);
  }
  ::globfree(&g);
  if (rc == GLOB_ABORTED) {
    return absl::UnavailableError(absl::StrCat("model_glob \"", pattern, "\": read error"));
  }
  if (rc == GLOB_NOSPACE) {
    return absl::ResourceExhaustedError(
        absl::StrCat("model_glob \"", pattern, "\": out of memory"));
  }
  std::sort(paths.begin(), paths.end());
  std::vector<v1::ModelRef> out;
  for (std::string& p : paths) {
    if (!p.empty() && p.back() == '/') p.pop_back();  // directory (GLOB_MARK)
    std::string file = p.substr(p.find_last_of('/') + 1);
    struct stat st;
    if (::stat(p.c_str(), &st) != 0) continue;  // vanished since the glob
    if (S_ISREG(st.st_mode)) {
      const size_t dot = file.find_last_of('.');
      if (dot != std::string::npos && dot > 0) file = file.substr(0, dot);
    }
    v1::ModelRef m = base;
    m.set_name(file);
    m.set_path(p);
    out.push_back(std::move(m));
  }
  return out;
}

std::string FiringLabel(absl::Time slot) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", slot, absl::UTCTimeZone());
}

SweepManager::SweepManager(SweepStore* store, RunLauncher* launcher, const Clock* clock)
    : store_(store), launcher_(launcher), clock_(clock) {}

SweepManager::~SweepManager() { Shutdown(); }

absl::StatusOr<v1::Sweep> SweepManager::View(const SweepRecord& record) {
  v1::Sweep out = record.definition;
  out.set_paused(record.paused);
  SetTimestamp(record.created_at, out.mutable_created_at());
  if (record.last_fired_slot != absl::InfinitePast()) {
    SetTimestamp(record.last_fired_slot, out.mutable_last_fired_slot());
  }
  if (!record.paused) {
    absl::StatusOr<CronSchedule> cron =
        CronSchedule::Parse(record.definition.schedule(), record.definition.time_zone());
    if (cron.ok()) {
      absl::Time base = std::max(record.created_at, record.last_fired_slot);
      absl::StatusOr<absl::Time> next = cron->NextAfter(base);
      if (next.ok()) SetTimestamp(*next, out.mutable_next_slot());
    }
  }
  absl::MutexLock lock(&errors_mu_);
  auto it = last_error_.find(record.definition.name());
  if (it != last_error_.end()) out.set_last_error(it->second);
  return out;
}

absl::StatusOr<v1::Sweep> SweepManager::Create(v1::Sweep sweep) {
  PROCTOR_RETURN_IF_ERROR(ValidateName(sweep.name()));
  PROCTOR_ASSIGN_OR_RETURN(CronSchedule cron,
                           CronSchedule::Parse(sweep.schedule(), sweep.time_zone()));
  const absl::Time now = clock_->Now();
  absl::StatusOr<absl::Time> next = cron.NextAfter(now);
  if (!next.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("schedule: \"", sweep.schedule(), "\" never fires (no matching date)"));
  }
  if (sweep.models_size() > 0 && !sweep.model_glob().empty()) {
    return absl::InvalidArgumentError("models, model_glob: give exactly one, not both");
  }
  if (sweep.models_size() == 0 && sweep.model_glob().empty()) {
    return absl::InvalidArgumentError("models, model_glob: give a model list or a glob");
  }
  if (sweep.models_size() > kMaxModels) {
    return absl::InvalidArgumentError(
        absl::StrCat("models: at most ", kMaxModels, " models, got ", sweep.models_size()));
  }
  std::set<std::string> keys;
  for (int i = 0; i < sweep.models_size(); ++i) {
    const v1::ModelRef& m = sweep.models(i);
    if (m.name().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("models[", i, "].name: must not be empty"));
    }
    if (!keys.insert(ModelKey(m)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("models[", i, "]: duplicate model \"", ModelKey(m), "\""));
    }
  }
  if (!sweep.model_glob().empty() && sweep.model_glob().front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("model_glob: \"", sweep.model_glob(), "\" must be an absolute path"));
  }
  if (sweep.spec().suite().empty() && sweep.spec().datasets_size() == 0) {
    return absl::InvalidArgumentError("spec: give a suite or datasets");
  }
  if (sweep.spec().limit() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec.limit: must be >= 0, got ", sweep.spec().limit()));
  }
  for (const char* reserved : {"sweep", "firing", "trigger"}) {
    if (sweep.spec().labels().count(reserved) > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.labels: \"", reserved, "\" is set by the sweep"));
    }
  }
  PROCTOR_RETURN_IF_ERROR(launcher_->Validate(sweep.spec()));
  if (sweep.spec().priority() == v1::PRIORITY_UNSPECIFIED) {
    sweep.mutable_spec()->set_priority(v1::PRIORITY_SWEEP);
  }
  if (sweep.time_zone().empty()) sweep.set_time_zone("UTC");
  // Output-only fields are not stored.
  sweep.set_paused(false);
  sweep.clear_created_at();
  sweep.clear_last_fired_slot();
  sweep.clear_next_slot();
  sweep.clear_last_error();
  SweepRecord record;
  record.definition = sweep;
  record.created_at = now;
  PROCTOR_RETURN_IF_ERROR(store_->Create(record));
  PROCTOR_LOG(INFO) << "sweep " << sweep.name() << " created (" << sweep.schedule() << " "
                    << sweep.time_zone() << ")";
  return View(record);
}

absl::StatusOr<v1::Sweep> SweepManager::Get(const std::string& name) {
  PROCTOR_ASSIGN_OR_RETURN(SweepRecord r, store_->Get(name));
  return View(r);
}

absl::StatusOr<std::vector<v1::Sweep>> SweepManager::List() {
  PROCTOR_ASSIGN_OR_RETURN(std::vector<SweepRecord> records, store_->List());
  std::vector<v1::Sweep> out;
  for (const SweepRecord& r : records) {
    PROCTOR_ASSIGN_OR_RETURN(v1::Sweep s, View(r));
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<v1::Sweep> SweepManager::Pause(const std::string& name) {
  PROCTOR_RETURN_IF_ERROR(store_->SetPaused(name, true, absl::InfinitePast()));
  return Get(name);
}

absl::StatusOr<v1::Sweep> SweepManager::Resume(const std::string& name) {
  absl::MutexLock lock(&fire_mu_);
  PROCTOR_ASSIGN_OR_RETURN(SweepRecord r, store_->Get(name));
  if (r.paused) PROCTOR_RETURN_IF_ERROR(store_->SetPaused(name, false, clock_->Now()));
  return Get(name);
}

absl::Status SweepManager::Delete(const std::string& name) {
  absl::MutexLock lock(&fire_mu_);
  PROCTOR_RETURN_IF_ERROR(store_->Delete(name));
  absl::MutexLock elock(&errors_mu_);
  last_error_.erase(name);
  return absl::OkStatus();
}

absl::StatusOr<v1::TriggerSweepResponse> SweepManager::Trigger(const std::string& name) {
  absl::MutexLock lock(&fire_mu_);
  PROCTOR_ASSIGN_OR_RETURN(SweepRecord r, store_->Get(name));
  const absl::Time now = absl::FromUnixSeconds(absl::ToUnixSeconds(clock_->Now()));
  v1::TriggerSweepResponse out;
  PROCTOR_ASSIGN_OR_RETURN(std::vector<std::string> ids, Fire(r, now, /*manual=*/true));
  if (ids.empty()) {
    absl::MutexLock elock(&errors_mu_);
    auto it = last_error_.find(name);
    if (it != last_error_.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("sweep ", name, " created no run: ", it->second));
    }
  }
  for (std::string& id : ids) out.add_run_ids(std::move(id));
  SetTimestamp(now, out.mutable_firing());
  return out;
}

absl::StatusOr<std::vector<std::string>> SweepManager::Fire(const SweepRecord& record,
                                                            absl::Time slot, bool manual) {
  const v1::Sweep& sweep = record.definition;
  std::vector<v1::ModelRef> models(sweep.models().begin(), sweep.models().end());
  std::vector<std::string> problems;
  if (!sweep.model_glob().empty()) {
    PROCTOR_ASSIGN_OR_RETURN(models, ExpandModelGlob(sweep.model_glob(), sweep.spec().model()));
    if (models.empty())
      problems.push_back(absl::StrCat("glob ", sweep.model_glob(), " matched nothing"));
  }
  std::map<std::string, std::string> labels = {{"sweep", sweep.name()},
                                               {"firing", FiringLabel(slot)}};
  if (manual) labels["trigger"] = "manual";
  PROCTOR_ASSIGN_OR_RETURN(std::vector<v1::Run> existing, launcher_->FindRuns(labels));
  std::set<std::string> done;
  for (const v1::Run& run : existing) {
    // A manual trigger in the same second is not this scheduled firing.
    if (!manual && run.spec().labels().count("trigger") > 0) continue;
    done.insert(ModelKey(run.spec().model()));
  }
  std::vector<std::string> ids;
  for (const v1::ModelRef& m : models) {
    if (done.count(ModelKey(m)) > 0) continue;
    v1::RunSpec spec = sweep.spec();
    *spec.mutable_model() = m;
    for (const auto& [k, v] : labels) (*spec.mutable_labels())[k] = v;
    absl::StatusOr<std::string> id = launcher_->Submit(std::move(spec));
    if (!id.ok()) {
      // Retry later only when the coordinator itself is unavailable; a run
      // it refuses (bad model, bad suite) is reported and skipped.
      if (id.status().code() == absl::StatusCode::kUnavailable ||
          id.status().code() == absl::StatusCode::kInternal) {
        return id.status();
      }
      problems.push_back(absl::StrCat("model ", m.name(), ": ", id.status().ToString()));
      continue;
    }
    ids.push_back(*id);
  }
  PROCTOR_LOG(INFO) << "sweep " << sweep.name() << " fired for " << FiringLabel(slot) << ": "
                    << ids.size() << " run(s)" << (manual ? " (manual trigger)" : "");
  absl::MutexLock lock(&errors_mu_);
  if (problems.empty()) {
    last_error_.erase(sweep.name());
  } else {
    last_error_[sweep.name()] = absl::StrJoin(problems, "; ");
    PROCTOR_LOG(WARNING) << "sweep " << sweep.name() << ": " << last_error_[sweep.name()];
  }
  return ids;
}

absl::Status SweepManager::TickOne(const SweepRecord& record) {
  const std::string& name = record.definition.name();
  if (record.pending_slot != absl::InfinitePast()) {
    // A firing interrupted by a crash: finish it (existing runs are skipped).
    PROCTOR_RETURN_IF_ERROR(Fire(record, record.pending_slot, false).status());
    return store_->FinishFiring(name, record.pending_slot);
  }
  if (record.paused) return absl::OkStatus();
  PROCTOR_ASSIGN_OR_RETURN(CronSchedule cron, CronSchedule::Parse(record.definition.schedule(),
                                                                  record.definition.time_zone()));
  const absl::Time now = clock_->Now();
  absl::StatusOr<absl::Time> next =
      cron.NextAfter(std::max(record.created_at, record.last_fired_slot));
  if (!next.ok() || *next > now) return absl::OkStatus();
  absl::Time slot = *next;
  for (int i = 0; i < kMaxCatchUpSlots; ++i) {
    absl::StatusOr<absl::Time> later = cron.NextAfter(slot);
    if (!later.ok() || *later > now) break;
    slot = *later;
  }
  PROCTOR_RETURN_IF_ERROR(store_->BeginFiring(name, slot));
  PROCTOR_RETURN_IF_ERROR(Fire(record, slot, false).status());
  return store_->FinishFiring(name, slot);
}

absl::Status SweepManager::Tick() {
  absl::MutexLock lock(&fire_mu_);
  PROCTOR_ASSIGN_OR_RETURN(std::vector<SweepRecord> records, store_->List());
  absl::Status first;
  for (const SweepRecord& r : records) {
    absl::Status s = TickOne(r);
    if (!s.ok()) {
      PROCTOR_LOG(WARNING) << "sweep " << r.definition.name() << ": " << s;
      if (first.ok()) first = s;
    }
  }
  return first;
}

void SweepManager::StartBackground(absl::Duration period) {
  absl::MutexLock lock(&thread_mu_);
  if (!timer_) {
    timer_ = std::make_unique<PeriodicThread>(
        period,
        [this] {
          if (absl::Status s = Tick(); !s.ok()) {
            PROCTOR_LOG(WARNING) << "sweeps: " << s;
          }
        },
        PeriodicThread::Start::kImmediately);
  }
}

void SweepManager::Shutdown() {
  std::unique_ptr<PeriodicThread> timer;
  {
    absl::MutexLock lock(&thread_mu_);
    timer = std::move(timer_);
  }
  timer.reset();
}

}  // namespace proctor::coordinator
