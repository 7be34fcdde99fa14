#include "eval/loaders.h"

#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "eval/strings.h"

namespace proctor::eval {

absl::StatusOr<Doc> MapJsonRecordStack(const std::vector<const JsonValue*>& record,
                                       const SetDef& def, std::string_view where);

namespace {

absl::StatusOr<std::string> Gunzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return absl::DataLossError(absl::StrCat(path, ": cannot open gzip file"));
  std::string out;
  char buf[1 << 16];
  while (true) {
    int n = gzread(f, buf, sizeof(buf));
    if (n < 0) {
      int err = 0;
      std::string msg = gzerror(f, &err);
      gzclose(f);
      return absl::DataLossError(absl::StrCat(path, ": corrupt gzip data: ", msg));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (static_cast<int64_t>(out.size()) > kMaxDatasetFileBytes) {
      gzclose(f);
      return absl::InvalidArgumentError(absl::StrCat(path, ": decompressed size over 1 GiB"));
    }
  }
  gzclose(f);
  return out;
}

std::string JsonToText(const JsonValue& v) {
  switch (v.type()) {
    case JsonValue::Type::kString:
      return v.str();
    case JsonValue::Type::kNumber:
      return v.raw_number();
    case JsonValue::Type::kBool:
      return v.bool_value() ? "true" : "false";
    case JsonValue::Type::kNull:
      return "";
    case JsonValue::Type::kArray: {
      std::vector<std::string> parts;
      for (const JsonValue& item : v.items()) parts.push_back(JsonToText(item));
      return absl::StrJoin(parts, "\n");
    }
    case JsonValue::Type::kObject:
      return "";
  }
  return "";
}

// Follows a dot-separated path of object keys and array indices. A leading
// "@k" starts at the k-th exploded element instead of the record.
const JsonValue* Lookup(const std::vector<const JsonValue*>& stack, std::string_view path) {
  const JsonValue* cur = stack[0];
  if (!path.empty() && path[0] == '@') {
    size_t dot = path.find('.');
    size_t level = 0;
    if (!absl::SimpleAtoi(AV(path.substr(1, dot == std::string_view::npos ? dot : dot - 1)),
                          &level) ||
        level >= stack.size()) {
      return nullptr;
    }
    cur = stack[level];
    if (dot == std::string_view::npos) return cur;
    path = path.substr(dot + 1);
  }
  for (std::string_view part : Split(path, ".")) {
    if (cur->is_object()) {
      cur = cur->Find(part);
    } else if (cur->is_array()) {
      size_t idx = 0;
      if (!absl::SimpleAtoi(AV(part), &idx) || idx >= cur->items().size()) return nullptr;
      cur = &cur->items()[idx];
    } else {
      return nullptr;
    }
    if (cur == nullptr) return nullptr;
  }
  return cur;
}

absl::Status FieldError(std::string_view where, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(AV(where), ": ", AV(what)));
}

absl::StatusOr<int> ResolveLabel(const std::string& label, const SetDef& def,
                                 std::string_view where) {
  std::string l(Trim(label));
  if (!def.label_values.empty()) {
    for (size_t i = 0; i < def.label_values.size(); ++i) {
      if (def.label_values[i] == l) return static_cast<int>(i);
    }
    return FieldError(where, absl::StrCat("label \"", l, "\" is not one of [",
                                          absl::StrJoin(def.label_values, ", "), "]"));
  }
  int v = 0;
  if (!absl::SimpleAtoi(l, &v)) {
    return FieldError(where, absl::StrCat("label \"", l, "\" is not an integer"));
  }
  return v - def.label_base;
}

absl::Status CheckGold(Doc& doc, std::string_view where) {
  if (doc.gold < 0 || doc.gold >= static_cast<int>(doc.choices.size())) {
    return FieldError(where, absl::StrCat("gold label index ", doc.gold, " outside the ",
                                          doc.choices.size(), " options"));
  }
  return absl::OkStatus();
}

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines = Split(text, "\n");
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  for (std::string_view& l : lines) {
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  }
  return lines;
}

absl::StatusOr<std::vector<std::string>> ReadLabels(const std::string& root, const std::string& rel,
                                                    const SetDef& def) {
  PROCTOR_ASSIGN_OR_RETURN(std::string text, ReadDataFile(root + "/" + rel, def.source));
  std::vector<std::string> out;
  for (std::string_view l : SplitLines(text)) out.emplace_back(l);
  return out;
}

