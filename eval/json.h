// A small, strict JSON reader (RFC 8259) for dataset files. No exceptions:
// malformed input is an INVALID_ARGUMENT naming the byte offset.
//
// Thread-safety: JsonValue is a plain value type; ParseJson is reentrant.
#ifndef PROCTOR_EVAL_JSON_H_
#define PROCTOR_EVAL_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace proctor::eval {

class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  JsonValue() = default;
  static JsonValue Null() { return JsonValue(); }
  static JsonValue Bool(bool b);
  static JsonValue Number(double d, std::string raw);
  static JsonValue String(std::string s);
  static JsonValue Array(std::vector<JsonValue> items);
  static JsonValue Object(std::vector<std::pair<std::string, JsonValue>> members);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }
  bool is_bool() const { return type_ == Type::kBool; }

  bool bool_value() const { return bool_; }
  double number() const { return number_; }
  // The number exactly as written in the source ("1.50", "-3").
  const std::string& raw_number() const { return string_; }
  const std::string& str() const { return string_; }
  const std::vector<JsonValue>& items() const { return items_; }
  const std::vector<std::pair<std::string, JsonValue>>& members() const { return members_; }

  // Object member lookup (first match); nullptr when absent or not an object.
  const JsonValue* Find(std::string_view key) const;

  // Human-readable type name for error messages ("string", "array", ...).
  static const char* TypeName(Type t);

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<JsonValue> items_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

// Parses exactly one JSON document (surrounding whitespace allowed). Nesting
// deeper than 128 levels is rejected. Invalid UTF-16 escapes (lone
// surrogates) are rejected; raw bytes are passed through unchanged.
absl::StatusOr<JsonValue> ParseJson(std::string_view text);

}  // namespace proctor::eval

#endif  // PROCTOR_EVAL_JSON_H_
