#include "cli/proctor_cli.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cli/compare_format.h"
#include "cli/coordinator_client.h"
#include "cli/datasets_command.h"
#include "cli/exit_codes.h"
#include "cli/flag_parser.h"
#include "cli/listing_format.h"
#include "cli/output_format.h"
#include "cli/progress.h"
#include "cli/report_command.h"
#include "cli/results_format.h"
#include "cli/run_spec_flags.h"
#include "cli/sweep_format.h"
#include "common/status_macros.h"

namespace proctor::cli {
namespace {

namespace pb = ::proctor::v1;

constexpr absl::Duration kDefaultTimeout = absl::Seconds(30);

// Value flags that may appear before the command (--format belongs to the
// commands that list things, but "proctor --format=json runs" reads well).
constexpr const char* kGlobalValueFlags[] = {"coordinator", "timeout",     "format",
                                             "ca-cert",     "client-cert", "client-key"};

void AddGlobalFlags(FlagParser* parser, const CliEnv& env) {
  parser->AddValue("coordinator", "HOST:PORT",
                   absl::StrCat("coordinator address (default $PROCTOR_COORDINATOR, else ",
                                "127.0.0.1:50051; now ", env.default_coordinator, ")"));
  parser->AddValue("timeout", "DURATION", "deadline of each call, e.g. 10s, 500ms (default 30s)");
  parser->AddSwitch("tls", "use TLS with the system's root certificates");
  parser->AddValue("ca-cert", "FILE",
                   "use TLS, trusting this PEM CA bundle (default $PROCTOR_CA_CERT)");
  parser->AddValue("client-cert", "FILE", "PEM client certificate for mTLS (with --client-key)");
  parser->AddValue("client-key", "FILE", "PEM private key of --client-cert");
}

// Reads a whole PEM file named by a flag; the error names the flag.
absl::StatusOr<std::string> ReadPemFlag(absl::string_view flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": cannot read \"", path, "\""));
  }
  std::ostringstream data;
  data << in.rdbuf();
  if (data.str().find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": \"", path, "\" is not a PEM file"));
  }
  return data.str();
}

void AddFormatFlag(FlagParser* parser) {
  parser->AddValue("format", "FORMAT", "output format: table (default), json, csv or md");
}

// What every command gets after parsing.
struct Invocation {
  const CliEnv* env;
  const char* command;
  ParsedFlags flags;
  std::ostream& out() const { return *env->out; }
  std::ostream& err() const { return *env->err; }
};

// A command: its flags and what it does.
struct Command {
  const char* name;
  const char* summary;
  std::string usage;
  std::string description;
  void (*add_flags)(FlagParser*);
  int (*run)(const Invocation&);
  size_t min_positional;
  size_t max_positional;
};

int UsageError(const CliEnv& env, absl::string_view message, absl::string_view command) {
  *env.err << "proctor: " << message << "\n";
  if (command.empty()) {
    *env.err << TopLevelUsage(env);
  } else {
    *env.err << "run 'proctor " << command << " --help' for usage\n";
  }
  return kExitUsage;
}

int ServerError(const Invocation& inv, const absl::Status& status) {
  inv.err() << FormatStatusForUser(status) << "\n";
  return ExitCodeForStatus(status);
}