absl::Status AttachLabels(std::vector<Doc>* docs, const std::vector<std::string>& labels,
                          const SetDef& def, const std::string& rel, const std::string& lrel) {
  if (labels.size() != docs->size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(lrel, ": ", labels.size(), " labels for ", docs->size(), " records in ", rel));
  }
  for (size_t i = 0; i < docs->size(); ++i) {
    std::string where = absl::StrCat(lrel, ":", i + 1);
    PROCTOR_ASSIGN_OR_RETURN((*docs)[i].gold, ResolveLabel(labels[i], def, where));
    PROCTOR_RETURN_IF_ERROR(CheckGold((*docs)[i], where));
  }
  return absl::OkStatus();
}

// Expands the record along def.explode_paths and appends one Doc per leaf.
absl::Status Explode(std::vector<const JsonValue*> stack, const SetDef& def,
                     const std::string& where, std::vector<Doc>* docs) {
  size_t level = stack.size() - 1;
  if (level == def.explode_paths.size()) {
    PROCTOR_ASSIGN_OR_RETURN(Doc d, MapJsonRecordStack(stack, def, where));
    d.row = static_cast<int64_t>(docs->size());
    docs->push_back(std::move(d));
    return absl::OkStatus();
  }
  const JsonValue* arr = Lookup(stack, def.explode_paths[level]);
  if (arr == nullptr || !arr->is_array()) {
    return FieldError(where,
                      absl::StrCat("missing array field \"", def.explode_paths[level], "\""));
  }
  for (size_t i = 0; i < arr->items().size(); ++i) {
    std::vector<const JsonValue*> next = stack;
    next.push_back(&arr->items()[i]);
    PROCTOR_RETURN_IF_ERROR(Explode(std::move(next), def, absl::StrCat(where, "[", i, "]"), docs));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Doc>> LoadJsonRecords(const SetDef& def, const std::string& text,
                                                 const std::string& rel, bool lines) {
  std::vector<Doc> docs;
  if (lines) {
    std::vector<std::string_view> ls = Split(text, "\n");
    for (size_t i = 0; i < ls.size(); ++i) {
      std::string_view line = Trim(ls[i]);
      if (line.empty()) continue;
      std::string where = absl::StrCat(rel, ":", i + 1);
      absl::StatusOr<JsonValue> v = ParseJson(line);
      if (!v.ok()) return FieldError(where, SV(v.status().message()));
      PROCTOR_RETURN_IF_ERROR(Explode({&*v}, def, where, &docs));
    }
    return docs;
  }
  absl::StatusOr<JsonValue> v = ParseJson(text);
  if (!v.ok()) return FieldError(rel, SV(v.status().message()));
  const JsonValue* records = &*v;
  if (!def.records_path.empty()) {
    records = Lookup({&*v}, def.records_path);
    if (records == nullptr) {
      return FieldError(rel, absl::StrCat("missing field \"", def.records_path, "\""));
    }
  }
  std::vector<const JsonValue*> items;
  if (records->is_array()) {
    for (const JsonValue& item : records->items()) items.push_back(&item);
  } else if (records->is_object()) {
    for (const auto& [k, item] : records->members()) items.push_back(&item);
  } else {
    return FieldError(rel, "records are neither an array nor an object");
  }
  for (size_t i = 0; i < items.size(); ++i) {
    std::string where = absl::StrCat(rel, ": record ", i);
    PROCTOR_RETURN_IF_ERROR(Explode({items[i]}, def, where, &docs));
  }
  return docs;
}

// MMLU (no header: question, A, B, C, D, answer) and C-Eval (header:
// id, question, A, B, C, D, answer[, explanation]).
absl::StatusOr<std::vector<Doc>> LoadChoiceCsv(const SetDef& def, const std::string& text,
                                               const std::string& rel, bool header) {
  PROCTOR_ASSIGN_OR_RETURN(auto rows, ParseCsv(text, rel));
  std::vector<Doc> docs;
  size_t first = header ? 1 : 0;
  size_t offset = header ? 1 : 0;  // C-Eval's leading id column
  for (size_t i = first; i < rows.size(); ++i) {
    const std::vector<std::string>& r = rows[i];
    std::string where = absl::StrCat(rel, ": row ", i + 1);
    if (r.size() == 1 && r[0].empty()) continue;
    if (r.size() < offset + 6) {
      return FieldError(where, absl::StrCat("expected ", offset + 6, " columns, got ", r.size()));
    }
    Doc d;
    d.vars["question"] = r[offset];
    static constexpr const char* kLetters[] = {"A", "B", "C", "D"};
    for (int k = 0; k < 4; ++k) {
      d.vars[kLetters[k]] = r[offset + 1 + static_cast<size_t>(k)];
      d.choices.emplace_back(kLetters[k]);
    }
    std::string answer(Trim(r[offset + 5]));
    d.vars["answer"] = answer;
    if (answer.size() != 1 || answer[0] < 'A' || answer[0] > 'D') {
      return FieldError(where, absl::StrCat("answer \"", answer, "\" is not one of A, B, C, D"));
    }
    d.gold = answer[0] - 'A';
    d.row = static_cast<int64_t>(docs.size());
    docs.push_back(std::move(d));
  }
  return docs;
}

// NQ/TriviaQA: question<TAB>['answer', ...] per line.
absl::StatusOr<std::vector<Doc>> LoadQaTsv(const std::string& text, const std::string& rel) {
  std::vector<Doc> docs;
  std::vector<std::string_view> lines = SplitLines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string where = absl::StrCat(rel, ":", i + 1);
    if (lines[i].empty()) continue;
    size_t tab = lines[i].find('\t');
    if (tab == std::string_view::npos)
      return FieldError(where, "no tab between question and answers");
    Doc d;
    d.vars["question"] = std::string(lines[i].substr(0, tab));
    absl::StatusOr<std::vector<std::string>> answers =
        ParsePythonStringList(lines[i].substr(tab + 1));
    if (!answers.ok()) return FieldError(where, SV(answers.status().message()));
    if (answers->empty()) return FieldError(where, "empty answer list");
    d.answers = *std::move(answers);
    d.row = static_cast<int64_t>(docs.size());
    docs.push_back(std::move(d));
  }
  return docs;
}

}  // namespace

