// `proctor datasets list|fetch|import|verify`: the data root on this
// machine (docs/datasets.md, "Getting the data"). `list` without
// --coordinator shows every registry set and whether its files are present;
// with --coordinator (and bare `proctor datasets`) the coordinator's listing
// runs as before, in proctor_cli.cc.
//
// Exit codes (docs/cli.md): 0 all selected sets ok (or unverified: no
// upstream checksum); 1 a checksum mismatch, or unverified files under
// --require-checksums, or a local error; 2 usage; 4 a selected set is missing
// or could not be obtained, or an unknown set name.
#ifndef PROCTOR_CLI_DATASETS_COMMAND_H_
#define PROCTOR_CLI_DATASETS_COMMAND_H_

#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace proctor::cli {

// Decides how `proctor [globals] datasets [args]` runs. Local verbs (fetch,
// import, verify, and list without --coordinator among `globals` or `args`)
// run here and their exit code is returned. Otherwise returns nullopt after
// removing a leading "list" from *args, so the caller runs the coordinator
// listing. `env_data_dir` and `env_mirror` are $PROCTOR_DATA_DIR and
// $PROCTOR_DATASETS_MIRROR ("" when unset).
std::optional<int> MaybeRunLocalDatasetsCommand(const std::vector<std::string>& globals,
                                                std::vector<std::string>* args, std::ostream& out,
                                                std::ostream& err, const std::string& env_data_dir,
                                                const std::string& env_mirror);

// Runs one local verb: `args` starts with list, fetch, import or verify.
int RunDatasetsCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                       const std::string& env_data_dir, const std::string& env_mirror);

}  // namespace proctor::cli

#endif  // PROCTOR_CLI_DATASETS_COMMAND_H_