// Validates the global flags and builds the client. On a bad flag value
// prints it and returns nullptr with *exit_code set.
std::unique_ptr<CoordinatorClient> Connect(const Invocation& inv, int* exit_code) {
  const std::string target = inv.flags.Get("coordinator").value_or(inv.env->default_coordinator);
  if (target.empty()) {
    *exit_code = UsageError(*inv.env, "--coordinator: must not be empty", inv.command);
    return nullptr;
  }
  absl::Duration timeout = kDefaultTimeout;
  if (auto text = inv.flags.Get("timeout")) {
    double seconds = 0;
    if (absl::SimpleAtod(*text, &seconds)) {
      timeout = std::isfinite(seconds) ? absl::Seconds(seconds) : absl::ZeroDuration();
    } else if (!absl::ParseDuration(*text, &timeout)) {
      timeout = absl::ZeroDuration();
    }
    if (timeout <= absl::ZeroDuration() || timeout == absl::InfiniteDuration()) {
      *exit_code = UsageError(
          *inv.env,
          absl::StrCat("--timeout: expected a positive duration like 10s or 500ms, got \"", *text,
                       "\""),
          inv.command);
      return nullptr;
    }
  }
  CoordinatorClient::Options options;
  options.target = target;
  options.rpc_timeout = timeout;
  options.bearer_token = inv.env->token;
  options.tls = inv.flags.Has("tls");
  const std::string ca = inv.flags.Get("ca-cert").value_or(inv.env->default_ca_cert);
  const std::optional<std::string> cert = inv.flags.Get("client-cert");
  const std::optional<std::string> key = inv.flags.Get("client-key");
  if (cert.has_value() != key.has_value()) {
    *exit_code = UsageError(*inv.env, "--client-cert and --client-key go together", inv.command);
    return nullptr;
  }
  struct PemSource {
    const char* flag;
    std::string path;
    std::string* into;
  };
  const PemSource sources[] = {{"ca-cert", ca, &options.ca_cert_pem},
                               {"client-cert", cert.value_or(""), &options.client_cert_pem},
                               {"client-key", key.value_or(""), &options.client_key_pem}};
  for (const PemSource& source : sources) {
    if (source.path.empty()) continue;
    absl::StatusOr<std::string> pem = ReadPemFlag(source.flag, source.path);
    if (!pem.ok()) {
      *exit_code = UsageError(*inv.env, pem.status().message(), inv.command);
      return nullptr;
    }
    *source.into = *std::move(pem);
    options.tls = true;
  }
  return CoordinatorClient::Create(options);
}

absl::StatusOr<OutputFormat> FormatFlag(const Invocation& inv) {
  return ParseOutputFormat(inv.flags.Get("format").value_or("table"));
}

// ---------------------------------------------------------------------------
// watch (also used by submit --watch)

// Follows `run_id` until it ends, drawing progress on `os`. Returns the exit
// code of the run's final state, or of the error that stopped watching.
int FollowRun(const Invocation& inv, CoordinatorClient* client, const std::string& run_id,
              std::ostream& os, bool tty, absl::Duration interval) {
  const CliEnv& env = *inv.env;
  Clock* clock = env.clock != nullptr ? env.clock : RealClock::Get();
  ProgressThrottle throttle(interval);
  std::optional<pb::Run> last;
  bool drew_bar = false;
  int failures = 0;
  absl::Duration delay = env.watch_reconnect_delay;
  auto show = [&](const pb::Run& run, absl::Time at) {
    if (tty) {
      os << "\r" << RenderProgressBar(run, std::max(1, env.terminal_width - 1)) << "\x1b[K"
         << std::flush;
      drew_bar = true;
    } else if (throttle.ShouldPrint(run, clock->Now())) {
      os << RenderProgressLine(run, at) << "\n" << std::flush;
    }
  };
  while (true) {
    bool progressed = false;
    absl::Status status = client->WatchRun(run_id, [&](const pb::RunEvent& event) {
      progressed = true;
      last = event.run();
      const absl::Time at = event.has_time() ? absl::FromUnixSeconds(event.time().seconds()) +
                                                   absl::Nanoseconds(event.time().nanos())
                                             : clock->Now();
      show(event.run(), at);
      return !IsTerminal(event.run().state());
    });
    if (last.has_value() && IsTerminal(last->state())) break;
    if (!status.ok() && status.code() != absl::StatusCode::kUnavailable) {
      if (drew_bar) os << "\n";
      return ServerError(inv, status);
    }
    // The stream ended before the run did (coordinator restart, proxy
    // timeout): ask directly, then reconnect with backoff.
    absl::StatusOr<pb::Run> run = client->GetRun(run_id);
    if (run.ok()) {
      last = *run;
      if (IsTerminal(run->state())) {
        show(*run, clock->Now());
        break;
      }
    } else if (run.status().code() != absl::StatusCode::kUnavailable &&
               run.status().code() != absl::StatusCode::kDeadlineExceeded) {
      if (drew_bar) os << "\n";
      return ServerError(inv, run.status());
    }
    if (progressed) {
      failures = 0;
      delay = env.watch_reconnect_delay;
    }
    if (++failures > env.watch_max_reconnects) {
      if (drew_bar) os << "\n";
      if (status.ok()) status = run.status();
      if (status.ok()) {
        status = absl::UnavailableError(
            absl::StrCat("the progress stream of run ", run_id, " ended ", failures,
                         " times in a row without an event; giving up"));
      }
      return ServerError(inv, status);
    }
    absl::SleepFor(delay);
    delay = std::min(delay * 2, absl::Seconds(30));
  }
  if (drew_bar) os << "\n";
  os << RenderFinalLine(*last) << "\n" << std::flush;
  return ExitCodeForRunState(last->state());
}

