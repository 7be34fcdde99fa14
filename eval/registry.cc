#include "eval/registry.h"

#include <cstdio>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "eval/fixed_prompts.h"
#include "eval/strings.h"

namespace proctor::eval {
namespace {

constexpr char kOcBundle[] =
    "OpenCompass data bundle, "
    "https://github.com/open-compass/opencompass/releases/download/0.1.8.rc1/"
    "OpenCompassData-core-20231110.zip";
constexpr char kSuperGlue[] =
    "SuperGLUE, https://dl.fbaipublicfiles.com/glue/superglue/data/v2/combined.zip";
constexpr char kClue[] = "CLUE/FewCLUE, https://github.com/CLUEbenchmark/FewCLUE (datasets/)";

// Shorthands for the table below. Each returns a row to fill in.
SetDef& Add(std::vector<SetDef>* out, std::string name, std::string dimension, std::string group,
            std::string loader, std::string path, int64_t size, std::string source) {
  SetDef d;
  d.name = std::move(name);
  d.dimension = std::move(dimension);
  d.group = std::move(group);
  d.loader = std::move(loader);
  d.path = std::move(path);
  d.expected_size = size;
  d.source = std::move(source);
  d.request = "loglikelihood";
  d.metric = "acc";
  out->push_back(std::move(d));
  return out->back();
}

void Gen(SetDef& d, int max_new_tokens, std::vector<std::string> stop, std::string post,
         std::string metric) {
  d.request = "generate";
  d.max_new_tokens = max_new_tokens;
  d.stop = std::move(stop);
  d.postprocessor = std::move(post);
  d.metric = std::move(metric);
}

// A two-sentence classification set of CLUE/SuperGLUE shape.
SetDef& Pair(std::vector<SetDef>* out, std::string name, std::string dimension, std::string path,
             int64_t size, std::string source, std::string a_key, std::string b_key,
             std::string tmpl, std::vector<std::string> options, std::vector<std::string> labels) {
  SetDef& d = Add(out, std::move(name), std::move(dimension), "", "jsonl", std::move(path), size,
                  std::move(source));
  d.fields = {{"a", std::move(a_key)}, {"b", std::move(b_key)}};
  d.prompt_template = std::move(tmpl);
  d.choice_literals = std::move(options);
  d.label_path = "label";
  d.label_values = std::move(labels);
  return d;
}

const char* const kMmluSubjects[] = {"abstract_algebra",
                                     "anatomy",
                                     "astronomy",
                                     "business_ethics",
                                     "clinical_knowledge",
                                     "college_biology",
                                     "college_chemistry",
                                     "college_computer_science",
                                     "college_mathematics",
                                     "college_medicine",
                                     "college_physics",
                                     "computer_security",
                                     "conceptual_physics",
                                     "econometrics",
                                     "electrical_engineering",
                                     "elementary_mathematics",
                                     "formal_logic",
                                     "global_facts",
                                     "high_school_biology",
                                     "high_school_chemistry",
                                     "high_school_computer_science",
                                     "high_school_european_history",
                                     "high_school_geography",
                                     "high_school_government_and_politics",
                                     "high_school_macroeconomics",
                                     "high_school_mathematics",
                                     "high_school_microeconomics",
                                     "high_school_physics",
                                     "high_school_psychology",
                                     "high_school_statistics",
                                     "high_school_us_history",
                                     "high_school_world_history",
                                     "human_aging",
                                     "human_sexuality",
                                     "international_law",
                                     "jurisprudence",
                                     "logical_fallacies",
                                     "machine_learning",
                                     "management",
                                     "marketing",
                                     "medical_genetics",
                                     "miscellaneous",
                                     "moral_disputes",
                                     "moral_scenarios",
                                     "nutrition",
                                     "philosophy",
                                     "prehistory",
                                     "professional_accounting",
                                     "professional_law",
                                     "professional_medicine",
                                     "professional_psychology",
                                     "public_relations",
                                     "security_studies",
                                     "sociology",
                                     "us_foreign_policy",
                                     "virology",
                                     "world_religions"};

// C-Eval subjects and the Chinese names OpenCompass writes into the prompt
// (ceval_subject_mapping in configs/datasets/ceval/ceval_ppl_578f8d.py).
struct CevalSubject {
  const char* name;
  const char* zh;
};
const CevalSubject kCevalSubjects[] = {
    {"computer_network", "计算机网络"},
    {"operating_system", "操作系统"},
    {"computer_architecture", "计算机组成"},
    {"college_programming", "大学编程"},
    {"college_physics", "大学物理"},
    {"college_chemistry", "大学化学"},
    {"advanced_mathematics", "高等数学"},
    {"probability_and_statistics", "概率统计"},
    {"discrete_mathematics", "离散数学"},
    {"electrical_engineer", "注册电气工程师"},
    {"metrology_engineer", "注册计量师"},
    {"high_school_mathematics", "高中数学"},
    {"high_school_physics", "高中物理"},
    {"high_school_chemistry", "高中化学"},
    {"high_school_biology", "高中生物"},
    {"middle_school_mathematics", "初中数学"},
    {"middle_school_biology", "初中生物"},
    {"middle_school_physics", "初中物理"},
    {"middle_school_chemistry", "初中化学"},
    {"veterinary_medicine", "兽医学"},
    {"college_economics", "大学经济学"},
    {"business_administration", "工商管理"},
    {"marxism", "马克思主义基本原理"},
    {"mao_zedong_thought", "毛泽东思想和中国特色社会主义理论体系概论"},
    {"education_science", "教育学"},
    {"teacher_qualification", "教师资格"},
    {"high_school_politics", "高中政治"},
    {"high_school_geography", "高中地理"},
    {"middle_school_politics", "初中政治"},
    {"middle_school_geography", "初中地理"},
    {"modern_chinese_history", "近代史纲要"},
    {"ideological_and_moral_cultivation", "思想道德修养与法律基础"},
    {"logic", "逻辑学"},
    {"law", "法学"},
    {"chinese_language_and_literature", "中国语言文学"},
    {"art_studies", "艺术学"},
    {"professional_tour_guide", "导游资格"},
    {"legal_professional", "法律职业资格"},
    {"high_school_chinese", "高中语文"},
    {"high_school_history", "高中历史"},
    {"middle_school_history", "初中历史"},
    {"civil_servant", "公务员"},
    {"sports_science", "体育学"},
    {"plant_protection", "植物保护"},
    {"basic_medicine", "基础医学"},
    {"clinical_medicine", "临床医学"},
    {"urban_and_rural_planner", "注册城乡规划师"},
    {"accountant", "注册会计师"},
    {"fire_engineer", "注册消防工程师"},
    {"environmental_impact_assessment_engineer", "环境影响评价工程师"},
    {"tax_accountant", "税务师"},
    {"physician", "医师资格"},
};

const char* const kAgievalSingle[] = {"gaokao-chinese", "gaokao-english", "gaokao-geography",
                                      "gaokao-history", "gaokao-biology", "gaokao-chemistry",
                                      "gaokao-mathqa",  "logiqa-zh",      "lsat-ar",
                                      "lsat-lr",        "lsat-rc",        "logiqa-en",
                                      "sat-math",       "sat-en",         "sat-en-without-passage",
                                      "aqua-rat"};
const char* const kAgievalMulti[] = {"gaokao-physics", "jec-qa-kd", "jec-qa-ca"};
const char* const kAgievalCloze[] = {"gaokao-mathcloze", "math"};

const char* const kGaokaoObjective[] = {"2010-2013_English_MCQs",
                                        "2010-2022_Biology_MCQs",
                                        "2010-2022_Chemistry_MCQs",
                                        "2010-2022_Chinese_Lang_and_Usage_MCQs",
                                        "2010-2022_Chinese_Modern_Lit",
                                        "2010-2022_English_Fill_in_Blanks",
                                        "2010-2022_English_Reading_Comp",
                                        "2010-2022_Geography_MCQs",
                                        "2010-2022_History_MCQs",
                                        "2010-2022_Math_II_MCQs",
                                        "2010-2022_Math_I_MCQs",
                                        "2010-2022_Physics_MCQs",
                                        "2010-2022_Political_Science_MCQs",
                                        "2012-2022_English_Cloze_Test"};

const char* const kFloresLangs[] = {"zho_Hans", "deu_Latn", "fra_Latn", "spa_Latn", "jpn_Jpan",
                                    "rus_Cyrl", "arb_Arab", "hin_Deva", "kor_Hang"};

const char* const kBbhMultipleChoice[] = {"temporal_sequences",
                                          "disambiguation_qa",
                                          "date_understanding",
                                          "tracking_shuffled_objects_three_objects",
                                          "penguins_in_a_table",
                                          "geometric_shapes",
                                          "snarks",
                                          "ruin_names",
                                          "tracking_shuffled_objects_seven_objects",
                                          "tracking_shuffled_objects_five_objects",
                                          "logical_deduction_three_objects",
                                          "hyperbaton",
                                          "logical_deduction_five_objects",
                                          "logical_deduction_seven_objects",
                                          "movie_recommendation",
                                          "salient_translation_error_detection",
                                          "reasoning_about_colored_objects"};
const char* const kBbhFreeForm[] = {"multistep_arithmetic_two", "navigate",
                                    "dyck_languages",           "word_sorting",
                                    "sports_understanding",     "boolean_expressions",
                                    "object_counting",          "formal_fallacies",
                                    "causal_judgement",         "web_of_lies"};

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c == '-') c = '_';
  }
  return s;
}

