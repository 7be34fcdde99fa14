#include "cli/text_table.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace proctor::cli {
namespace {

struct Range {
  uint32_t first;
  uint32_t last;
};

// Zero-width code points: combining marks, zero-width space/joiners, variation
// selectors. Not exhaustive Unicode data, but covers the scripts evaluation
// set names use (Latin with accents, Devanagari, Thai, Arabic marks).
constexpr Range kZeroWidth[] = {
    {0x0300, 0x036F},   {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x0610, 0x061A}, {0x064B, 0x065F},
    {0x0670, 0x0670},   {0x06D6, 0x06DC}, {0x0900, 0x0902}, {0x093A, 0x093A}, {0x093C, 0x093C},
    {0x0941, 0x0948},   {0x094D, 0x094D}, {0x0951, 0x0957}, {0x0E31, 0x0E31}, {0x0E34, 0x0E3A},
    {0x0E47, 0x0E4E},   {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF}, {0x200B, 0x200F}, {0x2028, 0x202E},
    {0x2060, 0x2064},   {0x20D0, 0x20FF}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF},
    {0xE0100, 0xE01EF},
};

// East Asian Wide (W) and Fullwidth (F) blocks.
constexpr Range kWide[] = {
    {0x1100, 0x115F},   {0x231A, 0x231B},   {0x2329, 0x232A},   {0x23E9, 0x23EC},
    {0x25FD, 0x25FE},   {0x2614, 0x2615},   {0x2E80, 0x303E},   {0x3041, 0x33FF},
    {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},   {0xA960, 0xA97F},
    {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE10, 0xFE19},   {0xFE30, 0xFE6F},
    {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x1F300, 0x1F64F}, {0x1F900, 0x1F9FF},
    {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
};

template <size_t N>
bool InRanges(const Range (&ranges)[N], uint32_t cp) {
  for (const Range& r : ranges) {
    if (cp >= r.first && cp <= r.last) return true;
  }
  return false;
}

// Decodes one UTF-8 code point at `s[*i]`, advancing *i. Returns -1 for an
// invalid or truncated sequence (and advances one byte).
int64_t DecodeUtf8(absl::string_view s, size_t* i) {
  const auto b0 = static_cast<unsigned char>(s[*i]);
  int len;
  uint32_t cp;
  if (b0 < 0x80) {
    ++*i;
    return b0;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    ++*i;
    return -1;
  }
  if (*i + len > s.size()) {
    ++*i;
    return -1;
  }
  for (int k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[*i + k]);
    if ((b & 0xC0) != 0x80) {
      ++*i;
      return -1;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  *i += len;
  return cp;
}

std::string PadTo(const std::string& cell, int width, Align align) {
  const int pad = std::max(0, width - DisplayWidth(cell));
  if (align == Align::kRight) return std::string(pad, ' ') + cell;
  return cell + std::string(pad, ' ');
}

void TrimTrailingSpaces(std::string* line) {
  while (!line->empty() && line->back() == ' ') line->pop_back();
}

}  // namespace

int DisplayWidth(absl::string_view s) {
  int width = 0;
  size_t i = 0;
  while (i < s.size()) {
    const int64_t cp = DecodeUtf8(s, &i);
    if (cp < 0) {
      width += 1;
    } else if (InRanges(kZeroWidth, static_cast<uint32_t>(cp))) {
      // Combining: no column of its own.
    } else if (InRanges(kWide, static_cast<uint32_t>(cp))) {
      width += 2;
    } else {
      width += 1;
    }
  }
  return width;
}

std::string EscapeControlCharacters(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7F) {
      out += absl::StrFormat("\\x%02X", u);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string CsvField(absl::string_view s) {
  const bool needs_quotes = s.find_first_of(",\"\r\n") != absl::string_view::npos ||
                            (!s.empty() && (s.front() == ' ' || s.back() == ' '));
  if (!needs_quotes) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string MarkdownCell(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n' || c == '\r') {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

TextTable::TextTable(std::vector<std::string> header, std::vector<Align> align)
    : header_(std::move(header)), align_(std::move(align)) {
  align_.resize(header_.size(), Align::kLeft);
}

void TextTable::AddRow(std::vector<std::string> cells) {
  cells.resize(header_.size());
  rows_.push_back(std::move(cells));
}

std::string TextTable::RenderText() const {
  const size_t n = header_.size();
  std::vector<std::string> header(n);
  std::vector<std::vector<std::string>> rows(rows_.size(), std::vector<std::string>(n));
  std::vector<int> widths(n, 0);
  for (size_t c = 0; c < n; ++c) {
    header[c] = EscapeControlCharacters(header_[c]);
    widths[c] = DisplayWidth(header[c]);
  }
  for (size_t r = 0; r < rows_.size(); ++r) {
    for (size_t c = 0; c < n; ++c) {
      rows[r][c] = EscapeControlCharacters(rows_[r][c]);
      widths[c] = std::max(widths[c], DisplayWidth(rows[r][c]));
    }
  }
  std::string out;
  auto emit = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t c = 0; c < n; ++c) {
      if (c > 0) line += "  ";
      line += PadTo(cells[c], widths[c], align_[c]);
    }
    TrimTrailingSpaces(&line);
    absl::StrAppend(&out, line, "\n");
  };
  emit(header);
  std::vector<std::string> rule(n);
  for (size_t c = 0; c < n; ++c) rule[c] = std::string(widths[c], '-');
  emit(rule);
  for (const auto& row : rows) emit(row);
  return out;
}

std::string TextTable::RenderCsv() const {
  std::string out;
  auto emit = [&](const std::vector<std::string>& cells) {
    for (size_t c = 0; c < cells.size(); ++c) {
      if (c > 0) out.push_back(',');
      out += CsvField(cells[c]);
    }
    out.push_back('\n');
  };
  emit(header_);
  for (const auto& row : rows_) emit(row);
  return out;
}

std::string TextTable::RenderMarkdown() const {
  std::string out;
  auto emit = [&](const std::vector<std::string>& cells) {
    out += "|";
    for (const auto& cell : cells) absl::StrAppend(&out, " ", MarkdownCell(cell), " |");
    out.push_back('\n');
  };
  emit(header_);
  out += "|";
  for (Align a : align_) out += a == Align::kRight ? " ---: |" : " --- |";
  out.push_back('\n');
  for (const auto& row : rows_) emit(row);
  return out;
}

}  // namespace proctor::cli