absl::StatusOr<absl::Duration> IntervalFlag(const Invocation& inv) {
  absl::Duration interval = absl::Seconds(10);
  if (auto text = inv.flags.Get("interval")) {
    if (!absl::ParseDuration(*text, &interval) || interval < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--interval: expected a duration like 10s, got \"", *text, "\""));
    }
  }
  return interval;
}

void AddWatchFlags(FlagParser* p) {
  p->AddValue("interval", "DURATION",
              "when output is not a terminal, print a progress line at most this often "
              "(default 10s; state changes always print)");
}

int RunWatch(const Invocation& inv) {
  absl::StatusOr<absl::Duration> interval = IntervalFlag(inv);
  if (!interval.ok()) return UsageError(*inv.env, interval.status().message(), "watch");
  int code = 0;
  auto client = Connect(inv, &code);
  if (client == nullptr) return code;
  return FollowRun(inv, client.get(), inv.flags.positional()[0], inv.out(), inv.env->out_is_tty,
                   *interval);
}

// ---------------------------------------------------------------------------
// submit

void AddSubmitAndWatchFlags(FlagParser* p) {
  AddSubmitFlags(p);
  AddWatchFlags(p);
}

int RunSubmit(const Invocation& inv) {
  absl::StatusOr<pb::RunSpec> spec = BuildRunSpec(inv.flags, inv.env->user);
  if (!spec.ok()) return UsageError(*inv.env, spec.status().message(), "submit");
  absl::StatusOr<absl::Duration> interval = IntervalFlag(inv);
  if (!interval.ok()) return UsageError(*inv.env, interval.status().message(), "submit");
  int code = 0;
  auto client = Connect(inv, &code);
  if (client == nullptr) return code;
  absl::StatusOr<pb::Run> run = client->SubmitRun(*spec);
  if (!run.ok()) return ServerError(inv, run.status());
  inv.out() << run->run_id() << "\n" << std::flush;
  if (!inv.flags.Has("watch")) return kExitOk;
  return FollowRun(inv, client.get(), run->run_id(), inv.err(), inv.env->err_is_tty, *interval);
}

// ---------------------------------------------------------------------------
// results, runs, cancel, workers, datasets, suites

int RunResults(const Invocation& inv) {
  absl::StatusOr<OutputFormat> format = FormatFlag(inv);
  if (!format.ok()) return UsageError(*inv.env, format.status().message(), "results");
  int code = 0;
  auto client = Connect(inv, &code);
  if (client == nullptr) return code;
  absl::StatusOr<pb::Results> results = client->GetResults(inv.flags.positional()[0]);
  if (!results.ok()) return ServerError(inv, results.status());
  absl::StatusOr<std::string> text = FormatResults(*results, *format);
  if (!text.ok()) return ServerError(inv, text.status());
  inv.out() << *text;
  return kExitOk;
}

void AddRunsFlags(FlagParser* p) {
  AddFormatFlag(p);
  p->AddValue("state", "STATE",
              "only runs in this state: queued, running, succeeded, failed, cancelled", true);
  p->AddValue("label", "KEY=VALUE", "only runs carrying this label", true);
  p->AddValue("limit", "N", "show at most N runs, newest first (default 50)");
}

