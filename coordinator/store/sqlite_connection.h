// A thin RAII layer over one sqlite3 connection: open/close, a cache of
// prepared statements, typed binding and stepping, and the mapping from SQLite
// result codes to absl::Status codes used by the whole store.
//
// Thread-safety: a Connection (and every Statement it hands out) must be used
// by one thread at a time; the owner serialises access. Connections are opened
// in SQLite's multi-thread mode (SQLITE_OPEN_NOMUTEX), so distinct connections
// may be used from distinct threads concurrently.
#ifndef PROCTOR_COORDINATOR_STORE_SQLITE_CONNECTION_H_
#define PROCTOR_COORDINATOR_STORE_SQLITE_CONNECTION_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace proctor::coordinator::sqlite {

// Maps SQLite (extended) result code `rc` to a Status whose code tells the
// caller how to react:
//   SQLITE_CORRUPT, SQLITE_NOTADB           -> DATA_LOSS
//   SQLITE_BUSY, SQLITE_LOCKED, SQLITE_FULL -> UNAVAILABLE (retry later)
//   SQLITE_CONSTRAINT, SQLITE_TOOBIG,
//   SQLITE_MISMATCH, SQLITE_RANGE           -> INVALID_ARGUMENT
//   SQLITE_CANTOPEN, SQLITE_PERM,
//   SQLITE_READONLY, SQLITE_AUTH            -> FAILED_PRECONDITION
//   SQLITE_NOMEM                            -> RESOURCE_EXHAUSTED
//   anything else (SQLITE_IOERR, ...)       -> INTERNAL
// The message is "<context>: <sqlite message> (sqlite error <rc>) in <path>".
// `db` may be null (then the generic text for `rc` is used).
absl::Status SqliteStatus(int rc, sqlite3* db, absl::string_view context, absl::string_view path);

// True for the primary result codes meaning "the file is not a sound
// database" (SQLITE_CORRUPT, SQLITE_NOTADB).
bool IsCorruptionCode(int rc);

// A prepared statement borrowed from a Connection's cache. On destruction it
// is reset and its bindings cleared, so the cache entry is ready for reuse.
// Bind errors are remembered and reported by the next Step().
// Movable, not copyable; must not outlive its Connection.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameters are 1-based, as in sqlite3_bind_*. Text and blobs are copied
  // by SQLite (SQLITE_TRANSIENT) unless `static_data` is used for blobs whose
  // storage outlives the next Step().
  void BindInt64(int index, int64_t value);
  void BindNull(int index);
  void BindText(int index, absl::string_view value);
  void BindBlob(int index, absl::string_view value);
  // Binds without copying; `value` must stay valid until the next Step()
  // (or the Statement's destruction) returns.
  void BindBlobNoCopy(int index, absl::string_view value);

  // Advances the statement. Returns true when a row is available, false when
  // the statement has finished, or the mapped error.
  absl::StatusOr<bool> Step();
  // Steps until done, ignoring rows. For INSERT/UPDATE/DELETE.
  absl::Status Run();
  // Resets the statement so it can be bound and stepped again (bindings are
  // kept until rebound).
  void Reset();

  // Column accessors for the current row (0-based).
  bool ColumnIsNull(int col) const;
  int64_t ColumnInt64(int col) const;
  // Views stay valid until the next Step()/Reset() or destruction.
  absl::string_view ColumnText(int col) const;
  absl::string_view ColumnBlob(int col) const;

  // sqlite3_changes() of the connection after the last completed Run().
  int64_t Changes() const;

 private:
  friend class Connection;
  Statement(sqlite3_stmt* stmt, sqlite3* db, const std::string* path)
      : stmt_(stmt), db_(db), path_(path) {}
  void NoteBind(int rc, int index);

  sqlite3_stmt* stmt_;
  sqlite3* db_;
  const std::string* path_;
  int bind_error_ = SQLITE_OK;
  int bind_error_index_ = 0;
};

class Connection {
 public:
  // Opens `path` with the given sqlite3_open_v2 flags (SQLITE_OPEN_NOMUTEX is
  // added). Enables extended result codes. Errors are mapped by SqliteStatus.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& path, int flags);

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  // Finalizes every cached statement and closes the connection.
  ~Connection();

  // Runs one or more SQL statements that return no rows we need.
  absl::Status Exec(absl::string_view sql);
  // Returns the cached prepared statement for `sql`, preparing it on first
  // use. At most one Statement for a given `sql` may be alive at a time.
  absl::StatusOr<Statement> Prepare(const std::string& sql);
  // Runs `sql` (e.g. "PRAGMA user_version") and returns the first column of
  // its first row as an integer; NOT_FOUND-free: a query without rows is
  // INTERNAL.
  absl::StatusOr<int64_t> QueryInt64(const std::string& sql);
  // Same, as text.
  absl::StatusOr<std::string> QueryText(const std::string& sql);

  sqlite3* db() const { return db_; }
  const std::string& path() const { return path_; }

 private:
  Connection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  sqlite3* db_;
  std::string path_;
  absl::flat_hash_map<std::string, sqlite3_stmt*> statements_;
};

}  // namespace proctor::coordinator::sqlite

#endif  // PROCTOR_COORDINATOR_STORE_SQLITE_CONNECTION_H_
