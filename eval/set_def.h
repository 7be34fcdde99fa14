// The declarative description of one evaluation set (a row of the registry
// table in registry.cc): where its data lives, how a record maps to template
// variables, options and gold answers, how prompts are built, and how outputs
// are post-processed and scored. No per-set code: loaders, templates and
// metrics are selected by name. See docs/design/eval.md.
#ifndef PROCTOR_EVAL_SET_DEF_H_
#define PROCTOR_EVAL_SET_DEF_H_

#include <cstdint>
#include <string>
#include <vector>

namespace proctor::eval {

// One template variable taken from a record: `var` ← value at `path`
// (dot-separated object keys; arrays of strings are joined with `join`).
struct FieldMap {
  std::string var;
  std::string path;
};

struct SetDef {
  // --- identity -------------------------------------------------------------
  std::string name;       // registry name, e.g. "arc_e", "mmlu_anatomy"
  std::string dimension;  // Exam, Language, Knowledge, Reasoning, Understanding, Safety
  std::string group;      // "" or the group it belongs to ("mmlu", "flores", ...)
  // Non-empty for a scoring variant of another set (e.g. the 2023 GSM8K
  // rule): selectable by name, never part of a suite, group or dimension.
  std::string variant_of;

  // --- data -----------------------------------------------------------------
  // Loader name: "jsonl" (also .jsonl.gz), "json" (records under
  // `records_path`, or the document's values when it is an object),
  // "csv" (header row; columns are fields), "mmlu_csv", "ceval_csv",
  // "parallel" (path/labels_path line pairs), "qa_tsv", "winogrande",
  // "lambada". See loaders.h.
  std::string loader;
  std::string path;          // evaluation split, relative to the data root
  std::string labels_path;   // optional: one gold label per line (PIQA, SIQA),
                             // or the target side of a "parallel" set
  std::string records_path;  // "json" loader: key holding the record array
  int64_t row_begin = 0;     // evaluation rows [row_begin, row_end); -1 = to end
  int64_t row_end = -1;
  int64_t expected_size = 0;  // documented eval split size (0 = unknown)
  std::string source;         // where to obtain the files (for error messages)

  // Record → variables, options and gold. Paths are dot-separated keys or
  // array indices; "@1.x" refers to the element produced by the first
  // `explode_paths` level, "@2.x" to the second.
  std::vector<std::string> explode_paths;  // nested arrays whose elements are the samples
  std::vector<FieldMap> fields;
  std::string choices_path;                  // array of options (strings or objects)
  std::string choice_text_key;               // key of the text in option objects
  std::string choice_label_key;              // key of the option's label ("A"); gold = match
  std::vector<std::string> choice_paths;     // or: one path per option
  std::vector<std::string> choice_literals;  // or: constant options ("No", "Yes")
  std::string label_path;                    // gold label
  std::vector<std::string> label_values;     // label value of option i; empty = index
  int label_base = 0;                        // integer labels: value of option 0
  bool label_is_choice_text = false;         // gold = option whose text equals the label
  int fixed_gold = -1;                       // gold option when the data has no label
  std::string answers_path;                  // generation: gold answer(s)
  std::string answer_text_key;               // key of the text in answer objects

  // --- prompt ---------------------------------------------------------------
  std::string request;  // "loglikelihood", "generate", "loglikelihood_rolling"
  // The question. Placeholders {var}; loglikelihood templates contain
  // {choice} (the option text) and may mark the context/continuation split
  // with {|} (default: just before {choice}).
  std::string prompt_template;
  std::string instruction;    // rendered once before the shots (may use {var} of the first record)
  std::string shot_template;  // a solved example; {answer} is the gold option text
  std::string fixed_shots;    // few-shot text written in the template itself
  // Few-shot policy: "none", "in_template", "prompt_file" (fewshot_path read
  // verbatim as the prefix), "first_n" (first num_fewshot rows
  // of `fewshot_path`), "fixed_rows" (`fewshot_rows` of fewshot_path),
  // "seeded_draw" (num_fewshot rows drawn with the run seed; never the sample
  // itself when fewshot_path == path).
  std::string fewshot = "none";
  std::string fewshot_path;
  std::string fewshot_labels_path;  // labels (or parallel targets) of fewshot_path
  std::vector<int64_t> fewshot_rows;
  int num_fewshot = 0;
  std::vector<std::string> stop;  // generate: stop strings
  int max_new_tokens = 0;

  // --- scoring --------------------------------------------------------------
  // Post-processor: "none", "gsm8k", "gsm8k_legacy", "first_capital",
  // "option_letter", "qa", "math", "first_line", "yes_no", "theoremqa",
  // "lambada", "cmrc", "code" (program assembled for a sandbox judge).
  std::string postprocessor = "none";
  // Metric: "acc" (loglikelihood: acc and acc_norm), "em", "bleu", "rouge",
  // "pass@1", "gsm8k_acc", "math_acc", "word_perplexity".
  std::string metric = "acc";
  bool weighted = false;  // group aggregation weight by sample count
};

}  // namespace proctor::eval

#endif  // PROCTOR_EVAL_SET_DEF_H_
