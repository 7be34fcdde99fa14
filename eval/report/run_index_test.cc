#include "eval/report/run_index.h"

#include "gtest/gtest.h"

namespace proctor::eval::report {
namespace {

TEST(RunIndexTest, LinksAreEncodedAndNamesEscaped) {
  v1::Run run;
  run.set_run_id("run/../x\"y");
  run.mutable_spec()->mutable_model()->set_name("<b>m</b>");
  run.set_state(v1::RUN_STATE_RUNNING);
  const std::string html = RenderRunIndexHtml({run});
  EXPECT_NE(html.find("href=\"runs/run%2F..%2Fx%22y/report.html\""), std::string::npos) << html;
  EXPECT_NE(html.find("&lt;b&gt;m&lt;/b&gt;"), std::string::npos);
  EXPECT_EQ(html.find("<b>"), std::string::npos);
  EXPECT_NE(html.find("<td>running</td>"), std::string::npos);
  EXPECT_NE(RenderRunIndexHtml({}).find("no runs yet"), std::string::npos);
}

}  // namespace
}  // namespace proctor::eval::report