int RunRuns(const Invocation& inv) {
  absl::StatusOr<OutputFormat> format = FormatFlag(inv);
  if (!format.ok()) return UsageError(*inv.env, format.status().message(), "runs");
  pb::ListRunsRequest request;
  for (const std::string& s : inv.flags.GetAll("state")) {
    absl::StatusOr<pb::RunState> state = ParseRunState(s);
    if (!state.ok()) return UsageError(*inv.env, state.status().message(), "runs");
    request.add_states(*state);
  }
  for (const std::string& l : inv.flags.GetAll("label")) {
    auto kv = ParseLabel("--label", l);
    if (!kv.ok()) return UsageError(*inv.env, kv.status().message(), "runs");
    (*request.mutable_label_selector())[kv->first] = kv->second;
  }
  int64_t limit = 50;
  if (auto text = inv.flags.Get("limit")) {
    absl::StatusOr<int64_t> n = ParseInt("--limit", *text, 1, 1'000'000);
    if (!n.ok()) return UsageError(*inv.env, n.status().message(), "runs");
    limit = *n;
  }
  int code = 0;
  auto client = Connect(inv, &code);
  if (client == nullptr) return code;
  pb::ListRunsResponse all;
  while (all.runs_size() < limit) {
    request.set_page_size(static_cast<int32_t>(std::min<int64_t>(limit - all.runs_size(), 1000)));
    absl::StatusOr<pb::ListRunsResponse> page = client->ListRuns(request);
    if (!page.ok()) return ServerError(inv, page.status());
    for (pb::Run& run : *page->mutable_runs()) {
      if (all.runs_size() >= limit) break;
      *all.add_runs() = std::move(run);
    }
    if (page->next_page_token().empty() || page->runs().empty()) break;
    request.set_page_token(page->next_page_token());
    all.set_next_page_token(page->next_page_token());
  }
  if (all.runs_size() < limit) all.clear_next_page_token();
  absl::StatusOr<std::string> text = FormatRuns(all, *format);
  if (!text.ok()) return ServerError(inv, text.status());
  inv.out() << *text;
  return kExitOk;
}

int RunCancel(const Invocation& inv) {
  int code = 0;
  auto client = Connect(inv, &code);
  if (client == nullptr) return code;
  int worst = kExitOk;
  for (const std::string& run_id : inv.flags.positional()) {
    absl::StatusOr<pb::Run> run = client->CancelRun(run_id);
    if (!run.ok()) {
      inv.err() << FormatStatusForUser(run.status()) << "\n";
      if (worst == kExitOk) worst = ExitCodeForStatus(run.status());
      continue;
    }
    inv.out() << run->run_id() << " " << RunStateName(run->state()) << "\n";
  }
  return worst;
}

template <typename Response, absl::StatusOr<Response> (CoordinatorClient::*kMethod)()>
int RunListing(const Invocation& inv, const char* command,
               absl::StatusOr<std::string> (*format_fn)(const Response&, OutputFormat,
                                                        absl::Time)) {
  absl::StatusOr<OutputFormat> format = FormatFlag(inv);
  if (!format.ok()) return UsageError(*inv.env, format.status().message(), command);
  int code = 0;
  auto client = Connect(inv, &code);
  if (client == nullptr) return code;
  absl::StatusOr<Response> response = (client.get()->*kMethod)();
  if (!response.ok()) return ServerError(inv, response.status());
  Clock* clock = inv.env->clock != nullptr ? inv.env->clock : RealClock::Get();
  absl::StatusOr<std::string> text = format_fn(*response, *format, clock->Now());
  if (!text.ok()) return ServerError(inv, text.status());
  inv.out() << *text;
  return kExitOk;
}

int RunWorkers(const Invocation& inv) {
  return RunListing<pb::ListWorkersResponse, &CoordinatorClient::ListWorkers>(inv, "workers",
                                                                              &FormatWorkers);
}

int RunDatasets(const Invocation& inv) {
  return RunListing<pb::ListDatasetsResponse, &CoordinatorClient::ListDatasets>(
      inv, "datasets", [](const pb::ListDatasetsResponse& r, OutputFormat f, absl::Time) {
        return FormatDatasets(r, f);
      });
}

int RunSuites(const Invocation& inv) {
  return RunListing<pb::ListSuitesResponse, &CoordinatorClient::ListSuites>(
      inv, "suites", [](const pb::ListSuitesResponse& r, OutputFormat f, absl::Time) {
        return FormatSuites(r, f);
      });
}

void NoFlags(FlagParser*) {}

// ---------------------------------------------------------------------------
// compare, sweeps (docs/compare.md, docs/sweeps.md)

void AddCompareFlags(FlagParser* p) {
  AddFormatFlag(p);
  p->AddValue("alpha", "P", "significance level of win/loss (default 0.05)");
}