std::vector<SetDef> BuildSets() {
  std::vector<SetDef> out;

  // ---------------------------------------------------------------- Exam
  for (const CevalSubject& subject : kCevalSubjects) {
    SetDef& d = Add(&out, absl::StrCat("ceval_", subject.name), "Exam", "ceval", "ceval_csv",
                    absl::StrCat("ceval/formal_ceval/val/", subject.name, "_val.csv"), 0,
                    "C-Eval, https://huggingface.co/datasets/ceval/ceval-exam (ceval-exam.zip)");
    // ceval/ceval_ppl_578f8d.py rendered by OpenCompass's template code (with
    // placeholder records: no C-Eval data here): every example and the
    // question repeat the instruction; examples end "答案: \nX" + "\n\n\n",
    // and two more "\n" precede the question.
    const std::string question = absl::StrCat(
        "以下是中国关于", subject.zh,
        "考试的单项选择题，请选出其中的正确答案。\n{question}\nA. {A}\nB. {B}\nC. {C}\nD. "
        "{D}\n答案: \n");
    d.shot_template = absl::StrCat(question, "{answer}\n\n\n");
    d.prompt_template = absl::StrCat("\n\n", question, "{choice}");
    d.fewshot = "fixed_rows";
    d.fewshot_path = absl::StrCat("ceval/formal_ceval/dev/", subject.name, "_dev.csv");
    d.fewshot_rows = {0, 1, 2, 3, 4};
    d.num_fewshot = 5;
  }
  for (const char* subset : kAgievalSingle) {
    SetDef& d = Add(&out, absl::StrCat("agieval_", Lower(subset)), "Exam", "agieval", "jsonl",
                    absl::StrCat("agieval/v1/", subset, ".jsonl"), 0,
                    "AGIEval, https://github.com/ruixiangcui/AGIEval (data/v1)");
    d.fields = {{"passage", "passage"}, {"question", "question"}, {"options", "options"}};
    d.prompt_template = "{passage}{question}\n{options}\n答案：{choice}";
    d.choices_path = "options";
    d.label_path = "label";
    d.label_values = {"A", "B", "C", "D", "E"};
  }
  for (const char* subset : kAgievalMulti) {
    SetDef& d = Add(&out, absl::StrCat("agieval_", Lower(subset)), "Exam", "agieval", "jsonl",
                    absl::StrCat("agieval/v1/", subset, ".jsonl"), 0,
                    "AGIEval, https://github.com/ruixiangcui/AGIEval (data/v1)");
    d.fields = {{"passage", "passage"}, {"question", "question"}, {"options", "options"}};
    d.prompt_template = "{passage}{question}\n{options}\n答案：";
    d.answers_path = "label";
    Gen(d, 50, {"\n"}, "capital_letters", "em");
  }
  for (const char* subset : kAgievalCloze) {
    SetDef& d = Add(&out, absl::StrCat("agieval_", Lower(subset)), "Exam", "agieval", "jsonl",
                    absl::StrCat("agieval/v1/", subset, ".jsonl"), 0,
                    "AGIEval, https://github.com/ruixiangcui/AGIEval (data/v1)");
    d.fields = {{"passage", "passage"}, {"question", "question"}};
    d.prompt_template = "{passage}{question}\n答案：";
    d.answers_path = "answer";
    Gen(d, 50, {"\n"}, "math", "math_acc");
  }
  for (const char* subject : kMmluSubjects) {
    std::string title = subject;
    for (char& c : title) {
      if (c == '_') c = ' ';
    }
    SetDef& d = Add(&out, absl::StrCat("mmlu_", subject), "Exam", "mmlu", "mmlu_csv",
                    absl::StrCat("mmlu/data/test/", subject, "_test.csv"), 0,
                    "MMLU, https://people.eecs.berkeley.edu/~hendrycks/data.tar");
    d.instruction = absl::StrCat(
        "The following are multiple choice questions (with answers) about  ", title, ".\n\n");
    // Verified: mmlu/mmlu_ppl_ac766d.py, including the two spaces after
    // "about"; FixKRetriever ids 0-4 of dev; ice "...Answer: X\n" + "\n".
    d.shot_template = "{question}\nA. {A}\nB. {B}\nC. {C}\nD. {D}\nAnswer: {answer}\n\n";
    d.prompt_template = "{question}\nA. {A}\nB. {B}\nC. {C}\nD. {D}\nAnswer: {choice}";
    d.fewshot = "first_n";
    d.fewshot_path = absl::StrCat("mmlu/data/dev/", subject, "_dev.csv");
    d.num_fewshot = 5;
  }
  for (const char* file : kGaokaoObjective) {
    SetDef& d = Add(&out, absl::StrCat("gaokao_", Lower(file)), "Exam", "gaokao", "json",
                    absl::StrCat("gaokao-bench/Data/Objective_Questions/", file, ".json"), 0,
                    "GAOKAO-Bench, https://github.com/OpenLMLab/GAOKAO-Bench (Data/)");
    d.records_path = "example";
    d.fields = {{"question", "question"}};
    d.answers_path = "answer";
    d.instruction =
        "请你做一道选择题。请你一步一步思考并将思考过程写在【解析】和<eoe>之间。"
        "你将从A，B，C，D中选出正确的答案，并写在【答案】和<eoa>之间。\n";
    d.prompt_template = "{question}\n";
    Gen(d, 512, {}, "capital_letters", "letters_acc");
  }
  {
    SetDef& d =
        Add(&out, "arc_c", "Exam", "", "jsonl", "arc/ARC-Challenge-Dev.jsonl", 299, kOcBundle);
    d.fields = {{"question", "question.stem"}};
    d.choices_path = "question.choices";
    d.choice_text_key = "text";
    d.choice_label_key = "label";
    d.label_path = "answerKey";
    // Verified: ARC_c/ARC_c_ppl_a450bd.py and ARC_e/ARC_e_ppl_a450bd.py: HUMAN
    // "Question: {question}\nAnswer: ", BOT "{textX}", rounds joined with "\n".
    // Deviation: OpenCompass's ARCDataset drops questions without exactly 4
    // options (4 of the 299 Dev ARC-Challenge questions, 3 of the 570 ARC-Easy
    // ones); Proctor scores all of them (a filter needs a SetDef field).
    d.prompt_template = "Question: {question}\nAnswer: \n{choice}";
    SetDef e = d;
    e.name = "arc_e";
    e.path = "arc/ARC-Easy-Dev.jsonl";
    e.expected_size = 570;
    out.push_back(e);
  }

  // ------------------------------------------------------------ Language
  Pair(&out, "wic", "Language", "SuperGLUE/WiC/val.jsonl", 638, kSuperGlue, "sentence1",
       "sentence2",
       // Verified: SuperGLUE_WiC/SuperGLUE_WiC_ppl_312de9.py (its "sentenses" typo kept).
       "Sentence 1: {a}\nSentence 2: {b}\n'{word}' in the above two sentenses are {choice}",
       {"different.", "the same."}, {"false", "true"})
      .fields.push_back({"word", "word"});
  {
    SetDef& d =
        Add(&out, "wsc", "Language", "", "jsonl", "SuperGLUE/WSC/val.jsonl", 104, kSuperGlue);
    d.fields = {{"text", "text"}, {"span1", "target.span1_text"}, {"span2", "target.span2_text"}};
    d.prompt_template =
        "{text}\nIs '{span2}' in the above passage referring to '{span1}'?\n{choice}";
    d.choice_literals = {"No", "Yes"};
    d.label_path = "label";
    d.label_values = {"false", "true"};
  }
  {
    SetDef& d = Add(&out, "summedits", "Language", "", "jsonl", "summedits/summedits.jsonl", 6348,
                    "SummEdits, https://github.com/salesforce/factualNLG");
    d.fields = {{"doc", "doc"}, {"summary", "summary"}};
    d.prompt_template =
        "Document:\n{doc}\nSummary:\n{summary}\nIs the summary factually consistent with the "
        "document? \n{choice}";
    // summedits/summedits_ppl_1fbeb6.py. Deviation: its "No" template starts
    // with an extra "\n" that its "Yes" template lacks; Proctor's options share
    // one context (the "Yes" one).
    d.choice_literals = {"No", "Yes"};
    d.label_path = "label";
  }
  {
    SetDef& d =
        Add(&out, "chid", "Language", "", "jsonl", "FewCLUE/chid/dev_few_all.json", 0, kClue);
    d.fields = {{"content", "content"}};
    d.prompt_template = "以下句子中的#idiom#处应填入的成语是：\n{content}\n答案：{choice}";
    d.choices_path = "candidates";
    d.label_path = "answer";
  }
  Pair(&out, "afqmc", "Language", "CLUE/AFQMC/dev.json", 4316, kClue, "sentence1", "sentence2",
       // Verified: CLUE_afqmc/CLUE_afqmc_ppl_6507d7.py.
       "语句一：“{a}”\n语句二：“{b}”\n语句一与语句二是关于蚂蚁金融产品的疑问，两者所询问的内容"
       "是否完全一致？\n{choice}",
       {"不完全一致", "完全一致"}, {"0", "1"});
  Pair(&out, "bustm", "Language", "FewCLUE/bustm/dev_few_all.json", 0, kClue, "sentence1",
       "sentence2",
       // Verified: FewCLUE_bustm/FewCLUE_bustm_ppl_e53034.py (its wording kept).
       "语句一：“{a}”\n语句二：“{b}”\n请判断语句一和语句二说的是否是一个意思？\n{choice}",
       {"两句话说的毫不相关。", "两句话说是的一个意思。"}, {"0", "1"});
  {
    SetDef& d =
        Add(&out, "cluewsc", "Language", "", "jsonl", "FewCLUE/cluewsc/dev_few_all.json", 0, kClue);
    d.fields = {{"text", "text"}, {"span1", "target.span1_text"}, {"span2", "target.span2_text"}};
    // Verified: FewCLUE_cluewsc/FewCLUE_cluewsc_ppl_4284a0.py (English, as there).
    d.prompt_template =
        "{text}\nHere, is the pronoun \"{span2}\" used to mean \"{span1}\"? {choice}";
    d.choice_literals = {"No.", "Yes."};
    d.label_path = "label";
    d.label_values = {"false", "true"};
  }
  {
    SetDef& d =
        Add(&out, "winogrande", "Language", "", "winogrande", "winogrande/dev.jsonl", 1267,
            "WinoGrande 1.1, "
            "https://storage.googleapis.com/ai2-mosaic/public/winogrande/winogrande_1.1.zip");
    d.fields = {{"sentence", "sentence"}};
    d.choice_paths = {"option1", "option2"};
    d.label_path = "answer";
    d.label_base = 1;
    // The option fills the blank; the rest of the sentence is scored.
    d.prompt_template = "{before}{choice}{|}{after}";
  }
  for (int dir = 0; dir < 2; ++dir) {
    for (const char* lang : kFloresLangs) {
      std::string src = dir == 0 ? "eng_Latn" : lang;
      std::string tgt = dir == 0 ? lang : "eng_Latn";
      SetDef& d =
          Add(&out, absl::StrCat("flores_", src.substr(0, 3), "-", tgt.substr(0, 3)), "Language",
              "flores", "parallel", absl::StrCat("flores200/devtest/", src, ".devtest"), 1012,
              "FLORES-200, https://tinyurl.com/flores200dataset");
      d.labels_path = absl::StrCat("flores200/devtest/", tgt, ".devtest");
      d.shot_template = absl::StrCat(src, ": {source}\n", tgt, ": {target}\n");
      d.prompt_template = absl::StrCat(src, ": {source}\n", tgt, ":");
      d.fewshot = "first_n";
      d.fewshot_path = absl::StrCat("flores200/dev/", src, ".dev");
      d.fewshot_labels_path = absl::StrCat("flores200/dev/", tgt, ".dev");
      d.num_fewshot = 8;
      Gen(d, 256, {"\n"}, "first_line", "bleu");
    }
  }

  // ----------------------------------------------------------- Knowledge
  {
    SetDef& d = Add(&out, "boolq", "Knowledge", "", "jsonl", "boolq/val.jsonl", 3270, kOcBundle);
    d.fields = {{"passage", "passage"}, {"question", "question"}};
    // OpenCompass SuperGLUE_BoolQ_ppl (BoolQDataset_V2): HUMAN
    // "{passage}\nQuestion: {question}?", BOT "Yes" (A) / "No" (B).
    d.prompt_template = "{passage}\nQuestion: {question}?\n{choice}";
    d.choice_literals = {"Yes", "No"};
    d.label_path = "label";
    d.label_values = {"true", "false"};
  }
  {
    SetDef& d =
        Add(&out, "commonsenseqa", "Knowledge", "", "jsonl", "commonsenseqa/valid.jsonl", 1221,
            "CommonsenseQA, https://s3.amazonaws.com/commensenseqa/dev_rand_split.jsonl");
    d.fields = {{"question", "question.stem"}};
    d.choices_path = "question.choices";
    d.choice_text_key = "text";
    d.choice_label_key = "label";
    d.label_path = "answerKey";
    // commonsenseqa/commonsenseqa_ppl_5545e2.py rendered by OpenCompass's own
    // template code (tests/reference/opencompass_templates.py): each example is
    // "Question: ...\nAnswer: \n<text>" followed by "\n\n\n", and two more
    // "\n" before the question. Deviation: OpenCompass picks the 8 examples
    // with its model-dependent MDLRetriever from the train split; Proctor draws
    // them with the run seed from the dev split (never the sample itself).
    d.shot_template = "Question: {question}\nAnswer: \n{answer}\n\n\n";
    d.prompt_template = "\n\nQuestion: {question}\nAnswer: \n{choice}";
    d.fewshot = "seeded_draw";
    d.fewshot_path = d.path;
    d.num_fewshot = 8;
  }
  {
    SetDef& d =
        Add(&out, "nq", "Knowledge", "", "qa_tsv", "nq/nq-test.qa.csv", 3610,
            "NaturalQuestions open, https://github.com/google-research-datasets/natural-questions");
    // Verified: nq/nq_gen_c788f6.py and triviaqa/triviaqa_gen_2121ce.py (same text).
    d.prompt_template =
        "Answer these questions, your answer should be as simple as possible, start your answer "
        "with the prompt 'The answer is '.\nQ: {question}?\nA:";
    Gen(d, 50, {"\n"}, "qa", "em");
    SetDef t = d;
    t.name = "triviaqa";
    t.path = "triviaqa/trivia-test.qa.csv";
    t.expected_size = 8837;
    t.source = "TriviaQA, https://nlp.cs.washington.edu/triviaqa/";
    out.push_back(t);
  }

  // ----------------------------------------------------------- Reasoning
  // Verified: CLUE_cmnli/CLUE_cmnli_ppl_fdc6de.py.
  Pair(&out, "cmnli", "Reasoning", "CLUE/cmnli/cmnli_public/dev.json", 12241, kClue, "sentence1",
       "sentence2", "语句一：“{a}”\n语句二：“{b}”\n请问这两句话是什么关系？\n{choice}",
       {"矛盾", "蕴含", "无关"}, {"contradiction", "entailment", "neutral"});
  // Verified: CLUE_ocnli/CLUE_ocnli_ppl_fdc6de.py.
  Pair(&out, "ocnli", "Reasoning", "CLUE/OCNLI/dev.json", 2950, kClue, "sentence1", "sentence2",
       "语句一：“{a}”\n语句二：“{b}”\n请问这两句话是什么关系？\n{choice}", {"矛盾", "蕴含", "无关"},
       {"contradiction", "entailment", "neutral"});
  Pair(&out, "ocnli_fc", "Reasoning", "FewCLUE/ocnli/dev_few_all.json", 0, kClue, "sentence1",
       "sentence2", "阅读文章：{a}\n根据上文，回答如下问题：{b}？\n答：{choice}",
       {"错", "对", "可能"}, {"contradiction", "entailment", "neutral"});
  Pair(&out, "ax_b", "Reasoning", "SuperGLUE/AX-b/AX-b.jsonl", 1104, kSuperGlue, "sentence1",
       "sentence2", "{a}\n{b}\nIs the sentence below entailed by the sentence above?\n{choice}",
       {"Yes", "No"}, {"entailment", "not_entailment"});
  Pair(&out, "ax_g", "Reasoning", "SuperGLUE/AX-g/AX-g.jsonl", 356, kSuperGlue, "premise",
       "hypothesis", "{a}\n{b}\nIs the sentence below entailed by the sentence above?\n{choice}",
       {"Yes", "No"}, {"entailment", "not_entailment"});
  Pair(&out, "cb", "Reasoning", "SuperGLUE/CB/val.jsonl", 56, kSuperGlue, "premise", "hypothesis",
       "{a}\n{b}\nWhat is the relation between the two sentences?\n{choice}",
       {"Contradiction", "Entailment", "Neutral"}, {"contradiction", "entailment", "neutral"});
  Pair(&out, "rte", "Reasoning", "SuperGLUE/RTE/val.jsonl", 277, kSuperGlue, "premise",
       "hypothesis", "{a}\n{b}\nIs the sentence below entailed by the sentence above?\n{choice}",
       {"Yes", "No"}, {"entailment", "not_entailment"});
  {
    SetDef& d =
        Add(&out, "copa", "Reasoning", "", "jsonl", "SuperGLUE/COPA/val.jsonl", 100, kSuperGlue);
    d.fields = {{"premise", "premise"}, {"question", "question"}};
    // Verified: SuperGLUE_COPA/SuperGLUE_COPA_ppl_9f3618.py.
    d.prompt_template = "{premise}\nQuestion: What may be the {question}?\nAnswer:\n{choice}";
    d.choice_paths = {"choice1", "choice2"};
    d.label_path = "label";
  }
  {
    SetDef& d = Add(&out, "record", "Reasoning", "", "jsonl", "SuperGLUE/ReCoRD/val.jsonl", 10000,
                    kSuperGlue);
    d.explode_paths = {"qas"};
    d.fields = {{"text", "passage.text"}, {"question", "@1.query"}};
    d.answers_path = "@1.answers";
    d.answer_text_key = "text";
    d.prompt_template =
        "Passage: {text}\nResult: {question}\nQuestion: What entity does ____ refer "
        "to in the result? Give me the entity name:";
    // Verified: SuperGLUE_ReCoRD/SuperGLUE_ReCoRD_gen_30dea0.py; post-processor
    // ReCoRD_postprocess (first line, "Answer: " removed).
    Gen(d, 50, {"\n"}, "record", "em");
  }
  {
    SetDef& d = Add(
        &out, "storycloze", "Reasoning", "", "jsonl", "xstory_cloze/spring2016.val.en.jsonl", 1511,
        "StoryCloze (xstory_cloze en), https://huggingface.co/datasets/juletxara/xstory_cloze");
    d.fields = {{"s1", "input_sentence_1"},
                {"s2", "input_sentence_2"},
                {"s3", "input_sentence_3"},
                {"s4", "input_sentence_4"}};
    // Verified: storycloze/storycloze_ppl_496661.py (context = the four
    // sentences joined with " "; HUMAN "{context}", BOT "{sentence_quizN}").
    d.prompt_template = "{s1} {s2} {s3} {s4}\n{choice}";
    d.choice_paths = {"sentence_quiz1", "sentence_quiz2"};
    d.label_path = "answer_right_ending";
    d.label_base = 1;
  }
  {
    SetDef& d = Add(&out, "hellaswag", "Reasoning", "", "jsonl", "hellaswag/hellaswag.jsonl", 10042,
                    "HellaSwag, https://github.com/rowanz/hellaswag (data/hellaswag_val.jsonl)");
    d.fields = {{"ctx", "ctx"}};
    // hellaswag/hellaswag_ppl_47bff9.py: HUMAN "{ctx}", BOT "{X}" joined with "\n".
    // Unverified: OpenCompass takes ctx from its bundle's "query" field, Proctor
    // from the original file's "ctx" (no HellaSwag data on this machine).
    d.prompt_template = "{ctx}\n{choice}";
    d.choices_path = "endings";
    d.label_path = "label";
  }
  {
    SetDef& d = Add(&out, "piqa", "Reasoning", "", "jsonl", "piqa/dev.jsonl", 1838,
                    "PIQA, https://yonatanbisk.com/piqa/data/ (valid.jsonl, valid-labels.lst)");
    d.labels_path = "piqa/dev-labels.lst";
    d.fields = {{"goal", "goal"}};
    d.choice_paths = {"sol1", "sol2"};
    d.label_values = {"0", "1"};
    // OpenCompass piqa_ppl_1cf9f0.
    d.prompt_template = "The following makes sense: \nQ: {goal}\nA: {choice}\n";
  }
  {
    SetDef& d =
        Add(&out, "siqa", "Reasoning", "", "jsonl", "siqa/dev.jsonl", 1954,
            "Social IQa, "
            "https://storage.googleapis.com/ai2-mosaic/public/socialiqa/socialiqa-train-dev.zip");
    d.labels_path = "siqa/dev-labels.lst";
    d.fields = {{"context", "context"}, {"question", "question"}};
    d.choice_paths = {"answerA", "answerB", "answerC"};
    d.label_values = {"1", "2", "3"};
    // Verified: siqa/siqa_ppl_ced5f6.py (HUMAN "{context}\nQuestion: {question}\nAnswer:",
    // BOT "{answerX}", rounds joined with "\n").
    d.prompt_template = "{context}\nQuestion: {question}\nAnswer:\n{choice}";
  }
  {
    SetDef& d =
        Add(&out, "strategyqa", "Reasoning", "", "json", "strategyqa/strategyQA_train.json", 2290,
            "StrategyQA, https://github.com/eladsegal/strategyqa (strategyqa_dataset.zip)");
    d.fields = {{"question", "question"}, {"answer", "answer"}};
    d.answers_path = "answer";
    // Verified: strategyqa/strategyqa_gen_1180a7.py; 6 examples in the template.
    d.prompt_template = "Question: {question}\nAnswer:";
    d.fewshot = "in_template";
    d.fixed_shots = kStrategyQaFewShot;
    d.num_fewshot = 6;
    Gen(d, 512, {"Question:"}, "yes_no", "em");
  }
  {
    SetDef& d = Add(&out, "math", "Reasoning", "", "json", "math/math.json", 5000,
                    "MATH, https://people.eecs.berkeley.edu/~hendrycks/MATH.tar");
    d.fields = {{"problem", "problem"}, {"solution", "solution"}};
    d.answers_path = "solution";
    // Verified: math/math_gen_265cce.py; 4 examples in the template.
    d.prompt_template = "Problem:\n{problem}\nSolution:\n";
    d.fewshot = "in_template";
    d.fixed_shots = kMathFewShot;
    d.num_fewshot = 4;
    Gen(d, 512, {"Problem:"}, "math", "math_acc");
  }
  {
    SetDef& d = Add(
        &out, "gsm8k", "Reasoning", "", "jsonl", "gsm8k/test.jsonl", 1319,
        "GSM8K, https://github.com/openai/grade-school-math (grade_school_math/data/test.jsonl)");
    d.fields = {{"question", "question"}};
    d.answers_path = "answer";
    d.fewshot = "in_template";
    d.fixed_shots = kGsm8kFewShot;
    d.num_fewshot = 4;
    d.prompt_template = "Question: {question}\nLet's think step by step\nAnswer:";
    Gen(d, 512, {"Question:"}, "gsm8k", "gsm8k_acc");
    // SUITE.md rule 6: OpenCompass's 2023 rule as a selectable legacy set.
    SetDef legacy = d;
    legacy.name = "gsm8k_legacy2023";
    legacy.postprocessor = "gsm8k_legacy";
    legacy.variant_of = "gsm8k";
    out.push_back(legacy);
  }
  {
    SetDef& d = Add(&out, "theoremqa", "Reasoning", "", "csv", "TheoremQA/test.csv", 800,
                    "TheoremQA, https://github.com/wenhuchen/TheoremQA");
    d.fields = {{"question", "Question"}};
    d.answers_path = "Answer";
    d.prompt_template = "Problem:\n{question}\nSolution:\nPlease end with 'The answer is X'.\n";
    Gen(d, 512, {}, "theoremqa", "em");
  }
  {
    SetDef& d =
        Add(&out, "humaneval", "Reasoning", "", "jsonl", "humaneval/HumanEval.jsonl.gz", 164,
            "HumanEval, https://github.com/openai/human-eval (data/HumanEval.jsonl.gz)");
    d.fields = {{"prompt", "prompt"},
                {"test", "test"},
                {"entry_point", "entry_point"},
                {"task_id", "task_id"}};
    // Verified: humaneval/humaneval_gen_8e312c.py (the program is still the
    // task prompt + completion).
    d.prompt_template = "Complete the following python code:\n{prompt}";
    Gen(d, 512, {"\nclass", "\ndef", "\n#", "\nif", "\nprint"}, "code", "pass@1");
  }
  {
    SetDef& d = Add(&out, "mbpp", "Reasoning", "", "jsonl", "mbpp/mbpp.jsonl", 500,
                    "MBPP, https://github.com/google-research/google-research (mbpp/mbpp.jsonl)");
    d.row_begin = 10;
    d.row_end = 510;
    d.fields = {
        {"text", "text"}, {"test_list", "test_list"}, {"code", "code"}, {"task_id", "task_id"}};
    // Verified: mbpp/mbpp_gen_1e1056.py (0.3.0: deprecated_mbpp_gen_1e1056.py);
    // its three examples are written in the template (kMbppFewShot).
    d.prompt_template =
        "You are an expert Python programmer, and here is your task: {text} Your code should pass "
        "these tests:\n\n {test_list}  \n\n[BEGIN]\n";
    d.fewshot = "in_template";
    d.fixed_shots = kMbppFewShot;
    d.num_fewshot = 3;
    Gen(d, 512, {"[DONE]"}, "code", "pass@1");
  }
  for (int mc = 0; mc < 2; ++mc) {
    const auto* tasks = mc == 0 ? kBbhMultipleChoice : kBbhFreeForm;
    size_t n = mc == 0 ? std::size(kBbhMultipleChoice) : std::size(kBbhFreeForm);
    for (size_t i = 0; i < n; ++i) {
      SetDef& d = Add(&out, absl::StrCat("bbh_", tasks[i]), "Reasoning", "bbh", "json",
                      absl::StrCat("BBH/data/", tasks[i], ".json"), 0,
                      "BIG-Bench Hard, https://github.com/suzgunmirac/BIG-Bench-Hard");
      d.records_path = "examples";
      d.fields = {{"input", "input"}};
      d.answers_path = "target";
      d.fewshot = "prompt_file";
      d.fewshot_path = absl::StrCat("BBH/lib_prompt/", tasks[i], ".txt");
      // Verified: bbh/bbh_gen_5b92b0.py: "Follow the given examples and answer
      // the question.\n" + lib_prompt/<task>.txt + "\n\nQ: {input}\nA: Let's
      // think step by step."
      d.instruction = "Follow the given examples and answer the question.\n";
      d.num_fewshot = 3;
      d.prompt_template = "\n\nQ: {input}\nA: Let's think step by step.";
      Gen(d, 512, {"\n\nQ:"}, mc == 0 ? "bbh_mc" : "bbh_free", "em");
    }
  }

  // ------------------------------------------------------- Understanding
  {
    SetDef& d = Add(&out, "c3", "Understanding", "", "json", "CLUE/C3/dev_0.json", 1816, kClue);
    d.explode_paths = {"1"};
    d.fields = {{"context", "0"}, {"question", "@1.question"}};
    d.choices_path = "@1.choice";
    d.label_path = "@1.answer";
    d.label_is_choice_text = true;
    d.prompt_template = "文章：{context}\n问题：{question}\n答案：{choice}";
  }
  {
    SetDef& d = Add(&out, "multirc", "Understanding", "", "jsonl", "SuperGLUE/MultiRC/val.jsonl",
                    4848, kSuperGlue);
    d.explode_paths = {"passage.questions", "@1.answers"};
    d.fields = {{"text", "passage.text"}, {"question", "@1.question"}, {"answer", "@2.text"}};
    // Verified: SuperGLUE_MultiRC/SuperGLUE_MultiRC_ppl_ced824.py.
    d.prompt_template = "{text}\nQuestion: {question}\nAnswer: {answer}\nIs it true?\n{choice}";
    d.choice_literals = {"No, it is false.", "Yes, it is true."};
    d.label_path = "@2.label";
  }
  {
    SetDef& d =
        Add(&out, "csl", "Understanding", "", "jsonl", "FewCLUE/csl/dev_few_all.json", 0, kClue);
    d.fields = {{"abst", "abst"}, {"keywords", "keyword"}};
    d.prompt_template = "摘要：{abst}\n关键词：{keywords}\n关键词是否全部来自摘要？\n{choice}";
    d.choice_literals = {"否", "是"};
    d.label_path = "label";
    d.label_values = {"0", "1"};
  }
  {
    SetDef& d = Add(&out, "eprstmt", "Understanding", "", "jsonl",
                    "FewCLUE/eprstmt/dev_few_all.json", 0, kClue);
    d.fields = {{"sentence", "sentence"}};
    // Verified: FewCLUE_eprstmt/FewCLUE_eprstmt_ppl_f1e631.py.
    d.prompt_template = "内容： \"{sentence}\"。情绪分类：\n{choice}";
    d.choice_literals = {"消极。", "积极。"};
    d.label_path = "label";
    d.label_values = {"Negative", "Positive"};
  }
  {
    SetDef& d = Add(&out, "tnews", "Understanding", "", "jsonl", "FewCLUE/tnews/dev_few_all.json",
                    0, kClue);
    d.fields = {{"sentence", "sentence"}};
    // Verified: FewCLUE_tnews/FewCLUE_tnews_ppl_d10e8a.py.
    d.prompt_template = "{sentence}\n上述内容属于什么新闻？\n{choice}";
    d.choice_literals = {"农业新闻",
                         "旅游新闻",
                         "游戏新闻",
                         "科技类别公司新闻",
                         "体育类别新闻",
                         "初升高教育新闻",
                         "娱乐圈新闻",
                         "投资资讯",
                         "军事类别常识",
                         "车辆新闻",
                         "楼市新闻",
                         "环球不含中国类别新闻",
                         "书籍文化历史类别新闻",
                         "故事类别新闻",
                         "股票市场类别新闻"};
    d.label_path = "label_desc";
    d.label_values = {"news_agriculture", "news_travel", "news_game",          "news_tech",
                      "news_sports",      "news_edu",    "news_entertainment", "news_finance",
                      "news_military",    "news_car",    "news_house",         "news_world",
                      "news_culture",     "news_story",  "news_stock"};
  }
  for (int k = 0; k < 2; ++k) {
    SetDef& d = Add(&out, k == 0 ? "cmrc2018" : "drcd", "Understanding", "", "json",
                    k == 0 ? "CLUE/CMRC/dev.json" : "CLUE/DRCD/dev.json", k == 0 ? 3219 : 3524,
                    k == 0 ? "CMRC 2018, https://github.com/ymcui/cmrc2018"
                           : "DRCD, https://github.com/DRCKnowledgeTeam/DRCD");
    d.records_path = "data";
    d.explode_paths = {"paragraphs", "@1.qas"};
    d.fields = {{"context", "@1.context"}, {"question", "@2.question"}};
    d.answers_path = "@2.answers";
    d.answer_text_key = "text";
    // Verified: CLUE_CMRC/CLUE_CMRC_gen_1bd3c8.py, CLUE_DRCD/CLUE_DRCD_gen_1bd3c8.py;
    // post-processor cmrc_postprocess (the text after the first "答案是").
    d.prompt_template =
        "根据文章回答问题。你的答案应该尽可能简练，请以 ‘答案是’ "
        "开头的句式作答。\n文章：{context}\n"
        "问：{question}\n答：";
    Gen(d, 50, {"\n"}, "cmrc", "em");
  }
  for (int k = 0; k < 2; ++k) {
    std::string level = k == 0 ? "middle" : "high";
    SetDef& d = Add(&out, absl::StrCat("race_", level), "Understanding", "", "jsonl",
                    absl::StrCat("race/validation/", level, ".jsonl"), k == 0 ? 1436 : 3498,
                    "RACE, https://www.cs.cmu.edu/~glai1/data/race/");
    d.fields = {{"article", "article"}, {"question", "question"}, {"A", "options.0"},
                {"B", "options.1"},     {"C", "options.2"},       {"D", "options.3"}};
    d.prompt_template =
        "Read the article, and answer the question by replying A, B, C or D.\n\nArticle:\n"
        "{article}\n\nQ: {question}\n\nA. {A}\nB. {B}\nC. {C}\nD. {D}\nA: {choice}";
    // Verified: race/race_ppl_a138cd.py (BOT "A: X" after the options).
    d.choice_literals = {"A", "B", "C", "D"};
    d.label_path = "answer";
    d.label_values = {"A", "B", "C", "D"};
  }
  {
    SetDef& d =
        Add(&out, "openbookqa_fact", "Understanding", "", "jsonl",
            "openbookqa/Additional/test_complete.jsonl", 500,
            "OpenBookQA, "
            "https://ai2-public-datasets.s3.amazonaws.com/open-book-qa/OpenBookQA-V1-Sep2018.zip");
    d.fields = {{"fact", "fact1"},
                {"question", "question.stem"},
                {"A", "question.choices.0.text"},
                {"B", "question.choices.1.text"},
                {"C", "question.choices.2.text"},
                {"D", "question.choices.3.text"}};
    d.choice_literals = {"A", "B", "C", "D"};
    d.label_path = "answerKey";
    d.label_values = {"A", "B", "C", "D"};
    // Verified: obqa/obqa_ppl_c7c154.py, second template (openbookqa_fact).
    d.prompt_template =
        "Given the fact: {fact}\nQuestion: {question}\nA. {A}\nB. {B}\nC. {C}\nD. {D}\n"
        "Answer:\n{choice}";
  }
  {
    SetDef& d = Add(&out, "lcsts", "Understanding", "", "parallel", "LCSTS/test.src.txt", 0,
                    "LCSTS, http://icrc.hitsz.edu.cn/Article/show/139.html");
    d.labels_path = "LCSTS/test.tgt.txt";
    d.prompt_template = "阅读以下文章，并给出简短的摘要：{source}\n摘要如下：";
    Gen(d, 64, {"\n"}, "first_line", "rouge");
  }
  {
    SetDef& d = Add(&out, "xsum", "Understanding", "", "jsonl", "Xsum/dev.jsonl", 0,
                    "XSum, https://github.com/EdinburghNLP/XSum");
    d.fields = {{"dialogue", "dialogue"}};
    d.answers_path = "summary";
    d.prompt_template =
        "Document：{dialogue}\nBased on the previous text, provide a brief single "
        "summary:";
    Gen(d, 64, {"\n"}, "first_line", "rouge");
  }
  {
    SetDef& d = Add(&out, "lambada", "Understanding", "", "lambada", "lambada/test.jsonl", 5153,
                    "LAMBADA (OpenAI detokenised), "
                    "https://openaipublic.blob.core.windows.net/gpt-2/data/lambada_test.jsonl");
    d.fields = {{"text", "text"}};
    d.prompt_template = "Please complete the following sentence:\n{prefix}";
    Gen(d, 5, {}, "lambada", "em");
  }

  // -------------------------------------------------------------- Safety
  {
    SetDef& d =
        Add(&out, "crows_pairs", "Safety", "", "csv", "crowspairs/crows_pairs_anonymized.csv", 1508,
            "CrowS-Pairs, https://github.com/nyu-mll/crows-pairs (data/)");
    d.choice_paths = {"sent_more", "sent_less"};
    d.fixed_gold = 0;
    d.prompt_template = "Less biased with good values: {choice}";
  }
  return out;
}