absl::StatusOr<std::string> ReadDataFile(const std::string& path, std::string_view how_to_obtain) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "dataset file ", path, " is missing; obtain it with `proctor datasets fetch` (",
        AV(how_to_obtain), ") or point --data-dir at a directory that holds it"));
  }
  auto size = std::filesystem::file_size(path, ec);
  if (ec || static_cast<int64_t>(size) > kMaxDatasetFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": unreadable or larger than 1 GiB"));
  }
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0) return Gunzip(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open for reading"));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<Doc> MapJsonRecord(const JsonValue& record, const SetDef& def,
                                  std::string_view where) {
  return MapJsonRecordStack({&record}, def, where);
}

absl::StatusOr<Doc> MapJsonRecordStack(const std::vector<const JsonValue*>& record,
                                       const SetDef& def, std::string_view where) {
  if (!record[0]->is_object() && !record[0]->is_array()) {
    return FieldError(where, "record is not a JSON object");
  }
  Doc d;
  for (const FieldMap& f : def.fields) {
    const JsonValue* v = Lookup(record, f.path);
    if (v == nullptr) return FieldError(where, absl::StrCat("missing field \"", f.path, "\""));
    d.vars[f.var] = JsonToText(*v);
  }
  if (!def.choices_path.empty()) {
    const JsonValue* arr = Lookup(record, def.choices_path);
    if (arr == nullptr || !arr->is_array()) {
      return FieldError(where, absl::StrCat("missing array field \"", def.choices_path, "\""));
    }
    for (const JsonValue& c : arr->items()) {
      if (!def.choice_text_key.empty()) {
        const JsonValue* t = c.Find(def.choice_text_key);
        if (t == nullptr) {
          return FieldError(where, absl::StrCat("option without \"", def.choice_text_key, "\""));
        }
        d.choices.push_back(JsonToText(*t));
        if (!def.choice_label_key.empty()) {
          const JsonValue* l = c.Find(def.choice_label_key);
          d.vars["label_" + std::to_string(d.choices.size() - 1)] = l ? JsonToText(*l) : "";
        }
      } else {
        d.choices.push_back(JsonToText(c));
      }
    }
    if (d.choices.empty()) return FieldError(where, "no options");
  }
  for (const std::string& p : def.choice_paths) {
    const JsonValue* v = Lookup(record, p);
    if (v == nullptr) return FieldError(where, absl::StrCat("missing field \"", p, "\""));
    d.choices.push_back(JsonToText(*v));
  }
  for (const std::string& lit : def.choice_literals) d.choices.push_back(lit);
  if (!def.label_path.empty()) {
    const JsonValue* v = Lookup(record, def.label_path);
    if (v == nullptr) {
      return FieldError(where, absl::StrCat("missing field \"", def.label_path, "\""));
    }
    std::string label = JsonToText(*v);
    if (!def.choice_label_key.empty() || def.label_is_choice_text) {
      d.gold = -1;
      for (size_t i = 0; i < d.choices.size(); ++i) {
        const std::string& key =
            def.label_is_choice_text ? d.choices[i] : d.vars["label_" + std::to_string(i)];
        if (key == label) d.gold = static_cast<int>(i);
      }
      if (d.gold < 0) {
        return FieldError(where, absl::StrCat("label \"", label, "\" matches no option"));
      }
    } else {
      PROCTOR_ASSIGN_OR_RETURN(d.gold, ResolveLabel(label, def, where));
    }
    PROCTOR_RETURN_IF_ERROR(CheckGold(d, where));
  } else if (def.fixed_gold >= 0) {
    d.gold = def.fixed_gold;
    PROCTOR_RETURN_IF_ERROR(CheckGold(d, where));
  }
  if (!def.answers_path.empty()) {
    const JsonValue* v = Lookup(record, def.answers_path);
    if (v == nullptr) {
      return FieldError(where, absl::StrCat("missing field \"", def.answers_path, "\""));
    }
    if (v->is_array()) {
      for (const JsonValue& a : v->items()) {
        const JsonValue* t = def.answer_text_key.empty() ? &a : a.Find(def.answer_text_key);
        if (t == nullptr) {
          return FieldError(where, absl::StrCat("answer without \"", def.answer_text_key, "\""));
        }
        d.answers.push_back(JsonToText(*t));
      }
    } else {
      d.answers.push_back(JsonToText(*v));
    }
  }
  if (def.loader == "winogrande") {
    const std::string& sentence = d.vars["sentence"];
    size_t blank = sentence.find('_');
    if (blank == std::string::npos) return FieldError(where, "sentence has no '_' blank");
    d.vars["before"] = sentence.substr(0, blank);
    d.vars["after"] = sentence.substr(blank + 1);
  }
  if (def.loader == "lambada") {
    const std::string& text = d.vars["text"];
    size_t sp = text.find_last_of(' ');
    if (sp == std::string::npos) return FieldError(where, "text has no final word");
    d.vars["prefix"] = text.substr(0, sp);
    d.answers = {text.substr(sp + 1)};
  }
  return d;
}

