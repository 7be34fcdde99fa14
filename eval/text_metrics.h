// Post-processors and per-sample text metrics of SUITE.md: answer extraction
// (GSM8K current and 2023 legacy rules, first capital, option letter after
// "answer is", MATH boxed answers) and answer normalisation (NQ/TriviaQA
// SQuAD-style, MATH LaTeX). All functions are pure and thread-safe.
#ifndef PROCTOR_EVAL_TEXT_METRICS_H_
#define PROCTOR_EVAL_TEXT_METRICS_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace proctor::eval {

// --- GSM8K (SUITE.md rule 6) ----------------------------------------------

enum class Gsm8kMode {
  // Cut at the first "Question:", take the last `-?[0-9.,]+` match that holds
  // at least one digit, remove commas; compared as numbers.
  kCurrent,
  // OpenCompass 2023: first paragraph (before "\n\n"), last space-separated
  // token that holds a digit, keep only its digits; compared as strings.
  kLegacy2023,
};

// Gold answer: the text after the last "####", commas removed, trimmed.
// nullopt when the answer holds no "####".
std::optional<std::string> Gsm8kGold(std::string_view answer);

// The predicted answer string per `mode`; "" when none is found.
std::string Gsm8kPrediction(std::string_view generation, Gsm8kMode mode);

// kCurrent: both parse as finite numbers (a trailing '.' is allowed) and
// differ by less than 1e-6 x max(1, |gold|). kLegacy2023: non-empty and
// byte-equal to the gold, as OpenCompass 2023 compared strings.
bool Gsm8kCorrect(std::string_view prediction, std::string_view gold, Gsm8kMode mode);

// --- Option letters ---------------------------------------------------------

// First ASCII capital letter in `text` (OpenCompass first_capital_postprocess);
// "" when there is none.
std::string FirstCapital(std::string_view text);

// The first letter among `options` (e.g. "ABCD") that follows the first
// "answer is" (case-insensitive), skipping spaces, '(' and ':'; falls back to
// the first standalone option letter in the text. "" when none.
std::string OptionLetter(std::string_view text, std::string_view options);

// --- Short-answer QA (NQ, TriviaQA) -----------------------------------------

// SQuAD normalisation: lower-case (ASCII), drop ASCII punctuation, drop the
// words a/an/the, collapse whitespace.
std::string NormalizeQaAnswer(std::string_view text);

// OpenCompass NQ/TriviaQA post-processing: first line of the trimmed text;
// if it contains "answer is" (case-insensitive), the text after it; then
// trimmed of spaces and a trailing period.
std::string QaPostprocess(std::string_view generation);

// True when NormalizeQaAnswer(prediction) equals that of any gold answer.
bool ExactMatchAny(std::string_view prediction, const std::vector<std::string>& golds);

// --- MATH -------------------------------------------------------------------

// Contents of the last \boxed{...} (or \fbox{...}) with balanced braces;
// nullopt when there is none or it is unbalanced.
std::optional<std::string> LastBoxed(std::string_view text);

// The final answer of a MATH generation: the last boxed expression, else the
// text after the last "answer is" up to the end of its sentence/line, else "".
std::string MathExtractAnswer(std::string_view generation);

// Hendrycks-style LaTeX answer normalisation (\dfrac→\frac, \left/\right
// removed, units and degrees removed, "0.5"→"\frac{1}{2}", a/b→\frac{a}{b},
// "x = " prefix dropped, \sqrt2→\sqrt{2}, \frac12→\frac{1}{2}, spaces removed).
std::string MathNormalize(std::string_view answer);

// Equivalence after MathNormalize.
bool MathEquivalent(std::string_view a, std::string_view b);

// --- Misc -------------------------------------------------------------------

// Number of Unicode code points in UTF-8 `text` (bytes that are not UTF-8
// continuation bytes).
int64_t Utf8Length(std::string_view text);

// Whitespace-separated word count (ASCII whitespace).
int64_t CountWords(std::string_view text);

}  // namespace proctor::eval

#endif  // PROCTOR_EVAL_TEXT_METRICS_H_