int RunCompare(const Invocation& inv) {
  absl::StatusOr<OutputFormat> format = FormatFlag(inv);
  if (!format.ok()) return UsageError(*inv.env, format.status().message(), "compare");
  pb::CompareRunsRequest request;
  if (auto text = inv.flags.Get("alpha")) {
    double alpha = 0;
    if (!absl::SimpleAtod(*text, &alpha) || !(alpha > 0 && alpha < 1)) {
      return UsageError(*inv.env, absl::StrCat("--alpha: \"", *text, "\" is not in (0, 1)"),
                        "compare");
    }
    request.set_alpha(alpha);
  }
  int code = 0;
  auto client = Connect(inv, &code);
  if (client == nullptr) return code;
  const std::vector<std::string>& runs = inv.flags.positional();
  request.set_run_a(runs[0]);
  for (size_t i = 1; i < runs.size(); ++i) {
    request.set_run_b(runs[i]);
    absl::StatusOr<pb::Comparison> c = client->CompareRuns(request);
    if (!c.ok()) return ServerError(inv, c.status());
    absl::StatusOr<std::string> text = FormatComparison(*c, *format);
    if (!text.ok()) return ServerError(inv, text.status());
    if (i > 1 && *format != OutputFormat::kCsv) inv.out() << "\n";
    inv.out() << *text;
  }
  return kExitOk;
}

void AddSweepsFlags(FlagParser* p) {
  AddFormatFlag(p);
  p->AddValue("schedule", "CRON", "create: 5-field cron schedule or @daily/@hourly/...");
  p->AddValue("tz", "ZONE", "create: IANA time zone of the schedule (default UTC)");
  p->AddValue("model", "NAME=PATH|PATH|NAME", "create: a model of the sweep", true);
  p->AddValue("model-glob", "GLOB", "create: absolute glob of model files, re-read each firing");
  p->AddValue("suite", "SUITE", "create: suite to run");
  p->AddValue("dataset", "NAME[:LIMIT]", "create: a set to run", true);
  p->AddValue("limit", "N", "create: max samples per set");
  p->AddValue("priority", "CLASS", "create: interactive, sweep (default) or backfill");
  p->AddValue("label", "KEY=VALUE", "create: extra label of every run", true);
  p->AddSwitch("no-cache", "create: never answer the sweep's requests from the result cache");
}

absl::StatusOr<pb::Sweep> BuildSweep(const Invocation& inv, const std::string& name) {
  pb::Sweep s;
  s.set_name(name);
  s.set_schedule(inv.flags.Get("schedule").value_or(""));
  if (s.schedule().empty()) return absl::InvalidArgumentError("--schedule is required");
  s.set_time_zone(inv.flags.Get("tz").value_or(""));
  for (const std::string& m : inv.flags.GetAll("model")) {
    PROCTOR_ASSIGN_OR_RETURN(*s.add_models(), ParseSweepModel(m));
  }
  s.set_model_glob(inv.flags.Get("model-glob").value_or(""));
  s.mutable_spec()->set_suite(inv.flags.Get("suite").value_or(""));
  for (const std::string& d : inv.flags.GetAll("dataset")) {
    PROCTOR_ASSIGN_OR_RETURN(*s.mutable_spec()->add_datasets(), ParseDatasetSelection(d));
  }
  if (auto text = inv.flags.Get("limit")) {
    int64_t limit = 0;
    if (!absl::SimpleAtoi(*text, &limit) || limit < 0) {
      return absl::InvalidArgumentError(absl::StrCat("--limit: \"", *text, "\" is not >= 0"));
    }
    s.mutable_spec()->set_limit(limit);
  }
  if (auto text = inv.flags.Get("priority")) {
    PROCTOR_ASSIGN_OR_RETURN(pb::Priority p, ParsePriority(*text));
    s.mutable_spec()->set_priority(p);
  }
  for (const std::string& l : inv.flags.GetAll("label")) {
    PROCTOR_ASSIGN_OR_RETURN(auto kv, ParseLabel("--label", l));
    (*s.mutable_spec()->mutable_labels())[kv.first] = kv.second;
  }
  if (inv.flags.Has("no-cache")) s.mutable_spec()->set_no_cache(true);
  s.mutable_spec()->set_submitter(inv.env->user);
  return s;
}

