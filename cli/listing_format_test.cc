#include "cli/listing_format.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::cli {
namespace {

namespace pb = ::proctor::v1;
using ::testing::HasSubstr;

constexpr int64_t kT0 = 1'800'000'000;  // 2027-01-15T08:00:00Z

pb::ListRunsResponse MakeRuns() {
  pb::ListRunsResponse response;
  pb::Run* run = response.add_runs();
  run->set_run_id("r-2");
  run->set_state(pb::RUN_STATE_RUNNING);
  run->mutable_spec()->mutable_model()->set_name("smollm2");
  run->mutable_spec()->mutable_model()->set_path("/m/smollm2.gguf");
  run->mutable_spec()->set_suite("smoke");
  auto* d = run->mutable_spec()->add_datasets();
  d->set_name("gsm8k");
  d->set_limit(10);
  run->mutable_spec()->set_priority(pb::PRIORITY_SWEEP);
  run->mutable_spec()->set_submitter("alice");
  (*run->mutable_spec()->mutable_labels())["team"] = "nlp";
  (*run->mutable_spec()->mutable_labels())["exp"] = "a,b";
  run->mutable_progress()->set_jobs_done(1);
  run->mutable_progress()->set_jobs_total(4);
  run->mutable_progress()->set_requests_done(25);
  run->mutable_progress()->set_requests_total(100);
  run->mutable_created_at()->set_seconds(kT0);
  pb::Run* old = response.add_runs();
  old->set_run_id("r-1");
  old->set_state(pb::RUN_STATE_FAILED);
  old->mutable_spec()->mutable_model()->set_name("tiny");
  old->mutable_spec()->set_suite("smoke");
  old->set_failure_reason("poison job 3");
  return response;
}

TEST(FormatRunsTest, Table) {
  auto text = FormatRuns(MakeRuns(), OutputFormat::kTable);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text,
            "run  state    model    evaluates          progress  priority     created              "
            "labels\n"
            "---  -------  -------  --------------  -----------  -----------  -------------------  "
            "----------------\n"
            "r-2  running  smollm2  smoke+gsm8k:10  25.0% (1/4)  sweep        2027-01-15 08:00:00  "
            "exp=a,b,team=nlp\n"
            "r-1  failed   tiny     smoke            0.0% (0/0)  interactive\n");
}

TEST(FormatRunsTest, Csv) {
  auto text = FormatRuns(MakeRuns(), OutputFormat::kCsv);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text,
            "run_id,state,model,model_path,suite,datasets,priority,submitter,jobs_done,"
            "jobs_failed,jobs_total,requests_done,requests_total,created_at,finished_at,labels,"
            "failure_reason\n"
            "r-2,running,smollm2,/m/smollm2.gguf,smoke,gsm8k:10,sweep,alice,1,0,4,25,100,"
            "2027-01-15T08:00:00Z,,\"exp=a,b;team=nlp\",\n"
            "r-1,failed,tiny,,smoke,,interactive,,0,0,0,0,0,,,,poison job 3\n");
}

TEST(FormatRunsTest, JsonRoundTrips) {
  auto text = FormatRuns(MakeRuns(), OutputFormat::kJson);
  ASSERT_TRUE(text.ok());
  EXPECT_THAT(*text, HasSubstr("\"runId\": \"r-2\""));
}

