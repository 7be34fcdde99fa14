// Escaping of data strings (run ids, model names, set names, labels) for the
// three report formats. Every string that comes from the API is hostile
// input: it may hold markup, quotes, control characters or invalid UTF-8.
// Pure functions; thread-safe.
#ifndef PROCTOR_EVAL_REPORT_ESCAPE_H_
#define PROCTOR_EVAL_REPORT_ESCAPE_H_

#include <string>
#include <string_view>

namespace proctor::eval::report {

// `text` as valid UTF-8 without control characters: every byte that does not
// start a well-formed UTF-8 sequence (overlong forms, surrogates and code
// points above U+10FFFF included) and every C0/C1 control character other
// than '\t' and '\n' becomes U+FFFD.
std::string SanitizeUtf8(std::string_view text);

// Text safe as HTML (and SVG) element content and as a single- or
// double-quoted attribute value: SanitizeUtf8, then & < > " ' become
// character references.
std::string HtmlEscape(std::string_view text);

// Text safe inside a Markdown pipe-table cell or paragraph: HtmlEscape (so
// inline HTML never renders), then a backslash before each of \ ` * _ [ ] |
// # ~ ! and line breaks replaced by spaces.
std::string MarkdownEscape(std::string_view text);

// One CSV field (RFC 4180): SanitizeUtf8, quoted (with "" for ") when it holds
// a comma, a quote, a line break or leading/trailing spaces. A text field
// that starts with = + - @ or a tab gets a leading ' so that spreadsheets do
// not evaluate it as a formula. For text only; numbers go through CsvNumber.
std::string CsvText(std::string_view text);

// `text` as one URL path segment or query value: every byte other than
// A-Z a-z 0-9 - . _ ~ becomes %XX (uppercase hex). The result is also safe
// in an HTML attribute.
std::string UrlEscape(std::string_view text);

}  // namespace proctor::eval::report

#endif  // PROCTOR_EVAL_REPORT_ESCAPE_H_