int RunSweeps(const Invocation& inv) {
  absl::StatusOr<OutputFormat> format = FormatFlag(inv);
  if (!format.ok()) return UsageError(*inv.env, format.status().message(), "sweeps");
  const std::vector<std::string>& args = inv.flags.positional();
  const std::string& verb = args[0];
  const bool is_list = verb == "list";
  if (verb != "create" && !is_list && verb != "pause" && verb != "resume" && verb != "delete" &&
      verb != "trigger") {
    return UsageError(*inv.env,
                      absl::StrCat("unknown sweeps action '", verb,
                                   "' (create, list, pause, resume, delete, trigger)"),
                      "sweeps");
  }
  if (is_list != (args.size() == 1)) {
    return UsageError(*inv.env,
                      is_list ? "sweeps list takes no name"
                              : absl::StrCat("sweeps ", verb, " needs exactly one NAME"),
                      "sweeps");
  }
  absl::StatusOr<pb::Sweep> sweep_def;
  if (verb == "create") {
    sweep_def = BuildSweep(inv, args[1]);
    if (!sweep_def.ok()) return UsageError(*inv.env, sweep_def.status().message(), "sweeps");
  }
  int code = 0;
  auto client = Connect(inv, &code);
  if (client == nullptr) return code;
  absl::StatusOr<pb::Sweep> one;
  if (is_list) {
    absl::StatusOr<pb::ListSweepsResponse> all = client->ListSweeps();
    if (!all.ok()) return ServerError(inv, all.status());
    absl::StatusOr<std::string> text =
        FormatSweeps(std::vector<pb::Sweep>(all->sweeps().begin(), all->sweeps().end()), *format);
    if (!text.ok()) return ServerError(inv, text.status());
    inv.out() << *text;
    return kExitOk;
  } else if (verb == "trigger") {
    absl::StatusOr<pb::TriggerSweepResponse> t = client->TriggerSweep(args[1]);
    if (!t.ok()) return ServerError(inv, t.status());
    for (const std::string& id : t->run_ids()) inv.out() << id << "\n";
    return kExitOk;
  } else if (verb == "delete") {
    absl::Status s = client->DeleteSweep(args[1]);
    if (!s.ok()) return ServerError(inv, s);
    inv.out() << args[1] << " deleted\n";
    return kExitOk;
  } else if (verb == "create") {
    one = client->CreateSweep(*sweep_def);
  } else if (verb == "pause") {
    one = client->PauseSweep(args[1]);
  } else {
    one = client->ResumeSweep(args[1]);
  }
  if (!one.ok()) return ServerError(inv, one.status());
  absl::StatusOr<std::string> text = FormatSweeps({*one}, *format);
  if (!text.ok()) return ServerError(inv, text.status());
  inv.out() << *text;
  return kExitOk;
}

// ---------------------------------------------------------------------------
// report (docs/report.md; the work is in cli/report_command.cc)

