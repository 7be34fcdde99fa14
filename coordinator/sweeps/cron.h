// Five-field cron schedules ("minute hour day-of-month month day-of-week")
// evaluated in an IANA time zone. Pure; thread-safe after construction.
//
// Syntax per field: "*", a value, a range "a-b", a step "*/s", "a-b/s" or
// "a/s" (a to the field's maximum), and comma-separated lists of those.
// Months accept JAN..DEC and days of week SUN..SAT (case-insensitive); day of
// week 7 is Sunday like 0. Macros: @yearly (@annually), @monthly, @weekly,
// @daily (@midnight), @hourly. As in Vixie cron, when both day-of-month and
// day-of-week are restricted (neither starts with "*"), a day matches when
// either matches.
//
// Time-zone rules (docs/sweeps.md): a slot whose local time does not exist
// (skipped by a forward DST change) fires at the instant of the change; a
// local time that occurs twice (backward change) fires once, at its first
// occurrence.
#ifndef PROCTOR_COORDINATOR_SWEEPS_CRON_H_
#define PROCTOR_COORDINATOR_SWEEPS_CRON_H_

#include <bitset>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace proctor::coordinator {

class CronSchedule {
 public:
  // Parses `spec` and loads `time_zone` ("UTC", "Europe/Berlin", ...; empty
  // means UTC). INVALID_ARGUMENT naming the field, e.g.
  // "schedule: hour field \"25\": value 25 out of range 0-23" or
  // "time_zone: unknown time zone \"Mars/Base\"".
  static absl::StatusOr<CronSchedule> Parse(const std::string& spec, const std::string& time_zone);

  // The first slot strictly after `after`. NOT_FOUND when the schedule
  // matches no time in the following eight years (e.g. "0 0 31 2 *").
  absl::StatusOr<absl::Time> NextAfter(absl::Time after) const;

  // True when the minute containing `t` (local time) matches the fields.
  bool MatchesLocal(const absl::CivilMinute& local) const;

  const std::string& spec() const { return spec_; }
  const std::string& time_zone_name() const { return tz_name_; }

 private:
  CronSchedule() = default;
  bool DayMatches(const absl::CivilDay& day) const;

  std::string spec_;
  std::string tz_name_;
  absl::TimeZone tz_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool dom_star_ = false;
  bool dow_star_ = false;
};

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_SWEEPS_CRON_H_
