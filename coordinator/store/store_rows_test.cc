#include "coordinator/store/store_rows.h"

#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "gtest/gtest.h"

namespace proctor::coordinator::store_rows {
namespace {

class StoreRowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<sqlite::Connection>> db =
        sqlite::Connection::Open(":memory:", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }
  // Binds `t` as ?1 of "SELECT ?1" and reads it back.
  absl::Time RoundTrip(absl::Time t) {
    absl::StatusOr<sqlite::Statement> stmt = db_->Prepare("SELECT ?1");
    EXPECT_TRUE(stmt.ok());
    BindTime(*stmt, 1, t);
    EXPECT_TRUE(*stmt->Step());
    return ColumnTime(*stmt, 0);
  }
  std::unique_ptr<sqlite::Connection> db_;
};

TEST_F(StoreRowsTest, TimesRoundTripAtMicrosecondResolution) {
  EXPECT_EQ(RoundTrip(absl::InfinitePast()), absl::InfinitePast());
  EXPECT_EQ(RoundTrip(absl::InfiniteFuture()), absl::InfiniteFuture());
  const absl::Time t = absl::FromUnixMicros(1'700'000'000'123'456);
  EXPECT_EQ(RoundTrip(t), t);
  EXPECT_EQ(RoundTrip(t + absl::Nanoseconds(999)), t) << "sub-microsecond part is truncated";
  EXPECT_EQ(RoundTrip(absl::UnixEpoch()), absl::UnixEpoch());
  EXPECT_EQ(RoundTrip(absl::FromUnixMicros(-5)), absl::FromUnixMicros(-5));
}

TEST(Int64ListTest, RoundTripsIncludingExtremes) {
  const std::vector<int64_t> values = {0,
                                       1,
                                       -1,
                                       255,
                                       256,
                                       std::numeric_limits<int64_t>::min(),
                                       std::numeric_limits<int64_t>::max(),
                                       1'234'567'890'123};
  const std::string blob = EncodeInt64s(values);
  EXPECT_EQ(blob.size(), values.size() * 8);
  EXPECT_EQ(blob.substr(8, 8), std::string("\x01\0\0\0\0\0\0\0", 8)) << "little-endian";
  absl::StatusOr<std::vector<int64_t>> decoded = DecodeInt64s(blob);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, values);
  EXPECT_TRUE(DecodeInt64s("")->empty());
}

TEST(Int64ListTest, TruncatedBlobIsDataLoss) {
  const std::string blob = EncodeInt64s({1, 2, 3});
  for (size_t cut : {1u, 7u, 9u, 23u}) {
    absl::StatusOr<std::vector<int64_t>> decoded = DecodeInt64s(blob.substr(0, cut));
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss) << cut;
  }
}

TEST(ValidateTest, RejectsEmptyIdsAndOutOfRangeEnums) {
  RunRecord run;
  run.run_id = "r";
  EXPECT_TRUE(ValidateRun(run).ok());
  run.state = v1::RUN_STATE_UNSPECIFIED;
  EXPECT_EQ(ValidateRun(run).code(), absl::StatusCode::kInvalidArgument);
  run.state = static_cast<v1::RunState>(99);
  EXPECT_EQ(ValidateRun(run).code(), absl::StatusCode::kInvalidArgument);
  run.state = v1::RUN_STATE_RUNNING;
  run.run_id.clear();
  EXPECT_EQ(ValidateRun(run).code(), absl::StatusCode::kInvalidArgument);

  JobRecord job;
  EXPECT_TRUE(ValidateJob(job).ok());
  job.priority = static_cast<v1::Priority>(-3);
  EXPECT_EQ(ValidateJob(job).code(), absl::StatusCode::kInvalidArgument);
  job.priority = v1::PRIORITY_BACKFILL;
  job.state = v1::JOB_STATE_UNSPECIFIED;
  EXPECT_EQ(ValidateJob(job).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace proctor::coordinator::store_rows
