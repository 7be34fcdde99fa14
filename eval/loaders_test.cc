#include "eval/loaders.h"

#include "eval/registry.h"
#include "eval/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::eval {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

int64_t CountEval(const std::string& data, const std::string& set) {
  const SetDef* def = FindSet(set);
  EXPECT_NE(def, nullptr) << set;
  if (def == nullptr) return -1;
  absl::StatusOr<std::vector<Doc>> docs = LoadEvalDocs(*def, data);
  EXPECT_TRUE(docs.ok()) << set << ": " << docs.status();
  return docs.ok() ? static_cast<int64_t>(docs->size()) : -1;
}

// Counts from ../shared/data/SOURCES.md.
TEST(RealFilesTest, RecordCountsMatchSources) {
  PROCTOR_REQUIRE_SHARED_DATA(data);
  EXPECT_EQ(CountEval(data, "arc_e"), 570);
  EXPECT_EQ(CountEval(data, "arc_c"), 299);
  EXPECT_EQ(CountEval(data, "piqa"), 1838);
  EXPECT_EQ(CountEval(data, "boolq"), 3270);
  EXPECT_EQ(CountEval(data, "gsm8k"), 1319);
  EXPECT_EQ(CountEval(data, "commonsenseqa"), 1221);
  EXPECT_EQ(CountEval(data, "siqa"), 1954);
  EXPECT_EQ(CountEval(data, "humaneval"), 164);
  EXPECT_EQ(CountEval(data, "mbpp"), 500);  // rows 10-510 of 974
  EXPECT_EQ(CountEval(data, "flores_eng-deu"), 1012);
  EXPECT_EQ(CountEval(data, "flores_zho-eng"), 1012);
  int64_t mmlu = 0;
  for (const SetDef* d : GroupMembers("mmlu")) mmlu += CountEval(data, d->name);
  EXPECT_EQ(mmlu, 14079);  // the 2020 in-repo test split (SOURCES.md)
  int64_t gaokao = 0;
  for (const SetDef* d : GroupMembers("gaokao")) gaokao += CountEval(data, d->name);
  EXPECT_GT(gaokao, 1000);
}

TEST(RealFilesTest, FieldsOfKnownRecords) {
  PROCTOR_REQUIRE_SHARED_DATA(data);
  absl::StatusOr<std::vector<Doc>> arc = LoadEvalDocs(*FindSet("arc_e"), data);
  ASSERT_TRUE(arc.ok());
  EXPECT_EQ((*arc)[0].vars.at("question"), "Which technology was developed most recently?");
  EXPECT_THAT((*arc)[0].choices,
              ElementsAre("cellular telephone", "television", "refrigerator", "airplane"));
  EXPECT_EQ((*arc)[0].gold, 0);
  // ARC items labelled 1-4 or with 3/5 options resolve against their labels.
  for (const Doc& d : *arc) {
    ASSERT_GE(d.gold, 0);
    ASSERT_LT(d.gold, static_cast<int>(d.choices.size()));
  }
  absl::StatusOr<std::vector<Doc>> siqa = LoadEvalDocs(*FindSet("siqa"), data);
  ASSERT_TRUE(siqa.ok());
  EXPECT_EQ((*siqa)[0].gold, 2);  // dev-labels.lst: "3"
  absl::StatusOr<std::vector<Doc>> he = LoadEvalDocs(*FindSet("humaneval"), data);
  ASSERT_TRUE(he.ok());
  EXPECT_EQ((*he)[0].vars.at("task_id"), "HumanEval/0");
  EXPECT_EQ((*he)[0].vars.at("entry_point"), "has_close_elements");
}

SetDef ArcLike() {
  SetDef d = *FindSet("arc_e");
  d.path = "a.jsonl";
  return d;
}

TEST(MalformedTest, ErrorsNameFileAndLine) {
  TempDir dir;
  const char* good =
      R"({"question":{"stem":"Q","choices":[{"text":"a","label":"A"},{"text":"b","label":"B"}]},"answerKey":"A"})";
  SetDef d = ArcLike();
  struct Case {
    std::string second_line;
    std::string want;
  };
  std::vector<Case> cases = {
      {R"({"question":{"stem":"Q","choices":[)", "a.jsonl:2: JSON: "},
      {R"({"question":{"stem":"Q","choices":[{"text":"a","label":"A"}]},"answerKey":"Z"})",
       "a.jsonl:2: label \"Z\" matches no option"},
      {R"({"question":{"choices":[{"text":"a","label":"A"}]},"answerKey":"A"})",
       "a.jsonl:2: missing field \"question.stem\""},
      {R"({"question":{"stem":"Q","choices":[{"label":"A"}]},"answerKey":"A"})",
       "a.jsonl:2: option without \"text\""},
      {R"([1,2])", "a.jsonl:2: missing field"},
      {"\"just a string\"", "a.jsonl:2: record is not a JSON object"},
  };
  for (const Case& c : cases) {
    dir.Write("a.jsonl", std::string(good) + "\n" + c.second_line + "\n");
    absl::StatusOr<std::vector<Doc>> docs = LoadEvalDocs(d, dir.path());
    ASSERT_FALSE(docs.ok()) << c.second_line;
    EXPECT_EQ(docs.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(docs.status().message()), HasSubstr(c.want)) << c.second_line;
  }
}

