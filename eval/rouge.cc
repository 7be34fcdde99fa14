#include "eval/rouge.h"

#include <algorithm>
#include <map>

namespace proctor::eval {
namespace {

RougeScore FromCounts(double overlap, double pred_total, double ref_total) {
  RougeScore s;
  s.precision = pred_total > 0 ? overlap / pred_total : 0;
  s.recall = ref_total > 0 ? overlap / ref_total : 0;
  s.fmeasure =
      s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0;
  return s;
}

}  // namespace

std::vector<std::string> RougeTokenize(std::string_view text) {
  std::vector<std::string> tokens;
  std::string cur;
  for (char c : text) {
    char l = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if ((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9')) {
      cur.push_back(l);
    } else if (!cur.empty()) {
      tokens.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) tokens.push_back(std::move(cur));
  return tokens;
}

RougeScore RougeN(std::string_view reference, std::string_view prediction, int n) {
  std::vector<std::string> ref = RougeTokenize(reference);
  std::vector<std::string> pred = RougeTokenize(prediction);
  auto grams = [n](const std::vector<std::string>& toks) {
    std::map<std::vector<std::string>, int> counts;
    for (size_t i = 0; i + static_cast<size_t>(n) <= toks.size(); ++i) {
      ++counts[std::vector<std::string>(toks.begin() + static_cast<long>(i),
                                        toks.begin() + static_cast<long>(i) + n)];
    }
    return counts;
  };
  auto r = grams(ref);
  auto p = grams(pred);
  double overlap = 0, ref_total = 0, pred_total = 0;
  for (const auto& [g, c] : r) ref_total += c;
  for (const auto& [g, c] : p) {
    pred_total += c;
    auto it = r.find(g);
    if (it != r.end()) overlap += std::min(c, it->second);
  }
  return FromCounts(overlap, pred_total, ref_total);
}

RougeScore RougeL(std::string_view reference, std::string_view prediction) {
  std::vector<std::string> ref = RougeTokenize(reference);
  std::vector<std::string> pred = RougeTokenize(prediction);
  if (ref.empty() || pred.empty()) return RougeScore{};
  std::vector<int> prev(pred.size() + 1, 0), cur(pred.size() + 1, 0);
  for (size_t i = 1; i <= ref.size(); ++i) {
    for (size_t j = 1; j <= pred.size(); ++j) {
      cur[j] = ref[i - 1] == pred[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    }
    std::swap(prev, cur);
  }
  double lcs = prev[pred.size()];
  return FromCounts(lcs, static_cast<double>(pred.size()), static_cast<double>(ref.size()));
}

}  // namespace proctor::eval
