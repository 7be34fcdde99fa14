#include "coordinator/sweeps/cron.h"

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace proctor::coordinator {
namespace {

struct FieldDef {
  const char* name;
  int min;
  int max;
  const char* const* names;  // nullable: symbolic names for min, min+1, ...
};

constexpr const char* kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr const char* kDayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

constexpr FieldDef kFields[] = {
    {"minute", 0, 59, nullptr},       {"hour", 0, 23, nullptr},
    {"day-of-month", 1, 31, nullptr}, {"month", 1, 12, kMonthNames},
    {"day-of-week", 0, 7, kDayNames},
};

absl::Status FieldError(const FieldDef& f, absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("schedule: ", f.name, " field \"", text, "\": ", why));
}

absl::StatusOr<int> ParseValue(const FieldDef& f, absl::string_view field, absl::string_view s) {
  if (f.names != nullptr && s.size() == 3) {
    std::string upper = absl::AsciiStrToUpper(s);
    const int count = f.max - f.min + 1 - (f.max == 7 ? 1 : 0);
    for (int i = 0; i < count; ++i) {
      if (upper == f.names[i]) return f.min + i;
    }
  }
  int v = 0;
  if (s.empty() || !absl::SimpleAtoi(s, &v) || s[0] == '+' || s[0] == '-') {
    return FieldError(f, field, absl::StrCat("\"", s, "\" is not a number"));
  }
  if (v < f.min || v > f.max) {
    return FieldError(f, field, absl::StrCat("value ", v, " out of range ", f.min, "-", f.max));
  }
  return v;
}

// Sets the bits of `field` in `bits` (index = value). Returns whether the
// field is "*"-based (unrestricted for day matching).
absl::StatusOr<bool> ParseField(const FieldDef& f, absl::string_view field,
                                std::vector<bool>& bits) {
  bits.assign(static_cast<size_t>(f.max + 1), false);
  if (field.empty()) return FieldError(f, field, "empty");
  bool star = field[0] == '*';
  for (absl::string_view item : absl::StrSplit(field, ',')) {
    if (item.empty()) return FieldError(f, field, "empty list item");
    absl::string_view range = item;
    int step = 1;
    size_t slash = item.find('/');
    if (slash != absl::string_view::npos) {
      range = item.substr(0, slash);
      absl::string_view st = item.substr(slash + 1);
      if (!absl::SimpleAtoi(st, &step) || st.empty() || st[0] == '+' || st[0] == '-' || step < 1 ||
          step > f.max) {
        return FieldError(f, field, absl::StrCat("bad step \"", st, "\""));
      }
    }
    int lo, hi;
    if (range == "*") {
      lo = f.min;
      hi = f.max == 7 ? 6 : f.max;
    } else {
      size_t dash = range.find('-');
      if (dash == absl::string_view::npos) {
        absl::StatusOr<int> v = ParseValue(f, field, range);
        if (!v.ok()) return v.status();
        lo = *v;
        hi = slash != absl::string_view::npos ? (f.max == 7 ? 6 : f.max) : *v;
      } else {
        absl::StatusOr<int> a = ParseValue(f, field, range.substr(0, dash));
        if (!a.ok()) return a.status();
        absl::StatusOr<int> b = ParseValue(f, field, range.substr(dash + 1));
        if (!b.ok()) return b.status();
        lo = *a;
        hi = *b;
        if (lo > hi) {
          return FieldError(f, field, absl::StrCat("range ", lo, "-", hi, " is backwards"));
        }
      }
    }
    for (int v = lo; v <= hi; v += step) bits[static_cast<size_t>(v)] = true;
  }
  return star;
}

}  // namespace

