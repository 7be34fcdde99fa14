// SqliteStore's result-cache table (schema migration 4). The key and the
// semantics are in docs/design/result-cache.md; this file only stores bytes.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "coordinator/store/sqlite_store.h"

namespace proctor::coordinator {

using sqlite::Connection;
using sqlite::Statement;

absl::Status SqliteStore::WriteCacheEntries(Connection& db, const OutputBatch& batch) {
  if (batch.cache_entries.empty()) return absl::OkStatus();
  const int64_t now_us =
      absl::ToUnixMicros(batch.now == absl::InfinitePast() ? absl::Now() : batch.now);
  // A new key is inserted; an existing one keeps its output (the first
  // answer stays the answer) and is marked used.
  PROCTOR_ASSIGN_OR_RETURN(
      Statement upsert,
      db.Prepare("INSERT INTO result_cache (key, output, created_at_us, last_used_at_us) "
                 "VALUES (?1, ?2, ?3, ?3) "
                 "ON CONFLICT (key) DO UPDATE SET last_used_at_us = excluded.last_used_at_us"));
  PROCTOR_ASSIGN_OR_RETURN(Statement exists,
                           db.Prepare("SELECT 1 FROM result_cache WHERE key = ?1"));
  int64_t added = 0;
  std::string blob;
  for (const CacheEntry& entry : batch.cache_entries) {
    if (entry.key.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("run ", batch.run_id, " job ", batch.job_id, ": empty result-cache key"));
    }
    if (entry.output.result_case() == v1::Output::RESULT_NOT_SET) {
      return absl::InvalidArgumentError(absl::StrCat("run ", batch.run_id, " job ", batch.job_id,
                                                     ": result-cache entry without a result"));
    }
    exists.BindBlob(1, entry.key);
    PROCTOR_ASSIGN_OR_RETURN(bool present, exists.Step());
    exists.Reset();
    v1::Output output = entry.output;
    output.clear_request_id();
    output.SerializeToString(&blob);
    upsert.BindBlob(1, entry.key);
    upsert.BindBlob(2, blob);
    upsert.BindInt64(3, now_us);
    PROCTOR_RETURN_IF_ERROR(upsert.Run());
    upsert.Reset();
    if (!present) ++added;
  }
  if (added == 0) return absl::OkStatus();
  PROCTOR_ASSIGN_OR_RETURN(
      int64_t total, db.QueryInt64("SELECT value FROM meta WHERE key = 'result_cache_entries'"));
  total += added;
  const int64_t bound = options_.result_cache_max_entries;
  if (bound > 0 && total > bound) {
    // Over the bound: drop the least recently used entries down to 99%.
    const int64_t keep = std::max<int64_t>(1, bound - bound / 100);
    PROCTOR_ASSIGN_OR_RETURN(
        Statement trim,
        db.Prepare("DELETE FROM result_cache WHERE key IN (SELECT key FROM result_cache "
                   "ORDER BY last_used_at_us, key LIMIT ?1)"));
    trim.BindInt64(1, total - keep);
    PROCTOR_RETURN_IF_ERROR(trim.Run());
    PROCTOR_LOG(INFO) << "result cache over its bound of " << bound << " entries: removed "
                      << trim.Changes() << " least recently used";
    total -= trim.Changes();
  }
  PROCTOR_ASSIGN_OR_RETURN(
      Statement count, db.Prepare("UPDATE meta SET value = ?1 WHERE key = 'result_cache_entries'"));
  count.BindInt64(1, total);
  return count.Run();
}

absl::StatusOr<std::vector<std::optional<v1::Output>>> SqliteStore::LookupCache(
    const std::vector<std::string>& keys) {
  std::vector<std::optional<v1::Output>> found(keys.size());
  if (keys.empty()) return found;
  absl::Status status = Read([&](Connection& db) -> absl::Status {
    PROCTOR_ASSIGN_OR_RETURN(Statement stmt,
                             db.Prepare("SELECT output FROM result_cache WHERE key = ?1"));
    for (size_t i = 0; i < keys.size(); ++i) {
      stmt.BindBlob(1, keys[i]);
      PROCTOR_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (row) {
        const absl::string_view blob = stmt.ColumnBlob(0);
        v1::Output output;
        if (!output.ParseFromArray(blob.data(), static_cast<int>(blob.size())) ||
            output.result_case() == v1::Output::RESULT_NOT_SET) {
          return absl::DataLossError(
              absl::StrCat("result cache entry ", absl::BytesToHexString(keys[i]),
                           ": stored output (", blob.size(), " bytes) does not parse"));
        }
        found[i] = std::move(output);
      }
      stmt.Reset();
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return found;
}

absl::StatusOr<int64_t> SqliteStore::CountCacheEntries() {
  int64_t count = 0;
  absl::Status status = Read([&](Connection& db) -> absl::Status {
    PROCTOR_ASSIGN_OR_RETURN(
        count, db.QueryInt64("SELECT value FROM meta WHERE key = 'result_cache_entries'"));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return count;
}

}  // namespace proctor::coordinator