int RunReport(const Invocation& inv) {
  absl::StatusOr<ReportCommandOptions> options = ParseReportCommand(inv.flags);
  if (!options.ok()) return UsageError(*inv.env, options.status().message(), "report");
  int code = 0;
  auto client = Connect(inv, &code);
  if (client == nullptr) return code;
  Clock* clock = inv.env->clock != nullptr ? inv.env->clock : RealClock::Get();
  absl::StatusOr<std::vector<std::string>> paths = WriteReport(*client, *options, clock->Now());
  if (!paths.ok()) return ServerError(inv, paths.status());
  for (const std::string& path : *paths) inv.out() << path << "\n";
  return kExitOk;
}

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"submit", "submit an evaluation run; prints its id",
       "proctor submit --model NAME_OR_PATH (--suite S | --dataset D[:LIMIT]...) [flags]",
       "Plans and queues a run on the coordinator and prints only the run id on stdout,\n"
       "so RUN=$(proctor submit ...) works. With --watch, then follows it like\n"
       "`proctor watch` (progress on stderr) and exits with the run's final state.",
       &AddSubmitAndWatchFlags, &RunSubmit, 0, 0},
      {"watch", "follow a run's progress until it ends", "proctor watch RUN [flags]",
       "Streams progress events. On a terminal: a one-line bar; otherwise periodic plain\n"
       "lines. Exits when the run ends: 0 succeeded, 1 failed, 3 cancelled.",
       &AddWatchFlags, &RunWatch, 1, 1},
      {"results", "print a run's scores", "proctor results RUN [--format table|json|csv|md]",
       "Per-set scores (dataset, dimension, metric, score ± stderr, samples, prompt hash),\n"
       "then groups, dimensions and the overall score. Incomplete entries are marked *.",
       &AddFormatFlag, &RunResults, 1, 1},
      {"runs", "list runs, newest first", "proctor runs [--state S]... [--label K=V]... [flags]",
       "", &AddRunsFlags, &RunRuns, 0, 0},
      {"cancel", "cancel runs", "proctor cancel RUN...",
       "Cancels queued jobs at once and leased jobs at their workers' next heartbeat.\n"
       "Idempotent. Prints each run's id and state.",
       &NoFlags, &RunCancel, 1, std::numeric_limits<size_t>::max()},
      {"workers", "list the worker fleet", "proctor workers [--format table|json|csv|md]", "",
       &AddFormatFlag, &RunWorkers, 0, 0},
      {"datasets", "list, fetch, import and verify evaluation sets",
       "proctor datasets [list --coordinator=HOST:PORT] [--format table|json|csv|md]\n"
       "       proctor datasets list|fetch|import|verify ... (local data root; "
       "see `proctor datasets fetch --help`)",
       "Without a verb, or `list` with --coordinator: the sets the coordinator knows.",
       &AddFormatFlag, &RunDatasets, 0, 0},
      {"suites", "list the evaluation suites", "proctor suites [--format table|json|csv|md]", "",
       &AddFormatFlag, &RunSuites, 0, 0},
      {"compare", "compare runs against a baseline with paired tests",
       "proctor compare RUN_A RUN_B [RUN_C...] [--alpha P] [--format table|json|csv|md]",
       "Compares each later run against RUN_A: per set the difference B - A with its\n"
       "standard error and a paired test (exact McNemar for accuracy-type sets, paired\n"
       "bootstrap otherwise), win/tie/loss at --alpha, groups, dimensions and overall.\n"
       "Sets whose prompt configs differ are marked ! (docs/compare.md).",
       &AddCompareFlags, &RunCompare, 2, std::numeric_limits<size_t>::max()},
      {"report", "write an HTML/Markdown/CSV report of runs",
       "proctor report RUN [RUN...] --out DIR [--format html,md,csv] [--alpha P]",
       "Writes DIR/report.html (self-contained: tables, a radar chart of the dimensions,\n"
       "per-set bars with error bars), report.md and report.csv. With several runs, each\n"
       "later run is compared against the first (docs/report.md). Prints the paths written.",
       &AddReportFlags, &RunReport, 1, std::numeric_limits<size_t>::max()},
      {"sweeps", "manage scheduled sweeps over model sets",
       "proctor sweeps create NAME --schedule CRON (--model M... | --model-glob G)\n"
       "       (--suite S | --dataset D...) [--tz ZONE] [flags]\n"
       "       proctor sweeps list | pause NAME | resume NAME | delete NAME | trigger NAME",
       "A sweep runs a suite over a set of models on a cron schedule; each firing creates\n"
       "one run per model labelled sweep=NAME and firing=TIME (docs/sweeps.md). trigger\n"
       "fires now and prints the run ids.",
       &AddSweepsFlags, &RunSweeps, 1, 2},
  };
  return *commands;
}

// Passes `args` (starting with the command name) to an int(int, char**)
// entry point.
template <typename Fn>
int Delegate(Fn fn, const std::vector<std::string>& args) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  return fn(static_cast<int>(copy.size()), argv.data());
}

bool IsGlobalValueFlag(absl::string_view arg) {
  for (const char* name : kGlobalValueFlags) {
    if (arg == absl::StrCat("--", name)) return true;
  }
  return false;
}

}  // namespace

std::string TopLevelUsage(const CliEnv& env) {
  std::string out =
      "usage: proctor [--coordinator=HOST:PORT] [--timeout=DURATION] COMMAND [args]\n\n"
      "commands:\n";
  auto line = [&out](absl::string_view name, absl::string_view summary) {
    absl::StrAppend(&out, "  ", name, std::string(name.size() < 10 ? 10 - name.size() : 1, ' '),
                    summary, "\n");
  };
  for (const Command& c : Commands()) line(c.name, c.summary);
  for (const ExternalCommand& c : env.external_commands) line(c.name, c.summary);
  absl::StrAppend(&out,
                  "  help      show help for a command\n\n"
                  "Run 'proctor COMMAND --help' for a command's flags. Exit codes: 0 ok, 1 run "
                  "failed or error,\n2 usage, 3 cancelled, 4 not found, 5 coordinator "
                  "unavailable, 6 invalid argument.\n");
  return out;
}