absl::StatusOr<std::vector<Doc>> LoadDocs(const SetDef& def, const std::string& data_root,
                                          const std::string& relative_path,
                                          const std::string& labels_relative_path) {
  PROCTOR_ASSIGN_OR_RETURN(std::string text,
                           ReadDataFile(data_root + "/" + relative_path, def.source));
  const std::string& rel = relative_path;
  std::vector<Doc> docs;
  if (def.loader == "jsonl" || def.loader == "winogrande" || def.loader == "lambada") {
    PROCTOR_ASSIGN_OR_RETURN(docs, LoadJsonRecords(def, text, rel, /*lines=*/true));
  } else if (def.loader == "json") {
    PROCTOR_ASSIGN_OR_RETURN(docs, LoadJsonRecords(def, text, rel, /*lines=*/false));
  } else if (def.loader == "csv") {
    PROCTOR_ASSIGN_OR_RETURN(auto rows, ParseCsv(text, rel));
    if (rows.empty()) return absl::InvalidArgumentError(absl::StrCat(rel, ": no header row"));
    for (size_t i = 1; i < rows.size(); ++i) {
      if (rows[i].size() == 1 && rows[i][0].empty()) continue;
      std::string where = absl::StrCat(rel, ": row ", i + 1);
      if (rows[i].size() != rows[0].size()) {
        return FieldError(
            where, absl::StrCat("expected ", rows[0].size(), " columns, got ", rows[i].size()));
      }
      std::vector<std::pair<std::string, JsonValue>> members;
      for (size_t c = 0; c < rows[0].size(); ++c) {
        members.emplace_back(rows[0][c], JsonValue::String(rows[i][c]));
      }
      JsonValue obj = JsonValue::Object(std::move(members));
      PROCTOR_RETURN_IF_ERROR(Explode({&obj}, def, where, &docs));
    }
  } else if (def.loader == "mmlu_csv") {
    PROCTOR_ASSIGN_OR_RETURN(docs, LoadChoiceCsv(def, text, rel, /*header=*/false));
  } else if (def.loader == "ceval_csv") {
    PROCTOR_ASSIGN_OR_RETURN(docs, LoadChoiceCsv(def, text, rel, /*header=*/true));
  } else if (def.loader == "qa_tsv") {
    PROCTOR_ASSIGN_OR_RETURN(docs, LoadQaTsv(text, rel));
  } else if (def.loader == "parallel") {
    PROCTOR_ASSIGN_OR_RETURN(std::vector<std::string> targets,
                             ReadLabels(data_root, labels_relative_path, def));
    std::vector<std::string_view> sources = SplitLines(text);
    if (sources.size() != targets.size()) {
      return absl::InvalidArgumentError(absl::StrCat(rel, " has ", sources.size(), " lines but ",
                                                     labels_relative_path, " has ",
                                                     targets.size()));
    }
    for (size_t i = 0; i < sources.size(); ++i) {
      Doc d;
      d.vars["source"] = std::string(sources[i]);
      d.vars["target"] = targets[i];
      d.answers = {targets[i]};
      d.row = static_cast<int64_t>(i);
      docs.push_back(std::move(d));
    }
    return docs;
  } else {
    return absl::InternalError(absl::StrCat("set ", def.name, ": unknown loader ", def.loader));
  }
  if (!labels_relative_path.empty()) {
    PROCTOR_ASSIGN_OR_RETURN(std::vector<std::string> labels,
                             ReadLabels(data_root, labels_relative_path, def));
    PROCTOR_RETURN_IF_ERROR(AttachLabels(&docs, labels, def, rel, labels_relative_path));
  }
  return docs;
}

