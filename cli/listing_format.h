// Rendering of the listing commands' answers (`runs`, `workers`, `datasets`,
// `suites`) as a terminal table, CSV, Markdown or JSON (the response message).
// Pure functions: time-relative columns take `now` explicitly, and every time
// is shown in UTC.
#ifndef PROCTOR_CLI_LISTING_FORMAT_H_
#define PROCTOR_CLI_LISTING_FORMAT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/output_format.h"
#include "google/protobuf/timestamp.pb.h"
#include "proctor/v1/admin.pb.h"
#include "proctor/v1/evaluation.pb.h"

namespace proctor::cli {

// "2026-11-27 07:00:05" (UTC) for tables; "" for an unset timestamp.
std::string FormatTimestamp(const google::protobuf::Timestamp& ts);
// RFC 3339 ("2026-11-27T07:00:05Z") for CSV; "" for an unset timestamp.
std::string FormatTimestampRfc3339(const google::protobuf::Timestamp& ts);
// "1.5 GiB", "512 MiB", "0" — binary units, one decimal above KiB.
std::string FormatBytes(int64_t bytes);
// "5s ago", "3m ago", "2h ago", "4d ago"; "never" for an unset timestamp.
std::string FormatAge(const google::protobuf::Timestamp& ts, absl::Time now);

// Columns (table/md): run, state, model, suite/datasets, progress, priority,
// created, labels. CSV has the numbers in separate columns.
absl::StatusOr<std::string> FormatRuns(const proctor::v1::ListRunsResponse& runs,
                                       OutputFormat format);

// Columns: worker, name, state, backend, gpus, gpu memory, sandbox, models,
// leases, last seen (relative to `now`; absolute in CSV).
absl::StatusOr<std::string> FormatWorkers(const proctor::v1::ListWorkersResponse& workers,
                                          OutputFormat format, absl::Time now);

absl::StatusOr<std::string> FormatDatasets(const proctor::v1::ListDatasetsResponse& datasets,
                                           OutputFormat format);

absl::StatusOr<std::string> FormatSuites(const proctor::v1::ListSuitesResponse& suites,
                                         OutputFormat format);

}  // namespace proctor::cli

#endif  // PROCTOR_CLI_LISTING_FORMAT_H_