CliEnv CliEnvFromProcess() {
  CliEnv env;
  env.out = &std::cout;
  env.err = &std::cerr;
  env.out_is_tty = isatty(STDOUT_FILENO) == 1;
  env.err_is_tty = isatty(STDERR_FILENO) == 1;
  struct winsize ws {};
  int width = 0;
  for (int fd : {STDOUT_FILENO, STDERR_FILENO}) {
    if (width == 0 && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) width = ws.ws_col;
  }
  if (width == 0) {
    const char* columns = std::getenv("COLUMNS");
    if (columns == nullptr || !absl::SimpleAtoi(columns, &width) || width <= 0) width = 80;
  }
  env.terminal_width = width;
  if (const char* c = std::getenv("PROCTOR_COORDINATOR"); c != nullptr && *c != '\0') {
    env.default_coordinator = c;
  }
  if (const char* t = std::getenv("PROCTOR_TOKEN"); t != nullptr) env.token = t;
  if (const char* ca = std::getenv("PROCTOR_CA_CERT"); ca != nullptr) env.default_ca_cert = ca;
  if (const char* u = std::getenv("USER"); u != nullptr) env.user = u;
  return env;
}

int RunProctor(const std::vector<std::string>& args, const CliEnv& env) {
  // Global flags before the command travel with the command's own flags.
  std::vector<std::string> globals;
  size_t i = 0;
  for (; i < args.size() && args[i].size() > 1 && args[i][0] == '-'; ++i) {
    if (args[i] == "-h" || args[i] == "--help") {
      *env.out << TopLevelUsage(env);
      return kExitOk;
    }
    globals.push_back(args[i]);
    if (IsGlobalValueFlag(args[i]) && i + 1 < args.size()) globals.push_back(args[++i]);
  }
  if (i == args.size()) return UsageError(env, "no command given", "");
  std::string name = args[i];
  std::vector<std::string> rest(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());

  if (name == "help") {
    if (rest.empty()) {
      *env.out << TopLevelUsage(env);
      return kExitOk;
    }
    name = rest[0];
    rest = {"--help"};
  }
  for (const ExternalCommand& external : env.external_commands) {
    if (name != external.name || external.run == nullptr) continue;
    std::vector<std::string> delegated = {name};
    delegated.insert(delegated.end(), rest.begin(), rest.end());
    return Delegate(external.run, delegated);
  }
  if (name == "eval" || name == "model") {
    return UsageError(env, absl::StrCat("command '", name, "' is not built into this proctor"), "");
  }
  if (name == "datasets") {  // list/fetch/import/verify on the local data root
    const char* data_dir = std::getenv("PROCTOR_DATA_DIR");
    const char* mirror = std::getenv("PROCTOR_DATASETS_MIRROR");
    if (std::optional<int> code = MaybeRunLocalDatasetsCommand(
            globals, &rest, *env.out, *env.err, data_dir ? data_dir : "", mirror ? mirror : "")) {
      return *code;
    }
  }

  const Command* command = nullptr;
  for (const Command& c : Commands()) {
    if (name == c.name) command = &c;
  }
  if (command == nullptr) return UsageError(env, absl::StrCat("unknown command '", name, "'"), "");

  FlagParser parser(command->usage, command->description);
  command->add_flags(&parser);
  AddGlobalFlags(&parser, env);
  globals.insert(globals.end(), rest.begin(), rest.end());
  absl::StatusOr<ParsedFlags> flags = parser.Parse(globals);
  if (!flags.ok()) return UsageError(env, flags.status().message(), command->name);
  if (flags->help()) {
    *env.out << parser.Help();
    return kExitOk;
  }
  const size_t n = flags->positional().size();
  if (n < command->min_positional || n > command->max_positional) {
    std::string message =
        n < command->min_positional
            ? absl::StrCat("missing argument; usage: ", command->usage)
            : absl::StrCat("unexpected argument '", flags->positional()[command->max_positional],
                           "'; usage: ", command->usage);
    return UsageError(env, message, command->name);
  }
  Invocation inv{&env, command->name, *std::move(flags)};
  return command->run(inv);
}

}  // namespace proctor::cli
