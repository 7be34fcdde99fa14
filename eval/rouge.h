// ROUGE-1/2/L F-measures compatible with Google's rouge-score package
// (default tokenizer: lower-case, non-[a-z0-9] runs become separators, no
// stemming). Pure functions.
#ifndef PROCTOR_EVAL_ROUGE_H_
#define PROCTOR_EVAL_ROUGE_H_

#include <string>
#include <string_view>
#include <vector>

namespace proctor::eval {

struct RougeScore {
  double precision = 0;
  double recall = 0;
  double fmeasure = 0;
};

// rouge-score's tokenizer. Non-ASCII text yields no tokens, as there.
std::vector<std::string> RougeTokenize(std::string_view text);

// ROUGE-N (n >= 1) of a prediction against a reference.
RougeScore RougeN(std::string_view reference, std::string_view prediction, int n);

// ROUGE-L (longest common subsequence, sentence level).
RougeScore RougeL(std::string_view reference, std::string_view prediction);

}  // namespace proctor::eval

#endif  // PROCTOR_EVAL_ROUGE_H_