TEST(MalformedTest, LabelsFileProblems) {
  TempDir dir;
  SetDef d = *FindSet("piqa");
  d.path = "p.jsonl";
  d.labels_path = "p.lst";
  dir.Write("p.jsonl", R"({"goal":"g","sol1":"a","sol2":"b"})"
                       "\n"
                       R"({"goal":"h","sol1":"c","sol2":"d"})"
                       "\n");
  dir.Write("p.lst", "0\n");
  EXPECT_THAT(std::string(LoadEvalDocs(d, dir.path()).status().message()),
              HasSubstr("p.lst: 1 labels for 2 records"));
  dir.Write("p.lst", "0\n7\n");
  EXPECT_THAT(std::string(LoadEvalDocs(d, dir.path()).status().message()),
              HasSubstr("p.lst:2: label \"7\" is not one of [0, 1]"));
  dir.Write("p.lst", "1\n0\n");
  absl::StatusOr<std::vector<Doc>> ok = LoadEvalDocs(d, dir.path());
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)[0].gold, 1);
  EXPECT_EQ((*ok)[1].vars.at("goal"), "h");
}

TEST(MalformedTest, EmptyAndMissing) {
  TempDir dir;
  SetDef d = ArcLike();
  dir.Write("a.jsonl", "\n\n");
  EXPECT_THAT(std::string(LoadEvalDocs(d, dir.path()).status().message()),
              HasSubstr("has no records"));
  d.path = "missing.jsonl";
  absl::Status s = LoadEvalDocs(d, dir.path()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr(dir.path() + "/missing.jsonl"));
}

TEST(CsvTest, QuotesCommasNewlines) {
  absl::StatusOr<std::vector<std::vector<std::string>>> rows =
      ParseCsv("a,\"b,c\",\"d\"\"e\"\r\n\"multi\nline\",x,\n", "t.csv");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_THAT((*rows)[0], ElementsAre("a", "b,c", "d\"e"));
  EXPECT_THAT((*rows)[1], ElementsAre("multi\nline", "x", ""));
  EXPECT_THAT(std::string(ParseCsv("a\n\"open,b\n", "t.csv").status().message()),
              HasSubstr("t.csv:2: unterminated quoted field"));
}

TEST(MmluCsvTest, BadAnswerAndShortRow) {
  TempDir dir;
  SetDef d = *FindSet("mmlu_anatomy");
  d.path = "m.csv";
  dir.Write("m.csv", "\"Q, one\",a,b,c,d,C\nQ2,a,b,c,d,E\n");
  EXPECT_THAT(std::string(LoadEvalDocs(d, dir.path()).status().message()),
              HasSubstr("m.csv: row 2: answer \"E\" is not one of A, B, C, D"));
  dir.Write("m.csv", "Q,a,b,c,C\n");
  EXPECT_THAT(std::string(LoadEvalDocs(d, dir.path()).status().message()),
              HasSubstr("m.csv: row 1: expected 6 columns, got 5"));
  dir.Write("m.csv", "\"Q, one\",a,b,c,d,C\n");
  absl::StatusOr<std::vector<Doc>> ok = LoadEvalDocs(d, dir.path());
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)[0].vars.at("question"), "Q, one");
  EXPECT_EQ((*ok)[0].gold, 2);
}

// Sets without data here: loaders on tiny files in the upstream schema.
TEST(SchemaFilesTest, SetsWithoutLocalData) {
  TempDir dir;
  struct Case {
    std::string set;
    std::string content;
    int gold;
    std::string var;
    std::string value;
  };
  std::vector<Case> cases = {
      {"hellaswag",
       R"({"ctx":"A man is","endings":["a","b","c","d"],"label":2})"
       "\n",
       2, "ctx", "A man is"},
      {"winogrande",
       R"({"sentence":"The cup broke because _ was weak.","option1":"cup","option2":"table","answer":"1"})"
       "\n",
       0, "after", " was weak."},
      {"copa",
       R"({"premise":"P","choice1":"x","choice2":"y","question":"cause","label":1})"
       "\n",
       1, "question", "cause"},
      {"rte",
       R"({"premise":"P","hypothesis":"H","label":"not_entailment"})"
       "\n",
       1, "a", "P"},
      {"cb",
       R"({"premise":"P","hypothesis":"H","label":"neutral"})"
       "\n",
       2, "b", "H"},
      {"cmnli",
       R"({"sentence1":"s1","sentence2":"s2","label":"entailment"})"
       "\n",
       1, "a", "s1"},
      {"wsc",
       R"({"text":"T","target":{"span1_text":"Mark","span2_text":"he"},"label":true})"
       "\n",
       1, "span2", "he"},
      {"storycloze",
       R"({"input_sentence_1":"a","input_sentence_2":"b","input_sentence_3":"c","input_sentence_4":"d","sentence_quiz1":"e","sentence_quiz2":"f","answer_right_ending":2})"
       "\n",
       1, "s4", "d"},
      {"race_high",
       R"({"article":"A","question":"Q","options":["o1","o2","o3","o4"],"answer":"D"})"
       "\n",
       3, "C", "o3"},
      {"eprstmt",
       R"({"sentence":"好","label":"Positive"})"
       "\n",
       1, "sentence", "好"},
      {"multirc",
       R"({"passage":{"text":"T","questions":[{"question":"Q","answers":[{"text":"a1","label":0},{"text":"a2","label":1}]}]}})"
       "\n",
       1, "answer", "a2"},
  };
  for (const Case& c : cases) {
    SetDef d = *FindSet(c.set);
    d.path = "x.jsonl";
    d.labels_path.clear();
    dir.Write("x.jsonl", c.content);
    absl::StatusOr<std::vector<Doc>> docs = LoadEvalDocs(d, dir.path());
    ASSERT_TRUE(docs.ok()) << c.set << ": " << docs.status();
    EXPECT_EQ(docs->back().gold, c.gold) << c.set;
    EXPECT_EQ(docs->back().vars.at(c.var), c.value) << c.set;
  }
}

