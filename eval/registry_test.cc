#include "eval/registry.h"

#include <regex>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::eval {
namespace {

std::set<std::string> Placeholders(const std::string& tmpl) {
  std::set<std::string> out;
  std::regex re("\\{([A-Za-z0-9_]+)\\}");
  for (std::sregex_iterator it(tmpl.begin(), tmpl.end(), re), end; it != end; ++it) {
    out.insert((*it)[1]);
  }
  return out;
}

// Variables a record provides: declared fields plus the loader's own.
std::set<std::string> Provided(const SetDef& d) {
  std::set<std::string> vars = {"choice", "answer"};
  for (const FieldMap& f : d.fields) vars.insert(f.var);
  if (d.loader == "mmlu_csv" || d.loader == "ceval_csv") {
    vars.insert({"question", "A", "B", "C", "D", "answer"});
  }
  if (d.loader == "parallel") vars.insert({"source", "target"});
  if (d.loader == "qa_tsv") vars.insert("question");
  if (d.loader == "winogrande") vars.insert({"before", "after"});
  if (d.loader == "lambada") vars.insert("prefix");
  return vars;
}

TEST(RegistryTest, EverySetIsWellFormed) {
  const std::set<std::string> loaders = {"jsonl",    "json",       "csv",
                                         "mmlu_csv", "ceval_csv",  "parallel",
                                         "qa_tsv",   "winogrande", "lambada"};
  const std::set<std::string> requests = {"loglikelihood", "generate", "loglikelihood_rolling"};
  const std::set<std::string> policies = {"none",    "in_template", "prompt_file",
                                          "first_n", "fixed_rows",  "seeded_draw"};
  const std::set<std::string> posts = {
      "none",   "gsm8k",   "gsm8k_legacy", "first_capital", "option_letter", "capital_letters",
      "qa",     "math",    "first_line",   "theoremqa",     "bbh_mc",        "bbh_free",
      "yes_no", "lambada", "record",       "code",          "cmrc"};
  const std::set<std::string> metrics = {"acc",      "em",          "bleu",
                                         "rouge",    "pass@1",      "gsm8k_acc",
                                         "math_acc", "letters_acc", "word_perplexity"};
  const std::set<std::string> dims = {"Exam",      "Language",      "Knowledge",
                                      "Reasoning", "Understanding", "Safety"};
  std::set<std::string> names;
  for (const SetDef& d : AllSets()) {
    SCOPED_TRACE(d.name);
    EXPECT_TRUE(names.insert(d.name).second) << "duplicate name";
    EXPECT_TRUE(loaders.count(d.loader));
    EXPECT_TRUE(requests.count(d.request));
    EXPECT_TRUE(policies.count(d.fewshot));
    EXPECT_TRUE(posts.count(d.postprocessor));
    EXPECT_TRUE(metrics.count(d.metric));
    EXPECT_TRUE(dims.count(d.dimension));
    EXPECT_FALSE(d.path.empty());
    EXPECT_FALSE(d.source.empty());
    EXPECT_EQ(d.path.find(".."), std::string::npos);
    if (d.request == "loglikelihood") {
      EXPECT_NE(d.prompt_template.find("{choice}"), std::string::npos);
      EXPECT_EQ(d.metric, "acc");
      EXPECT_TRUE(!d.choices_path.empty() || !d.choice_paths.empty() ||
                  !d.choice_literals.empty() || d.loader == "mmlu_csv" || d.loader == "ceval_csv");
    } else {
      EXPECT_GT(d.max_new_tokens, 0);
    }
    if (d.fewshot == "first_n" || d.fewshot == "fixed_rows" || d.fewshot == "seeded_draw" ||
        d.fewshot == "prompt_file") {
      EXPECT_FALSE(d.fewshot_path.empty());
      EXPECT_GT(d.num_fewshot, 0);
    }
    if (d.fewshot == "in_template") {
      EXPECT_FALSE(d.fixed_shots.empty());
    }
    std::set<std::string> vars = Provided(d);
    for (const std::string& t : {d.prompt_template, d.shot_template}) {
      for (const std::string& p : Placeholders(t)) EXPECT_TRUE(vars.count(p)) << "{" << p << "}";
    }
  }
}

TEST(RegistryTest, GroupsAndSuites) {
  EXPECT_EQ(GroupMembers("mmlu").size(), 57u);
  EXPECT_EQ(GroupMembers("ceval").size(), 52u);
  EXPECT_EQ(GroupMembers("bbh").size(), 27u);
  EXPECT_EQ(GroupMembers("agieval").size(), 21u);
  EXPECT_EQ(GroupMembers("flores").size(), 18u);
  EXPECT_EQ(GroupMembers("gaokao").size(), 14u);
  EXPECT_TRUE(GroupMembers("nope").empty());
  EXPECT_TRUE(GroupMembers("").empty());
  for (const SuiteDef& s : AllSuites()) {
    for (const std::string& m : s.members) {
      EXPECT_TRUE(FindSet(m) != nullptr || !GroupMembers(m).empty()) << s.name << ": " << m;
    }
  }
  ASSERT_NE(FindSuite("smoke"), nullptr);
  EXPECT_EQ(FindSuite("smoke")->default_limit, 10);
  EXPECT_EQ(FindSuite("zzz"), nullptr);
  // The full suite names every top-level set or group once, no variants.
  const SuiteDef* full = FindSuite("opencompass-2023");
  ASSERT_NE(full, nullptr);
  std::set<std::string> uniq(full->members.begin(), full->members.end());
  EXPECT_EQ(uniq.size(), full->members.size());
  EXPECT_EQ(uniq.count("gsm8k_legacy2023"), 0u);
  EXPECT_EQ(uniq.count("mmlu"), 1u);
  EXPECT_EQ(uniq.count("mmlu_anatomy"), 0u);
}

// Templates read off OpenCompass 0.3.0's configs for sets without data on
// this machine (the others are compared on real samples by
// scripts/check-templates and by prompt_test's golden prompts).
TEST(RegistryTest, TemplatesFollowOpenCompassConfigs) {
  using ::testing::ElementsAre;
  using ::testing::EndsWith;
  using ::testing::HasSubstr;
  const SetDef* ceval = FindSet("ceval_computer_network");
  ASSERT_NE(ceval, nullptr);
  EXPECT_THAT(ceval->prompt_template, HasSubstr("\n\n以下是中国关于计算机网络考试的单项选择题"));
  EXPECT_THAT(ceval->shot_template, EndsWith("\n答案: \n{answer}\n\n\n"));
  EXPECT_THAT(FindSet("ceval_physician")->prompt_template, HasSubstr("关于医师资格考试"));
  EXPECT_EQ(FindSet("copa")->prompt_template,
            "{premise}\nQuestion: What may be the {question}?\nAnswer:\n{choice}");
  EXPECT_THAT(FindSet("multirc")->choice_literals,
              ElementsAre("No, it is false.", "Yes, it is true."));
  EXPECT_THAT(FindSet("cmnli")->choice_literals, ElementsAre("矛盾", "蕴含", "无关"));
  EXPECT_THAT(FindSet("nq")->prompt_template, HasSubstr("start your answer with the prompt"));
  EXPECT_EQ(FindSet("nq")->prompt_template, FindSet("triviaqa")->prompt_template);
  EXPECT_EQ(FindSet("cmrc2018")->postprocessor, "cmrc");
  EXPECT_EQ(FindSet("strategyqa")->fewshot, "in_template");
  EXPECT_EQ(FindSet("math")->fewshot, "in_template");
  EXPECT_THAT(FindSet("bbh_navigate")->instruction,
              ::testing::StartsWith("Follow the given examples"));
}

TEST(PromptHashTest, StableEightHexDigits) {
  // FNV-1a 64 reference values (the published test vectors).
  EXPECT_EQ(Fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(Fnv1a64("foobar"), 0x85944171f73967e8ULL);
  const SetDef& arc = *FindSet("arc_e");
  std::string h = PromptHash(arc);
  EXPECT_EQ(h.size(), 8u);
  EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos);
  // Same template and policy → same hash (ARC-e and ARC-c share them).
  EXPECT_EQ(h, PromptHash(*FindSet("arc_c")));
  // Any change to template, policy or post-processor changes it.
  SetDef d = arc;
  d.prompt_template += " ";
  EXPECT_NE(PromptHash(d), h);
  d = arc;
  d.postprocessor = "first_capital";
  EXPECT_NE(PromptHash(d), h);
  d = arc;
  d.num_fewshot = 1;
  EXPECT_NE(PromptHash(d), h);
  EXPECT_NE(PromptHash(*FindSet("gsm8k")), PromptHash(*FindSet("gsm8k_legacy2023")));
}

}  // namespace
}  // namespace proctor::eval
