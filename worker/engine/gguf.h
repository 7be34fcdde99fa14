// GGUF v2/v3 reader over a memory map. Every count, length, offset and size in
// the file is validated against the file before use: a truncated, bit-flipped
// or hostile file yields FAILED_PRECONDITION naming the file, the byte offset
// and what is wrong, never a crash or an unbounded allocation. Tensor data is
// not copied: GgufTensor::data points into the map, which lives as long as the
// GgufFile. See docs/design/gguf.md.
#ifndef PROCTOR_WORKER_ENGINE_GGUF_H_
#define PROCTOR_WORKER_ENGINE_GGUF_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/engine/mapped_file.h"

namespace proctor::engine {

enum class GgufType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// One metadata value. Scalars: integers in `i` (unsigned values above
// INT64_MAX are rejected), floats in `f`, bools in `i` (0/1), strings in `str`.
// Arrays of numbers fill `ints` or `floats`, arrays of strings `strs`;
// `array_len` is the element count. Nested arrays keep only their length.
struct GgufValue {
  GgufType type = GgufType::kUint8;
  GgufType elem_type = GgufType::kUint8;  // for arrays
  int64_t i = 0;
  double f = 0;
  std::string str;
  uint64_t array_len = 0;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strs;

  bool is_int() const;    // any integer or bool scalar
  bool is_float() const;  // float32/64 scalar
};

struct GgufTensor {
  std::string name;
  std::vector<int64_t> dims;  // ne[0] first (innermost, row length)
  uint32_t ggml_type = 0;
  uint64_t offset = 0;  // relative to the data section
  const uint8_t* data = nullptr;
  uint64_t nbytes = 0;
  int64_t num_elements() const;
};

// Name of a ggml type id ("F32", "Q4_K", ...) or "type<N>".
std::string GgmlTypeName(uint32_t type);

class GgufFile {
 public:
  // Opens and fully validates `path`. NOT_FOUND when missing;
  // FAILED_PRECONDITION for any malformed content.
  static absl::StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path);
  // Parses an in-memory image (not copied: `data` must outlive the result).
  static absl::StatusOr<std::unique_ptr<GgufFile>> Parse(const uint8_t* data, size_t size,
                                                         const std::string& name);

  uint32_t version() const { return version_; }
  const std::string& path() const { return path_; }
  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  const std::vector<GgufTensor>& tensors() const { return tensors_; }

  // nullptr when absent.
  const GgufValue* Find(const std::string& key) const;
  const GgufTensor* FindTensor(const std::string& name) const;

  // Typed getters: NOT_FOUND when absent, FAILED_PRECONDITION on a type mismatch.
  absl::StatusOr<int64_t> GetInt(const std::string& key) const;
  absl::StatusOr<double> GetFloat(const std::string& key) const;  // accepts ints too
  absl::StatusOr<std::string> GetString(const std::string& key) const;
  // Helpers returning `def` when absent (type mismatch still an error).
  absl::StatusOr<int64_t> GetIntOr(const std::string& key, int64_t def) const;
  absl::StatusOr<double> GetFloatOr(const std::string& key, double def) const;

 private:
  GgufFile() = default;
  uint32_t version_ = 0;
  std::string path_;
  MappedFile map_;
  std::map<std::string, GgufValue> metadata_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

}  // namespace proctor::engine

#endif  // PROCTOR_WORKER_ENGINE_GGUF_H_