TEST(FormatWorkersTest, TableAndCsv) {
  pb::ListWorkersResponse response;
  pb::WorkerInfo* w = response.add_workers();
  w->set_worker_id("w-1");
  w->set_worker_name("gpu01:0,1");
  w->set_state(pb::WORKER_STATE_BUSY);
  w->mutable_capabilities()->set_backend("cuda");
  w->mutable_capabilities()->set_gpu_count(2);
  w->mutable_capabilities()->set_gpu_memory_bytes(int64_t{80} << 30);
  w->mutable_capabilities()->add_loaded_models("llama-70b");
  w->add_leased_job_ids(12);
  w->add_leased_job_ids(13);
  w->mutable_last_seen()->set_seconds(kT0 - 3);
  const absl::Time now = absl::FromUnixSeconds(kT0);
  auto table = FormatWorkers(response, OutputFormat::kTable, now);
  ASSERT_TRUE(table.ok());
  EXPECT_EQ(*table,
            "worker  name       state  backend  gpus  gpu memory  sandbox  models     leases  "
            "last seen\n"
            "------  ---------  -----  -------  ----  ----------  -------  ---------  ------  "
            "---------\n"
            "w-1     gpu01:0,1  busy   cuda        2    80.0 GiB  no       llama-70b       2  "
            "3s ago\n");
  auto csv = FormatWorkers(response, OutputFormat::kCsv, now);
  ASSERT_TRUE(csv.ok());
  EXPECT_EQ(*csv,
            "worker,name,state,backend,gpus,gpu_memory_bytes,sandbox,models,leases,last_seen\n"
            "w-1,\"gpu01:0,1\",busy,cuda,2,85899345920,no,llama-70b,12;13,2027-01-15T07:59:57Z\n");
}

TEST(FormatDatasetsTest, Markdown) {
  pb::ListDatasetsResponse response;
  pb::DatasetInfo* d = response.add_datasets();
  d->set_name("mmlu_abstract_algebra");
  d->set_dimension("Exam");
  d->set_request_type("loglikelihood");
  d->set_metric("acc");
  d->set_num_fewshot(5);
  d->set_prompt_hash("0123abcd");
  d->set_available(true);
  d->add_groups("mmlu");
  d->add_groups("mmlu_stem");
  auto md = FormatDatasets(response, OutputFormat::kMarkdown);
  ASSERT_TRUE(md.ok());
  EXPECT_EQ(*md,
            "| dataset | dimension | type | metric | fewshot | available | groups | prompt |\n"
            "| --- | --- | --- | --- | ---: | --- | --- | --- |\n"
            "| mmlu_abstract_algebra | Exam | loglikelihood | acc | 5 | yes | mmlu,mmlu_stem | "
            "0123abcd |\n");
}

TEST(FormatSuitesTest, TableShortensLongLists) {
  pb::ListSuitesResponse response;
  pb::SuiteInfo* s = response.add_suites();
  s->set_name("smoke");
  s->set_description("quick check");
  for (const char* name : {"arc_easy", "boolq", "gsm8k", "piqa", "mbpp"}) s->add_datasets(name);
  auto text = FormatSuites(response, OutputFormat::kTable);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text,
            "suite  sets  description  datasets\n"
            "-----  ----  -----------  ---------------------------\n"
            "smoke     5  quick check  arc_easy,boolq,gsm8k,piqa,…\n");
  auto csv = FormatSuites(response, OutputFormat::kCsv);
  ASSERT_TRUE(csv.ok());
  EXPECT_EQ(*csv, "suite,description,datasets\nsmoke,quick check,arc_easy;boolq;gsm8k;piqa;mbpp\n");
}

TEST(FormatHelpersTest, BytesAgesAndTimestamps) {
  EXPECT_EQ(FormatBytes(0), "0");
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(int64_t{24} << 30), "24.0 GiB");
  const absl::Time now = absl::FromUnixSeconds(kT0);
  google::protobuf::Timestamp ts;
  EXPECT_EQ(FormatAge(ts, now), "never");
  EXPECT_EQ(FormatTimestamp(ts), "");
  ts.set_seconds(kT0 - 300);
  EXPECT_EQ(FormatAge(ts, now), "5m ago");
  ts.set_seconds(kT0 - 3 * 86400);
  EXPECT_EQ(FormatAge(ts, now), "3d ago");
  ts.set_seconds(kT0 + 10);  // clock skew: never negative
  EXPECT_EQ(FormatAge(ts, now), "0s ago");
  ts.set_seconds(kT0);
  EXPECT_EQ(FormatTimestamp(ts), "2027-01-15 08:00:00");
  EXPECT_EQ(FormatTimestampRfc3339(ts), "2027-01-15T08:00:00Z");
}

}  // namespace
}  // namespace proctor::cli