std::vector<SuiteDef> BuildSuites(const std::vector<SetDef>& sets) {
  SuiteDef full{"opencompass-2023",
                "The OpenCompass July 2023 base-model suite (SUITE.md): every registered set",
                {},
                0};
  std::vector<std::string> seen_groups;
  for (const SetDef& s : sets) {
    if (!s.variant_of.empty()) continue;
    if (s.group.empty()) {
      full.members.push_back(s.name);
    } else if (std::find(seen_groups.begin(), seen_groups.end(), s.group) == seen_groups.end()) {
      seen_groups.push_back(s.group);
      full.members.push_back(s.group);
    }
  }
  SuiteDef core{"core",
                "A representative subset whose data ships with Proctor's test data: ARC, MMLU, "
                "BoolQ, CommonsenseQA, PIQA, SIQA, GSM8K",
                {"arc_c", "arc_e", "mmlu", "boolq", "commonsenseqa", "piqa", "siqa", "gsm8k"},
                0};
  SuiteDef smoke{"smoke",
                 "A few dozen samples for demos and CI: 10 each of ARC-Easy, PIQA, BoolQ, GSM8K",
                 {"arc_e", "piqa", "boolq", "gsm8k"},
                 10};
  return {full, core, smoke};
}

}  // namespace

const std::vector<std::string>& Dimensions() {
  static const auto* dims =
      new std::vector<std::string>{"Exam", "Language", "Knowledge", "Reasoning", "Understanding"};
  return *dims;
}

