#include "eval/report/report.h"

#include <regex>

#include "eval/report/csv_report.h"
#include "eval/report/html_report.h"
#include "eval/report/markdown_report.h"
#include "gtest/gtest.h"

namespace proctor::eval::report {
namespace {

int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

void AddSet(v1::Results* r, const std::string& name, const std::string& dim, double value,
            double se, int64_t n, int64_t total, const std::string& hash = "abcd1234") {
  v1::SetResult* s = r->add_sets();
  s->set_dataset(name);
  s->set_dimension(dim);
  s->set_prompt_hash(hash);
  s->set_num_samples(n);
  s->set_num_samples_total(total);
  s->set_primary_metric("acc");
  s->set_complete(n == total);
  v1::MetricValue* m = s->add_metrics();
  m->set_name("acc");
  m->set_value(value);
  m->set_stderr(se);
  m->set_has_stderr(n > 0);
}

v1::GroupResult* AddDim(v1::Results* r, const std::string& name, double score, double se,
                        bool complete, bool has_score) {
  v1::GroupResult* g = r->add_dimensions();
  g->set_name(name);
  g->set_score(score);
  g->set_stderr(se);
  g->set_has_stderr(has_score);
  g->set_complete(complete);
  g->add_members("m1");
  if (!complete) g->add_missing("m1");
  return g;
}

v1::Results RunA() {
  v1::Results r;
  r.set_run_id("run-a");
  r.set_model("model-a");
  r.set_state(v1::RUN_STATE_SUCCEEDED);
  AddSet(&r, "arc_e", "Exam", 40.0, 9.1, 30, 30);
  AddSet(&r, "piqa", "Reasoning", 66.6666, 8.75, 30, 30);
  AddSet(&r, "boolq", "Knowledge", 56.67, 9.2, 10, 30);  // incomplete
  AddDim(&r, "Exam", 40.0, 9.1, true, true);
  AddDim(&r, "Language", 0, 0, false, false);  // nothing scored
  AddDim(&r, "Knowledge", 0, 0, false, false);
  AddDim(&r, "Reasoning", 66.6666, 8.75, false, true);  // partial
  AddDim(&r, "Understanding", 0, 0, false, false);
  AddDim(&r, "Safety", 0, 0, false, false);
  v1::GroupResult* o = r.mutable_overall();
  o->set_name("Overall");
  o->set_complete(false);
  o->set_score(53.33);
  o->set_stderr(6.3);
  o->set_has_stderr(true);
  return r;
}

v1::Results RunB() {
  v1::Results r = RunA();
  r.set_run_id("run-b");
  r.set_model("<script>alert('pwn')</script>");
  r.mutable_sets(0)->mutable_metrics(0)->set_value(50.0);
  r.mutable_sets(1)->set_prompt_hash("ffff0000");
  r.mutable_dimensions(0)->set_score(50.0);
  return r;
}

v1::Comparison CompareBA() {
  v1::Comparison c;
  c.set_run_a("run-a");
  c.set_run_b("run-b");
  c.set_model_a("model-a");
  c.set_model_b("<script>alert('pwn')</script>");
  c.set_alpha(0.05);
  c.set_wins(1);
  c.set_ties(1);
  c.set_losses(0);
  v1::SetComparison* s = c.add_sets();
  s->set_dataset("arc_e");
  s->set_score_a(40);
  s->set_score_b(50);
  s->set_delta(10);
  s->set_delta_stderr(4.25);
  s->set_test("mcnemar_exact");
  s->set_p_value(0.0213);
  s->set_num_paired(30);
  s->set_outcome("win");
  s->set_prompt_hash_a("abcd1234");
  s->set_prompt_hash_b("abcd1234");
  s = c.add_sets();
  s->set_dataset("piqa");
  s->set_score_a(66.67);
  s->set_score_b(66.67);
  s->set_test("mcnemar_exact");
  s->set_p_value(1);
  s->set_num_paired(30);
  s->set_outcome("tie");
  s->set_prompt_differs(true);
  s->set_prompt_hash_a("abcd1234");
  s->set_prompt_hash_b("ffff0000");
  c.set_prompt_mismatches(1);
  v1::GroupComparison* d = c.add_dimensions();
  d->set_name("Exam");
  d->set_score_a(40);
  d->set_score_b(50);
  d->set_delta(10);
  d->set_delta_stderr(4.25);
  d->set_paired(true);
  d->set_complete(true);
  d = c.add_dimensions();  // nothing scored in either run: reported as 0 by the API
  d->set_name("Language");
  return c;
}

TEST(ReportInputTest, ValidationNamesTheField) {
  ReportInput in;
  EXPECT_EQ(ValidateReportInput(in).code(), absl::StatusCode::kInvalidArgument);
  in.runs = {RunA(), RunA()};
  absl::Status s = ValidateReportInput(in);
  EXPECT_NE(s.message().find("runs[1].run_id"), std::string::npos) << s;
  in.runs = {RunA(), RunB()};
  in.comparisons = {CompareBA()};
  EXPECT_TRUE(ValidateReportInput(in).ok());
  in.comparisons[0].set_run_a("other");
  s = ValidateReportInput(in);
  EXPECT_NE(s.message().find("comparisons[0].run_a"), std::string::npos) << s;
  in.comparisons = {CompareBA(), CompareBA()};
  s = ValidateReportInput(in);
  EXPECT_NE(s.message().find("compared twice"), std::string::npos) << s;
  in.comparisons.clear();
  in.runs.clear();
  for (int i = 0; i < 11; ++i) {
    in.runs.push_back(RunA());
    in.runs.back().set_run_id("r" + std::to_string(i));
  }
  EXPECT_FALSE(ValidateReportInput(in).ok());
  EXPECT_FALSE(RenderHtmlReport(in).ok());
}

TEST(HtmlReportTest, SingleRunHasTablesChartsAndNoComparison) {
  ReportInput in;
  in.runs = {RunA()};
  absl::StatusOr<std::string> html = RenderHtmlReport(in);
  ASSERT_TRUE(html.ok()) << html.status();
  for (const char* id :
       {"id=\"runs\"", "id=\"summary\"", "id=\"radar\"", "id=\"bars\"", "id=\"sets\""}) {
    EXPECT_NE(html->find(id), std::string::npos) << id;
  }
  EXPECT_EQ(html->find("id=\"comparisons\""), std::string::npos);
  // Self-contained: nothing fetched, no script.
  EXPECT_EQ(html->find("<script"), std::string::npos);
  EXPECT_EQ(html->find("http://"), html->find("http://www.w3.org/2000/svg"));
  EXPECT_EQ(html->find("https://"), std::string::npos);
  EXPECT_EQ(html->find("<link"), std::string::npos);
  EXPECT_NE(html->find("default-src 'none'"), std::string::npos);
  // Numbers equal the inputs.
  EXPECT_NE(html->find("data-run=\"run-a\" data-key=\"dim:Exam\"><span class=\"v\">40.00</span> "
                       "<span class=\"se\">± 9.10</span>"),
            std::string::npos);
  EXPECT_NE(html->find("data-key=\"set:piqa\"><span class=\"v\">66.67</span>"), std::string::npos);
  // Partial dimension is marked; missing ones show "–", never 0.
  EXPECT_NE(html->find("<td class=\"score partial\" data-run=\"run-a\" data-key=\"dim:Reasoning\""),
            std::string::npos);
  EXPECT_NE(
      html->find(
          "<td class=\"score missing\" data-run=\"run-a\" data-key=\"dim:Language\" "
          "title=\"incomplete: 1 of 1 members missing or incomplete\"><span class=\"v\">–</span>"),
      std::string::npos);
  EXPECT_NE(html->find("data-key=\"dim:Safety\""), std::string::npos);
  // Radar: 2 of 5 axes have a score → a dashed polyline, one complete and
  // one partial marker.
  EXPECT_EQ(Count(*html, "<polyline class=\"radar-series\""), 1);
  EXPECT_EQ(Count(*html, "radar-point complete"), 1);
  EXPECT_EQ(Count(*html, "radar-point partial"), 1);
  // Bars: 3 sets, one partial.
  EXPECT_EQ(Count(*html, "<rect class=\"bar "), 3);
  EXPECT_EQ(Count(*html, "<rect class=\"bar partial\""), 1);
  EXPECT_NE(html->find("10/30"), std::string::npos);
}

TEST(HtmlReportTest, HostileModelNameIsEscapedEverywhere) {
  ReportInput in;
  in.runs = {RunA(), RunB()};
  in.comparisons = {CompareBA()};
  in.title = "T</title><script>x</script>";
  absl::StatusOr<std::string> html = RenderHtmlReport(in);
  ASSERT_TRUE(html.ok()) << html.status();
  EXPECT_EQ(html->find("<script"), std::string::npos);
  EXPECT_EQ(html->find("alert('pwn')"), std::string::npos);
  EXPECT_GE(Count(*html, "&lt;script&gt;alert(&#39;pwn&#39;)&lt;/script&gt;"), 5);
}

TEST(HtmlReportTest, ManyRunsShowComparisonAndPromptFlags) {
  ReportInput in;
  in.runs = {RunA(), RunB()};
  in.comparisons = {CompareBA()};
  absl::StatusOr<std::string> html = RenderHtmlReport(in);
  ASSERT_TRUE(html.ok()) << html.status();
  EXPECT_NE(html->find("id=\"comparisons\""), std::string::npos);
  EXPECT_NE(html->find("data-run-a=\"run-a\" data-run-b=\"run-b\""), std::string::npos);
  EXPECT_NE(html->find("1 win</span>, 1 tie, <span class=\"loss\">0 loss"), std::string::npos);
  EXPECT_NE(html->find("<td class=\"num delta\">+10.00</td><td class=\"num\">4.25</td>"
                       "<td>mcnemar_exact</td><td class=\"num\">0.0213</td>"),
            std::string::npos);
  EXPECT_NE(html->find("<td class=\"outcome win\">win</td>"), std::string::npos);
  EXPECT_NE(html->find("<tr data-kind=\"dimension\" data-name=\"Language\"><td>Language <span "
                       "class=\"mark\">*</span></td><td class=\"num\">–</td><td class=\"num\">"
                       "–</td><td class=\"num delta\">–</td>"),
            std::string::npos);
  EXPECT_NE(html->find("<tr data-kind=\"dimension\" data-name=\"Exam\"><td>Exam</td><td "
                       "class=\"num\">40.00</td><td class=\"num\">50.00</td><td class=\"num "
                       "delta\">+10.00</td>"),
            std::string::npos);
  EXPECT_NE(html->find("abcd1234</code> / <code>ffff0000"), std::string::npos);
  // Two polygons' worth of series, two bars per set, the B score of arc_e.
  EXPECT_EQ(Count(*html, "<polyline class=\"radar-series\""), 2);
  EXPECT_EQ(Count(*html, "<rect class=\"bar "), 6);
  EXPECT_NE(html->find("data-run=\"run-b\" data-key=\"set:arc_e\"><span class=\"v\">50.00</span>"),
            std::string::npos);
  // The prompt hash of piqa differs between the runs: flagged in the sets table.
  EXPECT_NE(html->find("<tr data-set=\"piqa\"><td>piqa <span class=\"flag\""), std::string::npos);
}

TEST(MarkdownReportTest, TablesAndEscaping) {
  ReportInput in;
  in.runs = {RunA(), RunB()};
  in.comparisons = {CompareBA()};
  absl::StatusOr<std::string> md = RenderMarkdownReport(in);
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_EQ(md->find("<script"), std::string::npos);
  EXPECT_NE(md->find("| model-a · run-a | 53.33\\* ± 6.30 | 40.00 ± 9.10 | – |"), std::string::npos)
      << *md;
  EXPECT_NE(md->find("| arc\\_e | 40.00 | 50.00 | +10.00 | 4.25 | mcnemar\\_exact | 0.0213 | 30 "
                     "| win | abcd1234 |"),
            std::string::npos)
      << *md;
  EXPECT_NE(md->find("## Comparisons against the baseline"), std::string::npos);
  EXPECT_NE(md->find("| Language \\* | – | – | – | – | not scored |"), std::string::npos) << *md;
}

TEST(CsvReportTest, EveryNumberInOneTable) {
  ReportInput in;
  in.runs = {RunA(), RunB()};
  in.comparisons = {CompareBA()};
  in.runs[1].set_model("=cmd|' /C calc'!A0");
  absl::StatusOr<std::string> csv = RenderCsvReport(in);
  ASSERT_TRUE(csv.ok()) << csv.status();
  EXPECT_EQ(csv->substr(0, csv->find('\n')),
            "section,run_id,model,name,dimension,metric,value,stderr,num_samples,"
            "num_samples_total,complete,prompt_hash,baseline_run_id,baseline_value,delta,"
            "delta_stderr,test,p_value,outcome,baseline_prompt_hash");
  EXPECT_NE(csv->find("\nset,run-a,model-a,piqa,Reasoning,acc,66.6666,8.75,30,30,true,abcd1234,"
                      ",,,,,,,\n"),
            std::string::npos);
  EXPECT_NE(csv->find("\ndimension,run-a,model-a,Language,,,,,,,false,,,,,,,,,\n"),
            std::string::npos);
  EXPECT_NE(
      csv->find("\ncompare_set,run-b,<script>alert('pwn')</script>,arc_e,,,50,,30,,,abcd1234,run-a,"
                "40,10,4.25,mcnemar_exact,0.0213,win,abcd1234\n"),
      std::string::npos)
      << *csv;
  EXPECT_NE(csv->find("\ncompare_dimension,run-b,<script>alert('pwn')</script>,Language,,,,,,,"
                      "false,,run-a,,,,,,,\n"),
            std::string::npos);
  // Every line has the same number of columns (no field holds a comma here).
  size_t lines = 0;
  size_t start = 0;
  while (start < csv->size()) {
    const size_t end = csv->find('\n', start);
    EXPECT_EQ(std::count(csv->begin() + static_cast<long>(start),
                         csv->begin() + static_cast<long>(end), ','),
              19);
    start = end + 1;
    ++lines;
  }
  EXPECT_EQ(lines, 1 + 2 * (3 + 6 + 1) + 2 + 2);
}

TEST(ReportTest, FormatsByName) {
  absl::StatusOr<std::vector<ReportFormat>> f = ParseReportFormats("html,md,csv,html");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->size(), 3u);
  EXPECT_EQ(ReportFileName((*f)[1]), "report.md");
  EXPECT_FALSE(ParseReportFormats("pdf").ok());
  EXPECT_FALSE(ParseReportFormats("").ok());
  EXPECT_EQ(ReportContentType(ReportFormat::kCsv), "text/csv; charset=utf-8");
  ReportInput in;
  in.runs = {RunA()};
  EXPECT_TRUE(RenderReport(in, ReportFormat::kMarkdown).ok());
}

}  // namespace
}  // namespace proctor::eval::report