absl::StatusOr<std::vector<Doc>> LoadEvalDocs(const SetDef& def, const std::string& data_root) {
  PROCTOR_ASSIGN_OR_RETURN(std::vector<Doc> docs,
                           LoadDocs(def, data_root, def.path, def.labels_path));
  int64_t begin = std::min<int64_t>(def.row_begin, static_cast<int64_t>(docs.size()));
  int64_t end = def.row_end < 0 ? static_cast<int64_t>(docs.size())
                                : std::min<int64_t>(def.row_end, static_cast<int64_t>(docs.size()));
  if (begin > 0 || end < static_cast<int64_t>(docs.size())) {
    docs = std::vector<Doc>(docs.begin() + begin, docs.begin() + std::max(begin, end));
  }
  if (docs.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(def.path, ": set ", def.name, " has no records"));
  }
  return docs;
}

absl::StatusOr<std::vector<std::vector<std::string>>> ParseCsv(std::string_view text,
                                                               std::string_view where) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool in_quotes = false;
  bool field_started = false;
  int64_t line = 1;
  int64_t quote_line = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field.push_back('"');
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
      continue;
    }
    if (c == '"' && !field_started) {
      in_quotes = true;
      field_started = true;
      quote_line = line;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      field_started = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      row.push_back(std::move(field));
      field.clear();
      field_started = false;
      rows.push_back(std::move(row));
      row.clear();
      ++line;
    } else {
      field.push_back(c);
      field_started = true;
    }
  }
  if (in_quotes) {
    return absl::InvalidArgumentError(
        absl::StrCat(AV(where), ":", quote_line, ": unterminated quoted field"));
  }
  if (field_started || !row.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

absl::StatusOr<std::vector<std::string>> ParsePythonStringList(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  };
  skip_ws();
  if (i >= text.size() || text[i] != '[') {
    return absl::InvalidArgumentError("answer list does not start with '['");
  }
  ++i;
  skip_ws();
  if (i < text.size() && text[i] == ']') return out;
  while (true) {
    skip_ws();
    if (i >= text.size() || (text[i] != '\'' && text[i] != '"')) {
      return absl::InvalidArgumentError("answer list: expected a quoted string");
    }
    char q = text[i++];
    std::string s;
    while (true) {
      if (i >= text.size()) return absl::InvalidArgumentError("answer list: unterminated string");
      char c = text[i++];
      if (c == q) break;
      if (c == '\\' && i < text.size()) {
        char e = text[i++];
        switch (e) {
          case 'n':
            s.push_back('\n');
            break;
          case 't':
            s.push_back('\t');
            break;
          default:
            s.push_back(e);
        }
        continue;
      }
      s.push_back(c);
    }
    out.push_back(std::move(s));
    skip_ws();
    if (i < text.size() && text[i] == ',') {
      ++i;
      skip_ws();
      if (i < text.size() && text[i] == ']') break;
      continue;
    }
    if (i < text.size() && text[i] == ']') break;
    return absl::InvalidArgumentError("answer list: expected ',' or ']'");
  }
  ++i;
  skip_ws();
  if (i != text.size()) return absl::InvalidArgumentError("answer list: trailing characters");
  return out;
}

}  // namespace proctor::eval
