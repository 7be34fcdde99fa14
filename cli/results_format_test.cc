#include "cli/results_format.h"

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace proctor::cli {
namespace {

namespace pb = ::proctor::v1;
using ::testing::HasSubstr;

pb::MetricValue Metric(const std::string& name, double value, double stderr_value,
                       bool has_stderr) {
  pb::MetricValue m;
  m.set_name(name);
  m.set_value(value);
  m.set_stderr(stderr_value);
  m.set_has_stderr(has_stderr);
  return m;
}

pb::Results MakeResults() {
  pb::Results r;
  r.set_run_id("r-1");
  r.set_model("smollm2-135m");
  r.set_state(pb::RUN_STATE_RUNNING);
  pb::SetResult* arc = r.add_sets();
  arc->set_dataset("arc_easy");
  arc->set_dimension("Reasoning");
  arc->set_prompt_hash("a1b2c3d4");
  arc->set_num_samples(2376);
  arc->set_num_samples_total(2376);
  arc->set_primary_metric("acc_norm");
  *arc->add_metrics() = Metric("acc", 45.6, 1.02, true);
  *arc->add_metrics() = Metric("acc_norm", 41.255, 1.011, true);
  arc->set_complete(true);
  pb::SetResult* ceval = r.add_sets();
  ceval->set_dataset("ceval-高中物理");
  ceval->set_dimension("Exam");
  ceval->set_prompt_hash("ffee0011");
  ceval->set_num_samples(7);
  ceval->set_num_samples_total(19);
  ceval->set_primary_metric("acc");
  *ceval->add_metrics() = Metric("acc", 28.571, 0, false);
  ceval->set_complete(false);

  pb::GroupResult* g = r.add_groups();
  g->set_name("ceval");
  g->set_aggregation("mean");
  g->set_complete(false);
  g->add_members("ceval-高中物理");
  g->add_members("ceval-law");
  g->add_missing("ceval-law");
  pb::GroupResult* d = r.add_dimensions();
  d->set_name("Reasoning");
  d->set_score(41.255);
  d->set_stderr(1.011);
  d->set_has_stderr(true);
  d->set_complete(true);
  d->add_members("arc_easy");
  pb::GroupResult* overall = r.mutable_overall();
  overall->set_name("Overall");
  overall->set_complete(false);
  overall->add_members("Reasoning");
  overall->add_members("Exam");
  overall->add_missing("Exam");
  return r;
}

TEST(FormatResultsTest, Table) {
  auto text = FormatResults(MakeResults(), OutputFormat::kTable);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text,
            "run r-1  model smollm2-135m  state running\n"
            "\n"
            "dataset           dimension  metric    score  ±stderr     n  prompt\n"
            "----------------  ---------  --------  -----  -------  ----  --------\n"
            "arc_easy          Reasoning  acc_norm  41.26     1.01  2376  a1b2c3d4\n"
            "ceval-高中物理 *  Exam       acc       28.57           7/19  ffee0011\n"
            "\n"
            "group    aggregation  score  ±stderr  members  missing\n"
            "-------  -----------  -----  -------  -------  ---------\n"
            "ceval *  mean             -                 2  ceval-law\n"
            "\n"
            "dimension  score  ±stderr  members  missing\n"
            "---------  -----  -------  -------  -------\n"
            "Reasoning  41.26     1.01        1\n"
            "Overall *      -                 2  Exam\n"
            "\n"
            "* incomplete: not every planned sample is scored (or a member is missing)\n");
}

TEST(FormatResultsTest, Markdown) {
  pb::Results r = MakeResults();
  r.clear_groups();
  r.clear_dimensions();
  r.clear_overall();
  r.mutable_sets()->RemoveLast();
  auto text = FormatResults(r, OutputFormat::kMarkdown);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text,
            "**run r-1  model smollm2-135m  state running**\n"
            "\n"
            "| dataset | dimension | metric | score | ±stderr | n | prompt |\n"
            "| --- | --- | --- | ---: | ---: | ---: | --- |\n"
            "| arc_easy | Reasoning | acc_norm | 41.26 | 1.01 | 2376 | a1b2c3d4 |\n");
}

TEST(FormatResultsTest, CsvHasEveryMetricAndQuotes) {
  pb::Results r = MakeResults();
  r.mutable_sets(0)->set_dataset("arc, \"easy\"");
  auto text = FormatResults(r, OutputFormat::kCsv);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text,
            "kind,name,dimension,metric,primary,score,stderr,num_samples,num_samples_total,"
            "prompt_hash,complete,missing\n"
            "set,\"arc, \"\"easy\"\"\",Reasoning,acc,false,45.6,1.02,2376,2376,a1b2c3d4,true,\n"
            "set,\"arc, \"\"easy\"\"\",Reasoning,acc_norm,true,41.255,1.011,2376,2376,a1b2c3d4,"
            "true,\n"
            "set,ceval-高中物理,Exam,acc,true,28.571,,7,19,ffee0011,false,\n"
            "group,ceval,,mean,,,,,,,false,ceval-law\n"
            "dimension,Reasoning,,,,41.255,1.011,,,,true,\n"
            "overall,Overall,,,,,,,,,false,Exam\n");
}

TEST(FormatResultsTest, CsvKeepsSetsWithNothingScored) {
  pb::Results r;
  pb::SetResult* s = r.add_sets();
  s->set_dataset("gsm8k");
  s->set_dimension("Reasoning");
  s->set_primary_metric("accuracy");
  s->set_num_samples_total(5);
  s->set_prompt_hash("6230d727");
  auto text = FormatResults(r, OutputFormat::kCsv);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text,
            "kind,name,dimension,metric,primary,score,stderr,num_samples,num_samples_total,"
            "prompt_hash,complete,missing\n"
            "set,gsm8k,Reasoning,accuracy,true,,,0,5,6230d727,false,\n");
}

TEST(FormatResultsTest, JsonIsTheResultsMessage) {
  const pb::Results r = MakeResults();
  auto text = FormatResults(r, OutputFormat::kJson);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_THAT(*text, HasSubstr("\"runId\": \"r-1\""));
  EXPECT_THAT(*text, HasSubstr("\"state\": \"RUN_STATE_RUNNING\""));
  pb::Results parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*text, &parsed).ok());
  EXPECT_EQ(parsed.SerializeAsString(), r.SerializeAsString());
}

TEST(FormatResultsTest, EmptyResults) {
  pb::Results r;
  r.set_run_id("r-2");
  auto text = FormatResults(r, OutputFormat::kTable);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text,
            "run r-2  model   state unspecified\n"
            "\n"
            "dataset  dimension  metric  score  ±stderr  n  prompt\n"
            "-------  ---------  ------  -----  -------  -  ------\n");
}

TEST(FormatScoreTest, TwoDecimals) {
  EXPECT_EQ(FormatScore(45.6), "45.60");
  EXPECT_EQ(FormatScore(0), "0.00");
  EXPECT_EQ(FormatScore(99.999), "100.00");
}

}  // namespace
}  // namespace proctor::cli
