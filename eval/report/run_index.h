// The index page of the coordinator's report endpoint ("/"): recent runs,
// newest first, each linking to its report in the three formats. A
// self-contained HTML page like the report itself (no script, nothing
// fetched); run ids and model names are escaped, and URL-encoded in links.
//
// Pure; thread-safe.
#ifndef PROCTOR_EVAL_REPORT_RUN_INDEX_H_
#define PROCTOR_EVAL_REPORT_RUN_INDEX_H_

#include <string>
#include <vector>

#include "proctor/v1/common.pb.h"

namespace proctor::eval::report {

// Links are relative to the page ("runs/<id>/report.html"), so the page
// works behind a reverse proxy that mounts the endpoint under a prefix.
std::string RenderRunIndexHtml(const std::vector<v1::Run>& runs);

}  // namespace proctor::eval::report

#endif  // PROCTOR_EVAL_REPORT_RUN_INDEX_H_