absl::StatusOr<CronSchedule> CronSchedule::Parse(const std::string& spec,
                                                 const std::string& time_zone) {
  CronSchedule s;
  s.spec_ = spec;
  s.tz_name_ = time_zone.empty() ? "UTC" : time_zone;
  if (!absl::LoadTimeZone(s.tz_name_, &s.tz_)) {
    return absl::InvalidArgumentError(
        absl::StrCat("time_zone: unknown time zone \"", s.tz_name_, "\""));
  }
  std::string text(absl::StripAsciiWhitespace(spec));
  if (!text.empty() && text[0] == '@') {
    const std::string macro = absl::AsciiStrToLower(text);
    if (macro == "@yearly" || macro == "@annually")
      text = "0 0 1 1 *";
    else if (macro == "@monthly")
      text = "0 0 1 * *";
    else if (macro == "@weekly")
      text = "0 0 * * 0";
    else if (macro == "@daily" || macro == "@midnight")
      text = "0 0 * * *";
    else if (macro == "@hourly")
      text = "0 * * * *";
    else {
      return absl::InvalidArgumentError(absl::StrCat(
          "schedule: unknown macro \"", text,
          "\" (known: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)"));
    }
  }
  std::vector<absl::string_view> fields =
      absl::StrSplit(text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (fields.size() != 5) {
    return absl::InvalidArgumentError(
        absl::StrCat("schedule: \"", spec, "\" has ", fields.size(),
                     " fields; expected 5 (minute hour day-of-month month day-of-week)"));
  }
  std::vector<bool> bits;
  for (size_t i = 0; i < 5; ++i) {
    absl::StatusOr<bool> star = ParseField(kFields[i], fields[i], bits);
    if (!star.ok()) return star.status();
    for (size_t v = 0; v < bits.size(); ++v) {
      if (!bits[v]) continue;
      switch (i) {
        case 0:
          s.minutes_.set(v);
          break;
        case 1:
          s.hours_.set(v);
          break;
        case 2:
          s.days_.set(v);
          break;
        case 3:
          s.months_.set(v);
          break;
        case 4:
          s.weekdays_.set(v % 7);
          break;
      }
    }
    if (i == 2) s.dom_star_ = *star;
    if (i == 4) s.dow_star_ = *star;
  }
  return s;
}

bool CronSchedule::DayMatches(const absl::CivilDay& day) const {
  if (!months_.test(static_cast<size_t>(day.month()))) return false;
  const bool dom = days_.test(static_cast<size_t>(day.day()));
  // absl::Weekday: Monday = 0 ... Sunday = 6; cron: Sunday = 0.
  const int wd = (static_cast<int>(absl::GetWeekday(day)) + 1) % 7;
  const bool dow = weekdays_.test(static_cast<size_t>(wd));
  if (dom_star_ || dow_star_) return dom && dow;
  return dom || dow;
}

bool CronSchedule::MatchesLocal(const absl::CivilMinute& local) const {
  return DayMatches(absl::CivilDay(local)) && hours_.test(static_cast<size_t>(local.hour())) &&
         minutes_.test(static_cast<size_t>(local.minute()));
}

absl::StatusOr<absl::Time> CronSchedule::NextAfter(absl::Time after) const {
  absl::CivilMinute c = absl::ToCivilMinute(after, tz_) + 1;
  // A repeated local time maps to its first occurrence, which may precede
  // `after`: keep searching from one hour before so that nothing is missed
  // around a backward change, and filter by instant.
  c -= 60;
  const absl::CivilMinute limit = c + int64_t{60} * 24 * 366 * 8;
  while (c < limit) {
    const absl::CivilDay day(c);
    if (!DayMatches(day)) {
      c = absl::CivilMinute(day + 1);
      continue;
    }
    if (!hours_.test(static_cast<size_t>(c.hour()))) {
      c = absl::CivilMinute(absl::CivilHour(c) + 1);
      continue;
    }
    if (minutes_.test(static_cast<size_t>(c.minute()))) {
      const absl::TimeZone::TimeInfo info = tz_.At(c);
      absl::Time t = info.pre;  // unique, or the first of a repeated time
      if (info.kind == absl::TimeZone::TimeInfo::SKIPPED) t = info.trans;
      if (t > after) return t;
    }
    c += 1;
  }
  return absl::NotFoundError(absl::StrCat("schedule: \"", spec_,
                                          "\" matches no time in the eight years after ",
                                          absl::FormatTime(after, tz_)));
}

}  // namespace proctor::coordinator
