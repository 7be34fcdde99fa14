#include "coordinator/store/migrations.h"

#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "coordinator/store/sqlite_connection.h"
#include "coordinator/store/sqlite_store.h"
#include "coordinator/store/store_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proctor/v1/worker.pb.h"

namespace proctor::coordinator {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<sqlite::Connection> OpenRaw(const std::string& path) {
  absl::StatusOr<std::unique_ptr<sqlite::Connection>> db =
      sqlite::Connection::Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  EXPECT_TRUE(db.ok()) << db.status();
  return db.ok() ? std::move(*db) : nullptr;
}

int64_t CountIndex(sqlite::Connection& db, const std::string& name) {
  return *db.QueryInt64(absl::StrCat(
      "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = '", name, "'"));
}

TEST(MigrationsTest, VersionsAreContiguousFromOne) {
  int expected = 1;
  for (const Migration& m : AllMigrations()) {
    EXPECT_EQ(m.version, expected++);
    EXPECT_NE(std::string(m.description), "");
  }
  EXPECT_EQ(LatestSchemaVersion(), expected - 1);
}

TEST(MigrationsTest, FreshDatabaseGetsLatestSchemaAndApplicationId) {
  ScratchDir dir;
  auto db = OpenRaw(dir.File("fresh.db"));
  ASSERT_NE(db, nullptr);
  absl::StatusOr<int> version = ApplyMigrations(*db);
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, LatestSchemaVersion());
  absl::StatusOr<SchemaInfo> info = ReadSchemaInfo(*db);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->application_id, kProctorApplicationId);
  EXPECT_EQ(info->user_version, LatestSchemaVersion());
  EXPECT_TRUE(info->has_tables);
  EXPECT_TRUE(CheckSchemaCompatible(*info, "fresh.db").ok());
  // Applying again is a no-op.
  EXPECT_EQ(*ApplyMigrations(*db), LatestSchemaVersion());
  EXPECT_EQ(*db->QueryInt64("SELECT value FROM meta WHERE key = 'fencing_high_water'"), 0);
}

TEST(MigrationsTest, OldVersionFileIsMigratedOnOpenKeepingItsData) {
  ScratchDir dir;
  const std::string path = dir.File("v1.db");
  {
    auto db = OpenRaw(path);
    ASSERT_NE(db, nullptr);
    ASSERT_EQ(*ApplyMigrations(*db, 1), 1);
    EXPECT_EQ(CountIndex(*db, "jobs_active"), 0);
    // Data written by a version-1 coordinator, with the version-1 schema.
    v1::RunSpec spec;
    spec.set_suite("base");
    v1::Job payload;
    payload.add_prefixes("shots");
    v1::Output output;
    output.set_request_id(7);
    output.mutable_generate()->set_text("42");
    ASSERT_TRUE(db->Exec("INSERT INTO runs (run_id, spec, state, created_at_us, finished_at_us, "
                         "failure_reason) VALUES ('old-run', x'" +
                         absl::BytesToHexString(spec.SerializeAsString()) +
                         "', 2, 1700000000000000, NULL, '')")
                    .ok());
    ASSERT_TRUE(db->Exec("INSERT INTO jobs (run_seq, index_in_run, state, attempts, "
                         "fencing_token, worker_id, lease_expires_at_us, not_before_us, "
                         "failure_reason, model_key, priority, submitter, judge, "
                         "estimated_tokens, num_requests, tensor_parallel, "
                         "min_gpu_memory_bytes, backend) VALUES (1, 0, 2, 1, 3, 'w1', NULL, "
                         "NULL, '', 'm', 1, 'bob', 0, 10, 1, 0, 0, '')")
                    .ok());
    ASSERT_TRUE(db->Exec("INSERT INTO job_payloads (job_id, payload) VALUES (1, x'" +
                         absl::BytesToHexString(payload.SerializeAsString()) + "')")
                    .ok());
    ASSERT_TRUE(db->Exec("INSERT INTO outputs (run_seq, request_id, job_id, output) VALUES "
                         "(1, 7, 1, x'" +
                         absl::BytesToHexString(output.SerializeAsString()) + "')")
                    .ok());
    ASSERT_TRUE(db->Exec("UPDATE meta SET value = 41 WHERE key = 'fencing_high_water'").ok());
  }

  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<RunRecord> run = (*store)->GetRun("old-run");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->spec.suite(), "base");
  EXPECT_EQ(run->state, v1::RUN_STATE_RUNNING);
  absl::StatusOr<std::vector<JobRecord>> active = (*store)->LoadActiveJobs();
  ASSERT_TRUE(active.ok()) << active.status();
  ASSERT_EQ(active->size(), 1u);
  EXPECT_EQ((*active)[0].worker_id, "w1");
  EXPECT_EQ((*active)[0].run_id, "old-run");
  EXPECT_EQ((*store)->LoadJobPayload(1)->prefixes[0], "shots");
  absl::StatusOr<std::vector<v1::Output>> outputs = (*store)->LoadOutputs("old-run", {7});
  ASSERT_TRUE(outputs.ok());
  ASSERT_EQ(outputs->size(), 1u);
  EXPECT_EQ((*outputs)[0].generate().text(), "42");
  EXPECT_EQ(*(*store)->ReserveFencingTokens(1), 42);
  store->reset();

  auto db = OpenRaw(path);
  EXPECT_EQ(*db->QueryInt64("PRAGMA user_version"), LatestSchemaVersion());
  EXPECT_EQ(CountIndex(*db, "jobs_active"), 1);
  EXPECT_EQ(CountIndex(*db, "outputs_by_job"), 1);
}

