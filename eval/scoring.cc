#include "eval/scoring.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "eval/bleu.h"
#include "eval/rouge.h"
#include "eval/strings.h"
#include "eval/text_metrics.h"

namespace proctor::eval {
namespace {

void Put(internal::SampleScore* s, const char* name, double value) {
  internal::MetricValue* m = s->add_metrics();
  m->set_name(name);
  m->set_value(value);
}

std::string FirstLine(std::string_view text) {
  std::string_view t = TrimLeft(text);
  if (size_t p = t.find('\n'); p != std::string_view::npos) t = t.substr(0, p);
  return std::string(Trim(t));
}

// Every ASCII capital A-G in order (GAOKAO / AGIEval multi-answer); the text
// after "【答案】" when present.
std::string CapitalLetters(std::string_view text) {
  if (size_t p = text.find("【答案】"); p != std::string_view::npos) text = text.substr(p);
  std::string out;
  for (char c : text) {
    if (c >= 'A' && c <= 'G') out.push_back(c);
  }
  return out;
}

// Text after the last "answer is", up to the end of the sentence.
std::string AfterAnswerIs(std::string_view text) {
  size_t best = std::string_view::npos;
  for (size_t p = text.find("answer is"); p != std::string_view::npos;
       p = text.find("answer is", p + 1)) {
    best = p;
  }
  if (best == std::string_view::npos) return FirstLine(text);
  std::string_view rest = text.substr(best + 9);
  if (size_t e = rest.find('\n'); e != std::string_view::npos) rest = rest.substr(0, e);
  rest = Trim(rest);
  if (!rest.empty() && rest.back() == '.') rest.remove_suffix(1);
  return std::string(Trim(rest));
}

}  // namespace

int ArgmaxOption(absl::Span<const double> logprobs, absl::Span<const int32_t> option_chars,
                 bool per_char) {
  int best = -1;
  double best_value = 0;
  for (size_t i = 0; i < logprobs.size(); ++i) {
    double v = logprobs[i];
    if (per_char) {
      int32_t chars = i < option_chars.size() ? option_chars[i] : 1;
      v /= static_cast<double>(std::max<int32_t>(chars, 1));
    }
    if (best < 0 || v > best_value) {
      best = static_cast<int>(i);
      best_value = v;
    }
  }
  return best;
}

int ArgmaxMeanLoglikelihood(absl::Span<const double> logprobs, absl::Span<const int32_t> tokens) {
  int best = -1;
  double best_value = 0;
  for (size_t i = 0; i < logprobs.size(); ++i) {
    int32_t n = i < tokens.size() ? tokens[i] : 1;
    double v = logprobs[i] / static_cast<double>(std::max<int32_t>(n, 1));
    if (best < 0 || v > best_value) {
      best = static_cast<int>(i);
      best_value = v;
    }
  }
  return best;
}

std::string PostProcess(const SetDef& def, std::string_view generation) {
  const std::string& p = def.postprocessor;
  if (p == "gsm8k") return Gsm8kPrediction(generation, Gsm8kMode::kCurrent);
  if (p == "gsm8k_legacy") return Gsm8kPrediction(generation, Gsm8kMode::kLegacy2023);
  if (p == "first_capital") return FirstCapital(generation);
  if (p == "option_letter") return OptionLetter(generation, "ABCDE");
  if (p == "capital_letters") return CapitalLetters(generation);
  if (p == "qa") return QaPostprocess(generation);
  if (p == "math") return MathExtractAnswer(generation);
  if (p == "first_line") return FirstLine(generation);
  if (p == "theoremqa") return AfterAnswerIs(generation);
  if (p == "bbh_mc") {
    std::string a = AfterAnswerIs(generation);
    // "(A)" → "(A)", as the BBH targets are written.
    if (size_t q = a.find('('); q != std::string::npos && q + 2 < a.size() && a[q + 2] == ')') {
      return a.substr(q, 3);
    }
    return a;
  }
  if (p == "bbh_free") return AfterAnswerIs(generation);
  if (p == "cmrc") {
    // OpenCompass cmrc_postprocess: text.split("答案是")[1] when present.
    constexpr std::string_view kMarker = "答案是";
    size_t b = generation.find(kMarker);
    if (b == std::string_view::npos) return std::string(generation);
    std::string_view rest = generation.substr(b + kMarker.size());
    return std::string(rest.substr(0, rest.find(kMarker)));
  }
  if (p == "yes_no") {
    std::string a = absl::AsciiStrToLower(AfterAnswerIs(generation));
    size_t yes = a.find("yes");
    size_t no = a.find("no");
    if (yes == std::string::npos && no == std::string::npos) return "";
    return yes < no ? "true" : "false";
  }
  if (p == "lambada") {
    std::string_view t = TrimLeft(generation);
    size_t e = 0;
    while (e < t.size() && !absl::ascii_isspace(static_cast<unsigned char>(t[e])) &&
           !absl::ascii_ispunct(static_cast<unsigned char>(t[e]))) {
      ++e;
    }
    return std::string(t.substr(0, e));
  }
  if (p == "record") {
    std::string a = FirstLine(generation);
    if (size_t q = a.find("Answer:"); q != std::string::npos) a = a.substr(q + 7);
    return std::string(Trim(a));
  }
  if (p == "code") {
    // MBPP: the code between [BEGIN] and [DONE]; quotes around it dropped.
    std::string_view t = generation;
    if (size_t b = t.find("[BEGIN]"); b != std::string_view::npos) t = t.substr(b + 7);
    if (size_t d = t.find("[DONE]"); d != std::string_view::npos) t = t.substr(0, d);
    std::string_view s = Trim(t);
    if (s.size() >= 2 && s.front() == '\'' && s.back() == '\'') s = s.substr(1, s.size() - 2);
    return def.name == "mbpp" ? std::string(s) : std::string(generation);
  }
  return std::string(generation);
}

absl::StatusOr<internal::SampleScore> ScoreOutputs(const SetDef& def,
                                                   const internal::SampleTarget& target,
                                                   absl::Span<const v1::Output> outputs) {
  internal::SampleScore score;
  if (def.request == "loglikelihood") {
    if (outputs.size() != static_cast<size_t>(target.request_continuations_size())) {
      return absl::InvalidArgumentError(absl::StrCat(def.name, ": expected ",
                                                     target.request_continuations_size(),
                                                     " outputs, got ", outputs.size()));
    }
    std::vector<double> logprobs;
    std::vector<int32_t> tokens;
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (!outputs[i].has_loglikelihood()) {
        return absl::InvalidArgumentError(
            absl::StrCat(def.name, ": output ", i, " is not a loglikelihood output"));
      }
      const auto& conts = outputs[i].loglikelihood().continuations();
      if (conts.size() != target.request_continuations(static_cast<int>(i))) {
        return absl::InvalidArgumentError(absl::StrCat(
            def.name, ": output ", i, " has ", conts.size(), " continuations, expected ",
            target.request_continuations(static_cast<int>(i))));
      }
      for (const v1::ContinuationScore& c : conts) {
        if (!std::isfinite(c.logprob())) {
          return absl::InvalidArgumentError(
              absl::StrCat(def.name, ": output ", i, " has a non-finite logprob"));
        }
        if (c.num_tokens() < 0) {
          return absl::InvalidArgumentError(
              absl::StrCat(def.name, ": output ", i, " has a negative token count"));
        }
        logprobs.push_back(c.logprob());
        tokens.push_back(c.num_tokens());
      }
    }
    // Options first, then the context scores (prompt.h): none (a target
    // planned before context requests existed, or an empty context), one
    // shared by every option, or one per option.
    const size_t num_options = static_cast<size_t>(target.option_chars_size());
    const size_t total = logprobs.size();
    if (num_options == 0 ||
        (total != num_options && total != num_options + 1 && total != 2 * num_options)) {
      return absl::InvalidArgumentError(absl::StrCat(def.name, ": ", total, " scores do not fit ",
                                                     num_options, " options (with 0, 1 or ",
                                                     num_options, " context scores)"));
    }
    if (target.gold() < 0 || target.gold() >= static_cast<int>(num_options)) {
      return absl::InvalidArgumentError(absl::StrCat(def.name, ": target has no gold option"));
    }
    std::vector<double> option_lp(logprobs.begin(), logprobs.begin() + num_options);
    std::vector<double> whole_lp = option_lp;
    std::vector<int32_t> whole_tokens(tokens.begin(), tokens.begin() + num_options);
    for (size_t i = 0; i < num_options && total > num_options; ++i) {
      size_t c = total == num_options + 1 ? num_options : num_options + i;
      whole_lp[i] += logprobs[c];
      whole_tokens[i] += tokens[c];
    }
    std::vector<int32_t> chars(target.option_chars().begin(), target.option_chars().end());
    int pred = ArgmaxMeanLoglikelihood(whole_lp, whole_tokens);
    int pred_ll = ArgmaxOption(option_lp, chars, /*per_char=*/false);
    int pred_norm = ArgmaxOption(option_lp, chars, /*per_char=*/true);
    Put(&score, "acc", pred == target.gold() ? 100.0 : 0.0);
    Put(&score, "acc_ll", pred_ll == target.gold() ? 100.0 : 0.0);
    Put(&score, "acc_norm", pred_norm == target.gold() ? 100.0 : 0.0);
    score.set_prediction(absl::StrCat(pred));
    return score;
  }
  if (def.request == "loglikelihood_rolling") {
    if (outputs.size() != 1 || !outputs[0].has_loglikelihood_rolling()) {
      return absl::InvalidArgumentError(
          absl::StrCat(def.name, ": expected one loglikelihood_rolling output"));
    }
    score.set_rolling_loglikelihood(outputs[0].loglikelihood_rolling().logprob());
    score.set_rolling_words(target.num_words());
    score.set_rolling_bytes(target.num_bytes());
    return score;
  }
  if (outputs.size() != 1 || !outputs[0].has_generate()) {
    return absl::InvalidArgumentError(absl::StrCat(def.name, ": expected one generate output"));
  }
  const std::string& text = outputs[0].generate().text();
  std::string pred = PostProcess(def, text);
  score.set_prediction(pred);
  std::vector<std::string> golds(target.answers().begin(), target.answers().end());
  const std::string& metric = def.metric;
  if (metric == "gsm8k_acc") {
    if (golds.empty()) return absl::InvalidArgumentError(def.name + ": target has no answer");
    std::optional<std::string> gold = Gsm8kGold(golds[0]);
    if (!gold) return absl::InvalidArgumentError(def.name + ": gold answer has no ####");
    Gsm8kMode mode =
        def.postprocessor == "gsm8k_legacy" ? Gsm8kMode::kLegacy2023 : Gsm8kMode::kCurrent;
    Put(&score, "acc", Gsm8kCorrect(pred, *gold, mode) ? 100.0 : 0.0);
  } else if (metric == "em") {
    bool ok = false;
    if (def.postprocessor == "qa" || def.postprocessor == "record" ||
        def.postprocessor == "first_line" || def.postprocessor == "lambada" ||
        def.postprocessor == "cmrc") {
      ok = ExactMatchAny(pred, golds);
    } else {
      for (const std::string& g : golds) ok |= Trim(g) == pred;
      if (def.postprocessor == "capital_letters" && !golds.empty()) {
        std::string all;
        for (const std::string& g : golds) all += g;
        ok = pred == all;
      }
    }
    Put(&score, "em", ok ? 100.0 : 0.0);
  } else if (metric == "math_acc") {
    bool ok = false;
    for (const std::string& g : golds) {
      std::optional<std::string> boxed = LastBoxed(g);
      ok |= MathEquivalent(pred, boxed ? *boxed : g);
    }
    Put(&score, "acc", ok ? 100.0 : 0.0);
  } else if (metric == "letters_acc") {
    // Per sub-question: the i-th predicted letter against the i-th gold.
    double right = 0;
    for (size_t i = 0; i < golds.size(); ++i) {
      std::string g(Trim(golds[i]));
      if (i < pred.size() && g.size() == 1 && pred[i] == g[0]) right += 1;
      if (golds.size() == 1 && g.size() > 1) right = pred == g ? 1 : 0;
    }
    Put(&score, "acc", golds.empty() ? 0.0 : 100.0 * right / static_cast<double>(golds.size()));
  } else if (metric == "bleu") {
    if (golds.empty()) return absl::InvalidArgumentError(def.name + ": target has no reference");
    BleuStats st = SegmentBleuStats(pred, golds[0]);
    score.set_bleu_hyp_len(st.hyp_len);
    score.set_bleu_ref_len(st.ref_len);
    for (int n = 0; n < 4; ++n) {
      score.add_bleu_correct(st.correct[static_cast<size_t>(n)]);
      score.add_bleu_total(st.total[static_cast<size_t>(n)]);
    }
  } else if (metric == "rouge") {
    if (golds.empty()) return absl::InvalidArgumentError(def.name + ": target has no reference");
    Put(&score, "rouge1", 100.0 * RougeN(golds[0], pred, 1).fmeasure);
    Put(&score, "rouge2", 100.0 * RougeN(golds[0], pred, 2).fmeasure);
    Put(&score, "rougeL", 100.0 * RougeL(golds[0], pred).fmeasure);
  } else if (metric == "pass@1") {
    score.set_needs_judge(true);
    score.set_program(target.program_prefix() + pred);
    score.set_tests(target.tests());
  } else {
    return absl::InternalError(absl::StrCat(def.name, ": unknown metric ", metric));
  }
  return score;
}

}  // namespace proctor::eval