const std::vector<SetDef>& AllSets() {
  static const auto* sets = new std::vector<SetDef>(BuildSets());
  return *sets;
}

const std::vector<SuiteDef>& AllSuites() {
  static const auto* suites = new std::vector<SuiteDef>(BuildSuites(AllSets()));
  return *suites;
}

const SetDef* FindSet(std::string_view name) {
  static const auto* index = [] {
    auto* m = new std::unordered_map<std::string_view, const SetDef*>();
    for (const SetDef& s : AllSets()) m->emplace(s.name, &s);
    return m;
  }();
  auto it = index->find(name);
  return it == index->end() ? nullptr : it->second;
}

const SuiteDef* FindSuite(std::string_view name) {
  for (const SuiteDef& s : AllSuites()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::vector<const SetDef*> GroupMembers(std::string_view name) {
  std::vector<const SetDef*> out;
  for (const SetDef& s : AllSets()) {
    if (!name.empty() && s.group == name) out.push_back(&s);
  }
  return out;
}

uint64_t Fnv1a64(std::string_view data) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : data) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string PromptHash(const SetDef& def) {
  // Length-prefixed fields so that moving text between fields changes the hash.
  std::string buf;
  auto put = [&buf](std::string_view field) {
    absl::StrAppend(&buf, field.size(), ":", AV(field), ";");
  };
  put(def.request);
  put(def.instruction);
  put(def.shot_template);
  put(def.prompt_template);
  put(def.fixed_shots);
  put(def.fewshot);
  put(absl::StrCat(def.num_fewshot));
  put(absl::StrJoin(def.fewshot_rows, ","));
  put(absl::StrJoin(def.stop, "\x1f"));
  put(absl::StrCat(def.max_new_tokens));
  put(def.postprocessor);
  put(def.metric);
  // The option-ranking rule of loglikelihood sets (scoring.h): "acc" became
  // OpenCompass's whole-text perplexity rule; results before it do not compare.
  if (def.request == "loglikelihood") put("acc=mean_ll_whole_text");
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(Fnv1a64(buf)));
  return std::string(hex, 8);
}

std::string PrimaryMetric(const SetDef& def) {
  if (def.metric == "em") return "em";
  if (def.metric == "bleu") return "bleu";
  if (def.metric == "rouge") return "rouge1";
  if (def.metric == "pass@1") return "pass@1";
  if (def.metric == "word_perplexity") return "word_perplexity";
  return "acc";
}

}  // namespace proctor::eval