TEST(MigrationsTest, FailingMigrationIsRolledBackAndNamed) {
  ScratchDir dir;
  auto db = OpenRaw(dir.File("clash.db"));
  ASSERT_NE(db, nullptr);
  // Claims to be a Proctor store at version 0 but already has a `runs` table,
  // so migration 1's CREATE TABLE runs fails.
  ASSERT_TRUE(db->Exec(absl::StrCat("PRAGMA application_id = ", kProctorApplicationId,
                                    "; CREATE TABLE runs (x);"))
                  .ok());
  absl::StatusOr<int> version = ApplyMigrations(*db);
  ASSERT_FALSE(version.ok());
  EXPECT_THAT(version.status().message(), HasSubstr("schema version 1"));
  EXPECT_THAT(version.status().message(), HasSubstr("already exists"));
  EXPECT_EQ(*db->QueryInt64("PRAGMA user_version"), 0);
  EXPECT_EQ(*db->QueryInt64("SELECT count(*) FROM sqlite_master WHERE name = 'meta'"), 0)
      << "the failed migration must leave nothing behind";
}

TEST(MigrationsTest, CheckSchemaCompatibleDecisions) {
  EXPECT_TRUE(CheckSchemaCompatible({0, 0, false}, "p").ok()) << "empty database";
  EXPECT_TRUE(CheckSchemaCompatible({kProctorApplicationId, 1, true}, "p").ok());
  absl::Status foreign = CheckSchemaCompatible({0, 0, true}, "/x/p.db");
  EXPECT_EQ(foreign.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(foreign.message(), HasSubstr("/x/p.db is a SQLite database but not a Proctor store"));
  EXPECT_EQ(CheckSchemaCompatible({0x12345678, 0, false}, "p").code(),
            absl::StatusCode::kFailedPrecondition);
  absl::Status newer =
      CheckSchemaCompatible({kProctorApplicationId, LatestSchemaVersion() + 5, true}, "/s.db");
  EXPECT_EQ(newer.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(newer.message(), HasSubstr("upgrade proctor"));
  EXPECT_EQ(ApplyMigrations(*OpenRaw(":memory:"), LatestSchemaVersion() + 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace proctor::coordinator
