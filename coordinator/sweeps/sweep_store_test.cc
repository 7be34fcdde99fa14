// SweepStore on real SQLite files: round trip, firing marks, errors, and
// refusal of files that are not Proctor stores.
#include "coordinator/store/sweep_store.h"

#include <sqlite3.h>

#include "coordinator/store/migrations.h"
#include "coordinator/store/store_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::coordinator {
namespace {

using ::testing::HasSubstr;

SweepRecord Record(const std::string& name) {
  SweepRecord r;
  r.definition.set_name(name);
  r.definition.set_schedule("0 2 * * *");
  r.definition.add_models()->set_name("m");
  r.created_at = absl::FromUnixSeconds(1'800'000'000);
  return r;
}

TEST(SweepStoreTest, RoundTripAndFiringMarks) {
  ScratchDir dir;
  const std::string path = dir.File("store.db");
  {
    absl::StatusOr<std::unique_ptr<SweepStore>> s = SweepStore::Open(path);
    ASSERT_TRUE(s.ok()) << s.status();
    ASSERT_TRUE((*s)->Create(Record("b")).ok());
    ASSERT_TRUE((*s)->Create(Record("a")).ok());
    EXPECT_EQ((*s)->Create(Record("a")).code(), absl::StatusCode::kAlreadyExists);
    const absl::Time slot = absl::FromUnixSeconds(1'800'003'600);
    ASSERT_TRUE((*s)->BeginFiring("a", slot).ok());
    absl::StatusOr<SweepRecord> a = (*s)->Get("a");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->pending_slot, slot);
    EXPECT_EQ(a->last_fired_slot, absl::InfinitePast());
    ASSERT_TRUE((*s)->FinishFiring("a", slot).ok());
    // An older slot never moves last_fired_slot backwards.
    ASSERT_TRUE((*s)->FinishFiring("a", slot - absl::Hours(1)).ok());
    ASSERT_TRUE((*s)->SetPaused("b", true, absl::InfinitePast()).ok());
    EXPECT_EQ((*s)->BeginFiring("zz", slot).code(), absl::StatusCode::kNotFound);
    EXPECT_EQ((*s)->Delete("zz").code(), absl::StatusCode::kNotFound);
  }
  absl::StatusOr<std::unique_ptr<SweepStore>> s = SweepStore::Open(path);  // reopen
  ASSERT_TRUE(s.ok()) << s.status();
  absl::StatusOr<std::vector<SweepRecord>> all = (*s)->List();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].definition.name(), "a");
  EXPECT_EQ((*all)[0].last_fired_slot, absl::FromUnixSeconds(1'800'003'600));
  EXPECT_EQ((*all)[0].pending_slot, absl::InfinitePast());
  EXPECT_EQ((*all)[0].created_at, absl::FromUnixSeconds(1'800'000'000));
  EXPECT_TRUE((*all)[1].paused);
  // Resuming moves last_fired_slot forward to the resume time.
  const absl::Time resume = absl::FromUnixSeconds(1'900'000'000);
  ASSERT_TRUE((*s)->SetPaused("b", false, resume).ok());
  EXPECT_EQ((*s)->Get("b")->last_fired_slot, resume);
  EXPECT_FALSE((*s)->Get("b")->paused);
  ASSERT_TRUE((*s)->Delete("b").ok());
  EXPECT_EQ((*s)->Get("b").status().code(), absl::StatusCode::kNotFound);
}

TEST(SweepStoreTest, RefusesForeignAndNewerFiles) {
  ScratchDir dir;
  const std::string foreign = dir.File("foreign.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(foreign.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t (x)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  absl::StatusOr<std::unique_ptr<SweepStore>> s = SweepStore::Open(foreign);
  ASSERT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.status().message(), HasSubstr("not a Proctor store"));

  const std::string newer = dir.File("newer.db");
  ASSERT_TRUE(SweepStore::Open(newer).ok());
  ASSERT_EQ(sqlite3_open(newer.c_str(), &db), SQLITE_OK);
  const std::string bump = "PRAGMA user_version = " + std::to_string(LatestSchemaVersion() + 1);
  ASSERT_EQ(sqlite3_exec(db, bump.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  EXPECT_EQ(SweepStore::Open(newer).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(SweepStore::Open("").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace proctor::coordinator
