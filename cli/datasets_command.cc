#include "cli/datasets_command.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/exit_codes.h"
#include "cli/flag_parser.h"
#include "cli/text_table.h"
#include "eval/acquire/acquire.h"
#include "eval/acquire/manifest.h"
#include "eval/acquire/set_files.h"
#include "eval/registry.h"

namespace proctor::cli {
namespace {

namespace acq = ::proctor::eval::acquire;

constexpr char kUsage[] =
    "proctor datasets list [--data-dir DIR]\n"
    "       proctor datasets fetch [SET...|--suite S] [--data-dir DIR] [--base-url URL] "
    "[--require-checksums]\n"
    "       proctor datasets import DIR [SET...|--suite S] [--data-dir DIR] "
    "[--require-checksums]\n"
    "       proctor datasets verify [SET...|--suite S] [--data-dir DIR] [--require-checksums]";
constexpr char kDescription[] =
    "Manages the data root (--data-dir, default $PROCTOR_DATA_DIR). fetch downloads each set's\n"
    "files from their canonical upstream locations (or a mirror: --base-url or\n"
    "$PROCTOR_DATASETS_MIRROR, laid out as BASE/HOST/PATH) and installs a file only after its\n"
    "SHA-256 matches; files without an upstream checksum are trusted on first use and\n"
    "recorded in DIR/.proctor/datasets.lock. import DIR does the same from a local copy\n"
    "(a data root, a mirror tree or the upstream archives). verify hashes what is present.\n"
    "SET may be a set, a group (mmlu) or, with --suite, a suite; none = every set.\n"
    "Exit codes: 0 ok, 1 checksum mismatch, 4 missing or unknown set, 2 usage.";

int Usage(std::ostream& err, absl::string_view message) {
  err << "proctor datasets: " << message << "\nusage: " << kUsage << "\n";
  return kExitUsage;
}

int Fail(std::ostream& err, const absl::Status& s) {
  err << "proctor datasets: " << s.message() << "\n";
  return ExitCodeForStatus(s);
}

std::string Summary(const std::vector<std::string>& paths,
                    const std::map<std::string, const acq::FileReport*>& by_path) {
  // The first problem worth showing, else how many files.
  for (acq::FileState want :
       {acq::FileState::kMismatch, acq::FileState::kMissing, acq::FileState::kUnverified}) {
    for (const std::string& p : paths) {
      auto it = by_path.find(p);
      if (it != by_path.end() && it->second->state == want) {
        return absl::StrCat(p, ": ", it->second->detail);
      }
    }
  }
  bool all_present = true;
  for (const std::string& p : paths) {
    auto it = by_path.find(p);
    all_present =
        all_present && it != by_path.end() && absl::StartsWith(it->second->detail, "present");
  }
  return absl::StrCat(paths.size(), paths.size() == 1 ? " file" : " files",
                      all_present ? ", already present" : "");
}

}  // namespace

int RunDatasetsCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                       const std::string& env_data_dir, const std::string& env_mirror) {
  if (args.empty()) return Usage(err, "missing verb (list, fetch, import, verify)");
  const std::string verb = args[0];
  if (verb != "list" && verb != "fetch" && verb != "import" && verb != "verify") {
    return Usage(err, absl::StrCat("unknown verb '", verb, "'"));
  }
  FlagParser parser(kUsage, kDescription);
  parser.AddValue("data-dir", "DIR", "the data root (default $PROCTOR_DATA_DIR)");
  parser.AddValue("suite", "S", "select the sets of suite S");
  parser.AddSwitch("require-checksums", "refuse files whose upstream checksum is unknown");
  parser.AddValue("base-url", "URL",
                  "fetch from a mirror laid out as URL/HOST/PATH (default "
                  "$PROCTOR_DATASETS_MIRROR)");
  parser.AddValue("retries", "N", "fetch: attempts per URL for transient errors (default 4)");
  parser.AddValue("format", "FORMAT", "table (default), csv or md");
  absl::StatusOr<ParsedFlags> flags =
      parser.Parse(std::vector<std::string>(args.begin() + 1, args.end()));
  if (!flags.ok()) return Usage(err, flags.status().message());
  if (flags->help()) {
    out << parser.Help();
    return kExitOk;
  }
  std::vector<std::string> names = flags->positional();
  std::string import_dir;
  if (verb == "import") {
    if (names.empty()) return Usage(err, "import needs the source directory");
    import_dir = names.front();
    names.erase(names.begin());
  }
  if (verb == "list" && !names.empty()) {
    return Usage(err, absl::StrCat("unexpected argument '", names[0], "'"));
  }
  const std::string data_dir = flags->Get("data-dir").value_or(env_data_dir);
  if (data_dir.empty()) {
    return Usage(err, "no data root: pass --data-dir DIR or set PROCTOR_DATA_DIR");
  }
  const std::string format = flags->Get("format").value_or("table");
  if (format != "table" && format != "csv" && format != "md") {
    return Usage(err, absl::StrCat("--format '", format, "': expected table, csv or md"));
  }
  acq::AcquireOptions options;
  options.data_root = data_dir;
  options.mirror = flags->Get("base-url").value_or(env_mirror);
  options.require_checksums = flags->Has("require-checksums");
  options.log = &err;
  options.download.progress = &err;
  if (auto r = flags->Get("retries")) {
    if (!absl::SimpleAtoi(*r, &options.download.attempts) || options.download.attempts < 1 ||
        options.download.attempts > 20) {
      return Usage(err, absl::StrCat("--retries '", *r, "': expected 1..20"));
    }
  }
  if (!options.mirror.empty() && !absl::StartsWith(options.mirror, "http://") &&
      !absl::StartsWith(options.mirror, "https://")) {
    return Usage(err, absl::StrCat("--base-url '", options.mirror, "' is not an http(s) URL"));
  }
  absl::StatusOr<const acq::Manifest*> manifest = acq::Manifest::Builtin();
  if (!manifest.ok()) return Fail(err, manifest.status());
  options.manifest = *manifest;

  absl::StatusOr<std::vector<acq::SetFiles>> sets =
      acq::SelectSets(names, flags->Get("suite").value_or(""));
  if (!sets.ok()) return Fail(err, sets.status());
  const std::vector<std::string> paths = acq::AllPaths(*sets);
  const bool explicit_selection = !names.empty() || flags->Has("suite");

  absl::StatusOr<std::vector<acq::FileReport>> reports;
  acq::Acquirer acquirer(options);
  if (verb == "fetch") {
    reports = acquirer.Fetch(paths);
  } else if (verb == "import") {
    reports = acquirer.Import(import_dir, paths);
  } else if (verb == "verify") {
    reports = acquirer.Verify(paths);
  } else {  // list: presence only, no hashing
    std::vector<acq::FileReport> present;
    for (const std::string& p : paths) {
      std::error_code ec;
      bool exists = std::filesystem::is_regular_file(std::filesystem::path(data_dir) / p, ec);
      present.push_back({p, exists ? acq::FileState::kOk : acq::FileState::kMissing,
                         exists ? "present" : "missing"});
    }
    reports = std::move(present);
  }
  if (!reports.ok()) return Fail(err, reports.status());

  std::map<std::string, const acq::FileReport*> by_path;
  for (const acq::FileReport& r : *reports) by_path[r.path] = &r;
  TextTable table(verb == "list" ? std::vector<std::string>{"SET", "DIMENSION", "FILES", "STATE",
                                                            "LICENSE", "DETAIL"}
                                 : std::vector<std::string>{"SET", "STATE", "DETAIL"});
  int mismatched = 0, missing = 0, unverified = 0, ok = 0;
  for (const acq::SetFiles& s : *sets) {
    acq::FileState state = acq::SetState(s.paths, *reports);
    if (verb == "list") {
      const eval::SetDef* def = eval::FindSet(s.set);
      int present = 0;
      std::vector<std::string> licenses;
      for (const std::string& p : s.paths) {
        if (by_path.at(p)->state == acq::FileState::kOk) ++present;
        const acq::FileSource* f = (*manifest)->FindFile(p);
        std::string lic = f == nullptr ? "?" : f->license;
        if (std::find(licenses.begin(), licenses.end(), lic) == licenses.end()) {
          licenses.push_back(lic);
        }
      }
      std::string st = present == static_cast<int>(s.paths.size()) ? "present"
                       : present == 0                              ? "missing"
                                                                   : "partial";
      table.AddRow({s.set, def == nullptr ? "" : def->dimension,
                    absl::StrCat(present, "/", s.paths.size()), st, absl::StrJoin(licenses, ","),
                    present == 0 && def != nullptr ? def->source : ""});
      continue;
    }
    bool any_present = false;
    for (const std::string& p : s.paths) {
      any_present = any_present || by_path.at(p)->state != acq::FileState::kMissing;
    }
    // `verify` with no selection judges only the sets that are (partly) here.
    const bool counts = verb != "verify" || explicit_selection || any_present;
    if (counts) {
      if (state == acq::FileState::kMismatch) ++mismatched;
      if (state == acq::FileState::kMissing) ++missing;
      if (state == acq::FileState::kUnverified) ++unverified;
      if (state == acq::FileState::kOk) ++ok;
    }
    table.AddRow({s.set, std::string(acq::FileStateName(state)), Summary(s.paths, by_path)});
  }
  out << (format == "csv"  ? table.RenderCsv()
          : format == "md" ? table.RenderMarkdown()
                           : table.RenderText());
  if (verb == "list") return kExitOk;
  err << "proctor datasets " << verb << ": " << ok << " ok, " << unverified << " unverified, "
      << missing << " missing, " << mismatched << " mismatched\n";
  if (mismatched > 0) return kExitFailed;
  if (options.require_checksums && unverified > 0) return kExitFailed;
  if (missing > 0) return kExitNotFound;
  return kExitOk;
}

std::optional<int> MaybeRunLocalDatasetsCommand(const std::vector<std::string>& globals,
                                                std::vector<std::string>* args, std::ostream& out,
                                                std::ostream& err, const std::string& env_data_dir,
                                                const std::string& env_mirror) {
  if (args->empty()) return std::nullopt;
  const std::string& verb = (*args)[0];
  if (verb == "fetch" || verb == "import" || verb == "verify") {
    return RunDatasetsCommand(*args, out, err, env_data_dir, env_mirror);
  }
  if (verb != "list") return std::nullopt;
  auto names_coordinator = [](const std::vector<std::string>& v) {
    for (const std::string& a : v) {
      if (a == "--coordinator" || absl::StartsWith(a, "--coordinator=")) return true;
    }
    return false;
  };
  if (names_coordinator(globals) || names_coordinator(*args)) {
    args->erase(args->begin());
    return std::nullopt;
  }
  return RunDatasetsCommand(*args, out, err, env_data_dir, env_mirror);
}

}  // namespace proctor::cli
