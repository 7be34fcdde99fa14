#include "coordinator/store/sweep_store.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "coordinator/store/migrations.h"

namespace proctor::coordinator {
namespace {

constexpr int kBusyTimeoutMs = 10000;

void BindTime(sqlite::Statement& s, int index, absl::Time t) {
  if (t == absl::InfinitePast()) {
    s.BindNull(index);
  } else {
    s.BindInt64(index, absl::ToUnixMicros(t));
  }
}

absl::Time ColumnTime(const sqlite::Statement& s, int col) {
  return s.ColumnIsNull(col) ? absl::InfinitePast() : absl::FromUnixMicros(s.ColumnInt64(col));
}

constexpr char kSelect[] =
    "SELECT definition, paused, created_at_us, last_fired_slot_us, pending_slot_us FROM sweeps";

absl::StatusOr<SweepRecord> ReadRow(const sqlite::Statement& s, const std::string& path) {
  SweepRecord r;
  absl::string_view blob = s.ColumnBlob(0);
  if (!r.definition.ParseFromArray(blob.data(), static_cast<int>(blob.size()))) {
    return absl::DataLossError(absl::StrCat("store ", path, ": a sweep definition does not parse"));
  }
  r.paused = s.ColumnInt64(1) != 0;
  r.created_at = absl::FromUnixMicros(s.ColumnInt64(2));
  r.last_fired_slot = ColumnTime(s, 3);
  r.pending_slot = ColumnTime(s, 4);
  return r;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SweepStore>> SweepStore::Open(const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("store path is empty");
  PROCTOR_ASSIGN_OR_RETURN(
      std::unique_ptr<sqlite::Connection> db,
      sqlite::Connection::Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE));
  const int rc = sqlite3_busy_timeout(db->db(), kBusyTimeoutMs);
  if (rc != SQLITE_OK) return sqlite::SqliteStatus(rc, db->db(), "setting busy_timeout", path);
  PROCTOR_ASSIGN_OR_RETURN(SchemaInfo info, ReadSchemaInfo(*db));
  PROCTOR_RETURN_IF_ERROR(CheckSchemaCompatible(info, path));
  if (path != ":memory:") {
    PROCTOR_ASSIGN_OR_RETURN(std::string mode, db->QueryText("PRAGMA journal_mode = WAL"));
    (void)mode;
  }
  PROCTOR_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous = FULL"));
  PROCTOR_RETURN_IF_ERROR(ApplyMigrations(*db).status());
  return std::unique_ptr<SweepStore>(new SweepStore(std::move(db)));
}

absl::Status SweepStore::Create(const SweepRecord& record) {
  absl::MutexLock lock(&mu_);
  PROCTOR_ASSIGN_OR_RETURN(
      sqlite::Statement s,
      db_->Prepare("INSERT INTO sweeps (name, definition, paused, created_at_us, "
                   "last_fired_slot_us, pending_slot_us) VALUES (?, ?, ?, ?, ?, ?) "
                   "ON CONFLICT (name) DO NOTHING"));
  s.BindText(1, record.definition.name());
  s.BindBlob(2, record.definition.SerializeAsString());
  s.BindInt64(3, record.paused ? 1 : 0);
  s.BindInt64(4, absl::ToUnixMicros(record.created_at));
  BindTime(s, 5, record.last_fired_slot);
  BindTime(s, 6, record.pending_slot);
  PROCTOR_RETURN_IF_ERROR(s.Run());
  if (s.Changes() == 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("name: a sweep named \"", record.definition.name(), "\" already exists"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SweepRecord> SweepStore::Get(const std::string& name) {
  absl::MutexLock lock(&mu_);
  PROCTOR_ASSIGN_OR_RETURN(sqlite::Statement s,
                           db_->Prepare(absl::StrCat(kSelect, " WHERE name = ?")));
  s.BindText(1, name);
  PROCTOR_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("no sweep named \"", name, "\""));
  return ReadRow(s, db_->path());
}

absl::StatusOr<std::vector<SweepRecord>> SweepStore::List() {
  absl::MutexLock lock(&mu_);
  PROCTOR_ASSIGN_OR_RETURN(sqlite::Statement s,
                           db_->Prepare(absl::StrCat(kSelect, " ORDER BY name")));
  std::vector<SweepRecord> out;
  while (true) {
    PROCTOR_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    PROCTOR_ASSIGN_OR_RETURN(SweepRecord r, ReadRow(s, db_->path()));
    out.push_back(std::move(r));
  }
  return out;
}

absl::Status SweepStore::UpdateOne(const std::string& sql, const std::string& name,
                                   const std::vector<int64_t>& ints) {
  PROCTOR_ASSIGN_OR_RETURN(sqlite::Statement s, db_->Prepare(sql));
  int i = 1;
  for (int64_t v : ints) {
    if (v == INT64_MIN) {
      s.BindNull(i++);
    } else {
      s.BindInt64(i++, v);
    }
  }
  s.BindText(i, name);
  PROCTOR_RETURN_IF_ERROR(s.Run());
  if (s.Changes() == 0) return absl::NotFoundError(absl::StrCat("no sweep named \"", name, "\""));
  return absl::OkStatus();
}

absl::Status SweepStore::Delete(const std::string& name) {
  absl::MutexLock lock(&mu_);
  return UpdateOne("DELETE FROM sweeps WHERE name = ?", name, {});
}

absl::Status SweepStore::SetPaused(const std::string& name, bool paused, absl::Time resume_from) {
  absl::MutexLock lock(&mu_);
  if (resume_from == absl::InfinitePast()) {
    return UpdateOne("UPDATE sweeps SET paused = ? WHERE name = ?", name, {paused ? 1 : 0});
  }
  return UpdateOne(
      "UPDATE sweeps SET paused = ?, last_fired_slot_us = max(coalesce(last_fired_slot_us, ?), ?) "
      "WHERE name = ?",
      name, {paused ? 1 : 0, absl::ToUnixMicros(resume_from), absl::ToUnixMicros(resume_from)});
}

absl::Status SweepStore::BeginFiring(const std::string& name, absl::Time slot) {
  absl::MutexLock lock(&mu_);
  return UpdateOne("UPDATE sweeps SET pending_slot_us = ? WHERE name = ?", name,
                   {absl::ToUnixMicros(slot)});
}

absl::Status SweepStore::FinishFiring(const std::string& name, absl::Time slot) {
  absl::MutexLock lock(&mu_);
  return UpdateOne(
      "UPDATE sweeps SET last_fired_slot_us = max(coalesce(last_fired_slot_us, ?), ?), "
      "pending_slot_us = NULL WHERE name = ?",
      name, {absl::ToUnixMicros(slot), absl::ToUnixMicros(slot)});
}

}  // namespace proctor::coordinator
