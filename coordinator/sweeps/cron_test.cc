#include "coordinator/sweeps/cron.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::coordinator {
namespace {

using ::testing::HasSubstr;

absl::Time ParseUtc(const std::string& s) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime("%Y-%m-%d %H:%M:%S %z", s, &t, &err)) << s << ": " << err;
  return t;
}

std::string Fmt(absl::Time t, const std::string& tz) {
  absl::TimeZone zone;
  EXPECT_TRUE(absl::LoadTimeZone(tz, &zone));
  return absl::FormatTime("%Y-%m-%d %H:%M %z", t, zone);
}

struct NextCase {
  const char* spec;
  const char* tz;
  const char* after;  // "%Y-%m-%d %H:%M:%S %z"
  const char* next;   // formatted in tz
};

TEST(CronTest, NextAfterTable) {
  const NextCase cases[] = {
      {"* * * * *", "UTC", "2026-01-01 10:00:00 +0000", "2026-01-01 10:01 +0000"},
      {"* * * * *", "UTC", "2026-01-01 10:00:30 +0000", "2026-01-01 10:01 +0000"},
      {"0 2 * * *", "UTC", "2026-01-01 02:00:00 +0000", "2026-01-02 02:00 +0000"},
      {"*/15 * * * *", "UTC", "2026-01-01 10:07:00 +0000", "2026-01-01 10:15 +0000"},
      {"5-20/5 3 * * *", "UTC", "2026-01-01 03:10:00 +0000", "2026-01-01 03:15 +0000"},
      {"0 9 * * MON-FRI", "UTC", "2026-11-27 10:00:00 +0000", "2026-11-30 09:00 +0000"},  // Fri
      {"0 0 1,15 * *", "UTC", "2026-01-02 00:00:00 +0000", "2026-01-15 00:00 +0000"},
      {"0 0 29 2 *", "UTC", "2026-03-01 00:00:00 +0000", "2028-02-29 00:00 +0000"},
      {"30 4 1 * 0", "UTC", "2026-03-02 00:00:00 +0000", "2026-03-08 04:30 +0000"},  // Vixie OR
      {"0 0 * * 7", "UTC", "2026-11-27 00:00:00 +0000", "2026-11-29 00:00 +0000"},   // 7 = Sun
      {"0 12 * jan,Dec *", "UTC", "2026-02-01 00:00:00 +0000", "2026-12-01 12:00 +0000"},
      {"@daily", "Europe/Berlin", "2026-06-01 12:00:00 +0000", "2026-06-02 00:00 +0200"},
      {"@hourly", "UTC", "2026-06-01 12:00:00 +0000", "2026-06-01 13:00 +0000"},
      {" 0\t2  * * * ", "UTC", "2026-01-01 00:00:00 +0000", "2026-01-01 02:00 +0000"},
      {"0 2 * * *", "Asia/Kolkata", "2026-01-01 00:00:00 +0000", "2026-01-02 02:00 +0530"},
      // DST forward (America/New_York, 2026-03-08 02:00 → 03:00): 02:30
      // does not exist; it fires at the change (03:00 EDT), once.
      {"30 2 * * *", "America/New_York", "2026-03-07 12:00:00 +0000", "2026-03-08 03:00 -0400"},
      {"30 2 * * *", "America/New_York", "2026-03-08 07:00:00 +0000", "2026-03-09 02:30 -0400"},
      // DST backward (2026-11-01 02:00 EDT → 01:00 EST): 01:30 occurs twice
      // and fires at its first occurrence only.
      {"30 1 * * *", "America/New_York", "2026-10-31 12:00:00 +0000", "2026-11-01 01:30 -0400"},
      {"30 1 * * *", "America/New_York", "2026-11-01 05:30:00 +0000", "2026-11-02 01:30 -0500"},
      {"0 * * * *", "America/New_York", "2026-11-01 05:00:00 +0000", "2026-11-01 02:00 -0500"},
  };
  for (const NextCase& c : cases) {
    absl::StatusOr<CronSchedule> s = CronSchedule::Parse(c.spec, c.tz);
    ASSERT_TRUE(s.ok()) << c.spec << ": " << s.status();
    absl::StatusOr<absl::Time> next = s->NextAfter(ParseUtc(c.after));
    ASSERT_TRUE(next.ok()) << c.spec << ": " << next.status();
    EXPECT_EQ(Fmt(*next, c.tz), c.next) << c.spec << " in " << c.tz << " after " << c.after;
  }
}

TEST(CronTest, SkippedSlotsFireOnceAtTheChange) {
  // Every 10 minutes: 02:00..02:50 do not exist on 2026-03-08 in New York;
  // they collapse into one firing at 03:00 EDT, followed by 03:10.
  absl::StatusOr<CronSchedule> s = CronSchedule::Parse("*/10 * * * *", "America/New_York");
  ASSERT_TRUE(s.ok());
  absl::Time t = ParseUtc("2026-03-08 06:50:00 +0000");  // 01:50 EST
  t = *s->NextAfter(t);
  EXPECT_EQ(Fmt(t, "America/New_York"), "2026-03-08 03:00 -0400");
  t = *s->NextAfter(t);
  EXPECT_EQ(Fmt(t, "America/New_York"), "2026-03-08 03:10 -0400");
}

struct BadCase {
  const char* spec;
  const char* tz;
  const char* message;
};

TEST(CronTest, InvalidSpecsNameTheField) {
  const BadCase cases[] = {
      {"* * * *", "UTC", "has 4 fields; expected 5"},
      {"* * * * * *", "UTC", "has 6 fields"},
      {"", "UTC", "has 0 fields"},
      {"60 * * * *", "UTC", "minute field \"60\": value 60 out of range 0-59"},
      {"* 25 * * *", "UTC", "hour field \"25\": value 25 out of range 0-23"},
      {"* * 0 * *", "UTC", "day-of-month field \"0\""},
      {"* * * 13 *", "UTC", "month field \"13\""},
      {"* * * * 8", "UTC", "day-of-week field \"8\""},
      {"* * * FOO *", "UTC", "\"FOO\" is not a number"},
      {"*/0 * * * *", "UTC", "bad step \"0\""},
      {"*/x * * * *", "UTC", "bad step"},
      {"10-5 * * * *", "UTC", "range 10-5 is backwards"},
      {"1,,2 * * * *", "UTC", "empty list item"},
      {"-1 * * * *", "UTC", "minute field"},
      {"@sometimes", "UTC", "unknown macro"},
      {"* * * * *", "Mars/Olympus_Mons", "time_zone: unknown time zone \"Mars/Olympus_Mons\""},
  };
  for (const BadCase& c : cases) {
    absl::StatusOr<CronSchedule> s = CronSchedule::Parse(c.spec, c.tz);
    ASSERT_FALSE(s.ok()) << c.spec;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << c.spec;
    EXPECT_THAT(s.status().message(), HasSubstr(c.message)) << c.spec;
  }
}

TEST(CronTest, NeverFiringScheduleIsNotFound) {
  absl::StatusOr<CronSchedule> s = CronSchedule::Parse("0 0 31 2 *", "UTC");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->NextAfter(ParseUtc("2026-01-01 00:00:00 +0000")).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace proctor::coordinator
