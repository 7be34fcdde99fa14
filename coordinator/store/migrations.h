// The store's schema history: an ordered list of migrations, each bringing
// the schema from version N-1 to N. The version lives in the SQLite header
// (PRAGMA user_version); a Proctor store is recognised by its application id
// (PRAGMA application_id = kProctorApplicationId). See docs/design/store.md.
//
// Policy: migrations are append-only. A released migration is never edited;
// a schema change is a new migration with the next version number.
#ifndef PROCTOR_COORDINATOR_STORE_MIGRATIONS_H_
#define PROCTOR_COORDINATOR_STORE_MIGRATIONS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "coordinator/store/sqlite_connection.h"

namespace proctor::coordinator {

// "PRCT" in ASCII. Stored in every Proctor store's header by migration 1.
inline constexpr int32_t kProctorApplicationId = 0x50524354;

struct Migration {
  int version;              // 1, 2, ...: the schema version after this migration
  const char* description;  // one line, for logs and errors
  const char* sql;          // statements run inside the migration's transaction
};

// Every migration, ordered by version (versions are 1..N without gaps).
absl::Span<const Migration> AllMigrations();

// The newest schema version this binary knows (= AllMigrations().back().version).
int LatestSchemaVersion();

// What an existing file's header says about it.
struct SchemaInfo {
  int32_t application_id = 0;
  int64_t user_version = 0;
  bool has_tables = false;  // any table in sqlite_master
};

// Reads application_id, user_version and whether any table exists. Reads
// only; never writes. Errors are mapped as in sqlite::SqliteStatus (a
// non-database file is DATA_LOSS).
absl::StatusOr<SchemaInfo> ReadSchemaInfo(sqlite::Connection& db);

// Decides whether a file with `info` may be opened by this binary:
//  * an empty database (no application id, version 0, no tables) is OK (new);
//  * a foreign SQLite file (other application id, or tables without our id)
//    is FAILED_PRECONDITION "... is a SQLite database but not a Proctor store";
//  * a version newer than LatestSchemaVersion() is FAILED_PRECONDITION
//    "store at PATH has schema version N, this proctor-coordinator supports
//    up to M; upgrade proctor".
absl::Status CheckSchemaCompatible(const SchemaInfo& info, const std::string& path);

// Applies, in order, every migration whose version is above the file's
// current user_version and at most `target_version`, each in its own
// BEGIN IMMEDIATE transaction together with the user_version bump (and, for
// version 1, the application id). On failure the failing migration is rolled
// back (earlier ones stay committed) and the status names its version and
// description. Returns the resulting version. `target_version` defaults to
// the latest; tests use a smaller one to build old-version files.
absl::StatusOr<int> ApplyMigrations(sqlite::Connection& db, int target_version = -1);

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_STORE_MIGRATIONS_H_
