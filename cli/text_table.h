// A small table of text cells rendered three ways: aligned columns for a
// terminal (by display width, so CJK and combining characters line up), CSV
// and Markdown. Pure functions; no I/O.
#ifndef PROCTOR_CLI_TEXT_TABLE_H_
#define PROCTOR_CLI_TEXT_TABLE_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace proctor::cli {

// Number of terminal columns the UTF-8 text `s` occupies: East Asian wide and
// fullwidth characters (CJK, Hangul, fullwidth forms, most emoji) count 2,
// combining marks and zero-width characters count 0, everything else 1. A
// byte that is not part of valid UTF-8 counts 1.
int DisplayWidth(absl::string_view s);

// `s` with control characters made visible for a terminal: "\n", "\r", "\t"
// become the two-character escapes, other C0 controls and DEL become "\xHH".
// Everything else (including non-ASCII UTF-8) is unchanged. This keeps a
// hostile name (an ANSI escape, a newline) from breaking the table.
std::string EscapeControlCharacters(absl::string_view s);

// One CSV field per RFC 4180: quoted when it contains a comma, a double quote,
// CR or LF, or starts or ends with a space; quotes inside are doubled.
std::string CsvField(absl::string_view s);

// One Markdown table cell: "|" becomes "\|", a backslash is doubled, newlines
// become a space.
std::string MarkdownCell(absl::string_view s);

enum class Align { kLeft, kRight };

// Not thread-safe; a value type.
class TextTable {
 public:
  // `header` names the columns. `align` may be empty (all left) or have one
  // entry per column.
  explicit TextTable(std::vector<std::string> header, std::vector<Align> align = {});

  // Adds a row. A row shorter than the header is padded with empty cells; a
  // longer one has its extra cells dropped.
  void AddRow(std::vector<std::string> cells);

  size_t num_rows() const { return rows_.size(); }

  // Columns separated by two spaces and padded to the widest cell by display
  // width; a rule of dashes under the header; no trailing spaces. Every line
  // ends in "\n". Control characters are escaped.
  std::string RenderText() const;

  // Header line then one line per row, fields per CsvField, "\n" line ends.
  std::string RenderCsv() const;

  // "| a | b |" lines with a "| --- | ---: |" alignment row after the header.
  std::string RenderMarkdown() const;

 private:
  std::vector<std::string> header_;
  std::vector<Align> align_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace proctor::cli

#endif  // PROCTOR_CLI_TEXT_TABLE_H_