TEST(SchemaFilesTest, GenerationSets) {
  TempDir dir;
  SetDef nq = *FindSet("nq");
  nq.path = "nq.csv";
  dir.Write("nq.csv", "who wrote hamlet\t['William Shakespeare', \"Shakespeare's\"]\n");
  absl::StatusOr<std::vector<Doc>> docs = LoadEvalDocs(nq, dir.path());
  ASSERT_TRUE(docs.ok()) << docs.status();
  EXPECT_THAT((*docs)[0].answers, ElementsAre("William Shakespeare", "Shakespeare's"));
  dir.Write("nq.csv", "no tab here\n");
  EXPECT_THAT(std::string(LoadEvalDocs(nq, dir.path()).status().message()),
              HasSubstr("nq.csv:1: no tab"));

  SetDef cmrc = *FindSet("cmrc2018");
  cmrc.path = "c.json";
  dir.Write(
      "c.json",
      R"({"data":[{"paragraphs":[{"context":"C1","qas":[{"question":"q1","answers":[{"text":"a"},{"text":"b"}]},{"question":"q2","answers":[{"text":"c"}]}]}]}]})");
  docs = LoadEvalDocs(cmrc, dir.path());
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[1].vars.at("question"), "q2");
  EXPECT_EQ((*docs)[1].vars.at("context"), "C1");
  EXPECT_THAT((*docs)[0].answers, ElementsAre("a", "b"));

  SetDef bbh = *FindSet("bbh_navigate");
  bbh.path = "b.json";
  dir.Write("b.json", R"({"examples":[{"input":"Go left.","target":"No"}]})");
  docs = LoadEvalDocs(bbh, dir.path());
  ASSERT_TRUE(docs.ok()) << docs.status();
  EXPECT_EQ((*docs)[0].answers[0], "No");

  SetDef lambada = *FindSet("lambada");
  lambada.path = "l.jsonl";
  dir.Write("l.jsonl", R"({"text":"he looked at the dog"})"
                       "\n");
  docs = LoadEvalDocs(lambada, dir.path());
  ASSERT_TRUE(docs.ok()) << docs.status();
  EXPECT_EQ((*docs)[0].vars.at("prefix"), "he looked at the");
  EXPECT_EQ((*docs)[0].answers[0], "dog");

  SetDef crows = *FindSet("crows_pairs");
  crows.path = "c.csv";
  dir.Write("c.csv", ",sent_more,sent_less,stereo_antistereo,bias_type\n0,A,B,stereo,race\n");
  docs = LoadEvalDocs(crows, dir.path());
  ASSERT_TRUE(docs.ok()) << docs.status();
  EXPECT_THAT((*docs)[0].choices, ElementsAre("A", "B"));
  EXPECT_EQ((*docs)[0].gold, 0);

  SetDef c3 = *FindSet("c3");
  c3.path = "c3.json";
  dir.Write("c3.json",
            R"([[["doc line"],[{"question":"q","choice":["x","y"],"answer":"y"}],"id"]])");
  docs = LoadEvalDocs(c3, dir.path());
  ASSERT_TRUE(docs.ok()) << docs.status();
  EXPECT_EQ((*docs)[0].gold, 1);
  EXPECT_EQ((*docs)[0].vars.at("context"), "doc line");
}

TEST(PythonListTest, Parses) {
  EXPECT_THAT(*ParsePythonStringList("['a', \"b's\", 'c\\'d']"), ElementsAre("a", "b's", "c'd"));
  EXPECT_TRUE(ParsePythonStringList("[]")->empty());
  EXPECT_FALSE(ParsePythonStringList("['a'").ok());
  EXPECT_FALSE(ParsePythonStringList("a").ok());
  EXPECT_FALSE(ParsePythonStringList("['a'] x").ok());
}

}  // namespace
}  // namespace proctor::eval
