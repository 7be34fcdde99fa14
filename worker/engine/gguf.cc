#include "worker/engine/gguf.h"

#include <cstring>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace proctor::engine {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint32_t kMaxDims = 4;
constexpr uint64_t kMaxStringLen = 1ull << 30;

struct TypeGeom {
  uint32_t id;
  const char* name;
  int64_t block_values;
  int64_t block_bytes;
};

constexpr TypeGeom kTypes[] = {
    {0, "F32", 1, 4},       {1, "F16", 1, 2},       {2, "Q4_0", 32, 18},    {3, "Q4_1", 32, 20},
    {6, "Q5_0", 32, 22},    {7, "Q5_1", 32, 24},    {8, "Q8_0", 32, 34},    {9, "Q8_1", 32, 36},
    {10, "Q2_K", 256, 84},  {11, "Q3_K", 256, 110}, {12, "Q4_K", 256, 144}, {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210}, {15, "Q8_K", 256, 292}, {24, "I8", 1, 1},       {25, "I16", 1, 2},
    {26, "I32", 1, 4},      {27, "I64", 1, 8},      {28, "F64", 1, 8},      {30, "BF16", 1, 2},
};

const TypeGeom* FindType(uint32_t id) {
  for (const TypeGeom& t : kTypes) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

// Bounds-checked little-endian cursor.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const std::string& name)
      : data_(data), size_(size), name_(name) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

  absl::Status Error(const std::string& what) const {
    return absl::FailedPreconditionError(
        absl::StrCat("malformed GGUF file ", name_, " at byte ", pos_, ": ", what));
  }

  template <typename T>
  absl::Status Read(T* out, const char* what) {
    if (remaining() < sizeof(T)) {
      return Error(absl::StrCat("truncated while reading ", what, " (need ", sizeof(T), " bytes, ",
                                remaining(), " left)"));
    }
    std::memcpy(out, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return absl::OkStatus();
  }

  absl::Status ReadString(std::string* out, const char* what) {
    uint64_t len;
    PROCTOR_RETURN_IF_ERROR(Read(&len, what));
    if (len > remaining() || len > kMaxStringLen) {
      return Error(absl::StrCat(what, " length ", len, " exceeds the ", remaining(),
                                " bytes left in the file"));
    }
    out->assign(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return absl::OkStatus();
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& name_;
};

size_t ScalarSize(GgufType t) {
  switch (t) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool:
      return 1;
    case GgufType::kUint16:
    case GgufType::kInt16:
      return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32:
      return 4;
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kFloat64:
      return 8;
    case GgufType::kString:
      return 8;  // minimum: the length prefix
    case GgufType::kArray:
      return 12;  // minimum: type + count
  }
  return 1;
}

bool ValidType(uint32_t t) { return t <= 12; }

// Reads one scalar of type `t` into `v` (numbers into i/f, strings into str).
absl::Status ReadScalar(Cursor& c, GgufType t, GgufValue* v, const std::string& key) {
  switch (t) {
    case GgufType::kUint8: {
      uint8_t x;
      PROCTOR_RETURN_IF_ERROR(c.Read(&x, "uint8 value"));
      v->i = x;
      return absl::OkStatus();
    }
    case GgufType::kInt8: {
      int8_t x;
      PROCTOR_RETURN_IF_ERROR(c.Read(&x, "int8 value"));
      v->i = x;
      return absl::OkStatus();
    }
    case GgufType::kBool: {
      uint8_t x;
      PROCTOR_RETURN_IF_ERROR(c.Read(&x, "bool value"));
      if (x > 1) return c.Error(absl::StrCat("bool value ", x, " of key '", key, "' is not 0/1"));
      v->i = x;
      return absl::OkStatus();
    }
    case GgufType::kUint16: {
      uint16_t x;
      PROCTOR_RETURN_IF_ERROR(c.Read(&x, "uint16 value"));
      v->i = x;
      return absl::OkStatus();
    }
    case GgufType::kInt16: {
      int16_t x;
      PROCTOR_RETURN_IF_ERROR(c.Read(&x, "int16 value"));
      v->i = x;
      return absl::OkStatus();
    }
    case GgufType::kUint32: {
      uint32_t x;
      PROCTOR_RETURN_IF_ERROR(c.Read(&x, "uint32 value"));
      v->i = x;
      return absl::OkStatus();
    }
    case GgufType::kInt32: {
      int32_t x;
      PROCTOR_RETURN_IF_ERROR(c.Read(&x, "int32 value"));
      v->i = x;
      return absl::OkStatus();
    }
    case GgufType::kUint64: {
      uint64_t x;
      PROCTOR_RETURN_IF_ERROR(c.Read(&x, "uint64 value"));
      if (x > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return c.Error(absl::StrCat("uint64 value of key '", key, "' exceeds INT64_MAX"));
      }
      v->i = static_cast<int64_t>(x);
      return absl::OkStatus();
    }
    case GgufType::kInt64: {
      int64_t x;
      PROCTOR_RETURN_IF_ERROR(c.Read(&x, "int64 value"));
      v->i = x;
      return absl::OkStatus();
    }
    case GgufType::kFloat32: {
      float x;
      PROCTOR_RETURN_IF_ERROR(c.Read(&x, "float32 value"));
      v->f = x;
      return absl::OkStatus();
    }
    case GgufType::kFloat64: {
      double x;
      PROCTOR_RETURN_IF_ERROR(c.Read(&x, "float64 value"));
      v->f = x;
      return absl::OkStatus();
    }
    case GgufType::kString:
      return c.ReadString(&v->str, "string value");
    case GgufType::kArray:
      break;
  }
  return c.Error("internal: unexpected scalar type");
}

absl::Status ReadValue(Cursor& c, GgufType t, GgufValue* v, const std::string& key, int depth) {
  v->type = t;
  if (t != GgufType::kArray) return ReadScalar(c, t, v, key);
  if (depth > 2) return c.Error(absl::StrCat("arrays nested too deep in key '", key, "'"));
  uint32_t et;
  PROCTOR_RETURN_IF_ERROR(c.Read(&et, "array element type"));
  if (!ValidType(et)) {
    return c.Error(absl::StrCat("array element type ", et, " of key '", key, "' is unknown"));
  }
  uint64_t n;
  PROCTOR_RETURN_IF_ERROR(c.Read(&n, "array length"));
  const GgufType elem = static_cast<GgufType>(et);
  v->elem_type = elem;
  if (n > c.remaining() / ScalarSize(elem)) {
    return c.Error(absl::StrCat("array length ", n, " of key '", key, "' exceeds the ",
                                c.remaining(), " bytes left"));
  }
  v->array_len = n;
  for (uint64_t k = 0; k < n; ++k) {
    GgufValue e;
    PROCTOR_RETURN_IF_ERROR(ReadValue(c, elem, &e, key, depth + 1));
    switch (elem) {
      case GgufType::kString:
        v->strs.push_back(std::move(e.str));
        break;
      case GgufType::kFloat32:
      case GgufType::kFloat64:
        v->floats.push_back(e.f);
        break;
      case GgufType::kArray:
        break;  // nested arrays: length only
      default:
        v->ints.push_back(e.i);
        break;
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool GgufValue::is_int() const {
  switch (type) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kUint16:
    case GgufType::kInt16:
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kBool:
      return true;
    default:
      return false;
  }
}

bool GgufValue::is_float() const {
  return type == GgufType::kFloat32 || type == GgufType::kFloat64;
}

int64_t GgufTensor::num_elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

std::string GgmlTypeName(uint32_t type) {
  const TypeGeom* g = FindType(type);
  return g != nullptr ? g->name : absl::StrCat("type", type);
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  PROCTOR_ASSIGN_OR_RETURN(MappedFile map, MappedFile::Open(path));
  PROCTOR_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> f, Parse(map.data(), map.size(), path));
  f->map_ = std::move(map);
  return f;
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Parse(const uint8_t* data, size_t size,
                                                          const std::string& name) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = name;
  Cursor c(data, size, f->path_);
  uint32_t magic;
  PROCTOR_RETURN_IF_ERROR(c.Read(&magic, "magic"));
  if (magic != kMagic) return c.Error("not a GGUF file (bad magic)");
  PROCTOR_RETURN_IF_ERROR(c.Read(&f->version_, "version"));
  if (f->version_ != 2 && f->version_ != 3) {
    return c.Error(absl::StrCat("unsupported GGUF version ", f->version_, " (need 2 or 3)"));
  }
  uint64_t n_tensors, n_kv;
  PROCTOR_RETURN_IF_ERROR(c.Read(&n_tensors, "tensor count"));
  PROCTOR_RETURN_IF_ERROR(c.Read(&n_kv, "metadata count"));
  // Each key/value needs at least 8 (key length) + 4 (type) + 1 bytes, each
  // tensor info at least 8 + 4 + 4 + 8 bytes.
  if (n_kv > c.remaining() / 13) {
    return c.Error(absl::StrCat("metadata count ", n_kv, " cannot fit in the file"));
  }
  if (n_tensors > c.remaining() / 24) {
    return c.Error(absl::StrCat("tensor count ", n_tensors, " cannot fit in the file"));
  }
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key;
    PROCTOR_RETURN_IF_ERROR(c.ReadString(&key, "metadata key"));
    uint32_t t;
    PROCTOR_RETURN_IF_ERROR(c.Read(&t, "metadata value type"));
    if (!ValidType(t))
      return c.Error(absl::StrCat("unknown value type ", t, " of key '", key, "'"));
    GgufValue v;
    PROCTOR_RETURN_IF_ERROR(ReadValue(c, static_cast<GgufType>(t), &v, key, 0));
    if (!f->metadata_.emplace(key, std::move(v)).second) {
      return c.Error(absl::StrCat("duplicate metadata key '", key, "'"));
    }
  }
  uint64_t alignment = 32;
  if (const GgufValue* a = f->Find("general.alignment"); a != nullptr) {
    if (!a->is_int() || a->i <= 0 || (a->i & (a->i - 1)) != 0 || a->i > (1 << 20)) {
      return c.Error("general.alignment must be a power-of-two integer <= 1 MiB");
    }
    alignment = static_cast<uint64_t>(a->i);
  }
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensor t;
    PROCTOR_RETURN_IF_ERROR(c.ReadString(&t.name, "tensor name"));
    uint32_t n_dims;
    PROCTOR_RETURN_IF_ERROR(c.Read(&n_dims, "tensor dimension count"));
    if (n_dims == 0 || n_dims > kMaxDims) {
      return c.Error(
          absl::StrCat("tensor '", t.name, "' has ", n_dims, " dimensions (1..4 allowed)"));
    }
    int64_t elems = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne;
      PROCTOR_RETURN_IF_ERROR(c.Read(&ne, "tensor dimension"));
      if (ne == 0 || ne > (1ull << 40) || static_cast<uint64_t>(elems) > (1ull << 50) / ne) {
        return c.Error(absl::StrCat("tensor '", t.name, "' dimension ", d, " = ", ne,
                                    " is zero or oversized"));
      }
      elems *= static_cast<int64_t>(ne);
      t.dims.push_back(static_cast<int64_t>(ne));
    }
    PROCTOR_RETURN_IF_ERROR(c.Read(&t.ggml_type, "tensor type"));
    const TypeGeom* g = FindType(t.ggml_type);
    if (g == nullptr) {
      return c.Error(absl::StrCat("tensor '", t.name, "' has unknown ggml type ", t.ggml_type));
    }
    if (t.dims[0] % g->block_values != 0) {
      return c.Error(absl::StrCat("tensor '", t.name, "' row length ", t.dims[0],
                                  " is not a multiple of the ", g->name, " block size ",
                                  g->block_values));
    }
    t.nbytes = static_cast<uint64_t>(elems / g->block_values * g->block_bytes);
    PROCTOR_RETURN_IF_ERROR(c.Read(&t.offset, "tensor offset"));
    if (t.offset % alignment != 0) {
      return c.Error(absl::StrCat("tensor '", t.name, "' offset ", t.offset, " is not aligned to ",
                                  alignment));
    }
    if (!f->tensor_index_.emplace(t.name, f->tensors_.size()).second) {
      return c.Error(absl::StrCat("duplicate tensor name '", t.name, "'"));
    }
    f->tensors_.push_back(std::move(t));
  }
  const uint64_t data_start = (c.pos() + alignment - 1) / alignment * alignment;
  const uint64_t data_size = data_start <= size ? size - data_start : 0;
  for (GgufTensor& t : f->tensors_) {
    if (t.offset > data_size || t.nbytes > data_size - t.offset) {
      return absl::FailedPreconditionError(absl::StrCat(
          "malformed GGUF file ", name, ": tensor '", t.name, "' data [", t.offset, ", +", t.nbytes,
          ") lies outside the ", data_size, "-byte data section (file truncated?)"));
    }
    t.data = data + data_start + t.offset;
  }
  return f;
}

const GgufValue* GgufFile::Find(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

const GgufTensor* GgufFile::FindTensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

absl::StatusOr<int64_t> GgufFile::GetInt(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return absl::NotFoundError(absl::StrCat(path_, ": missing key '", key, "'"));
  if (!v->is_int()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": key '", key, "' is not an integer"));
  }
  return v->i;
}

absl::StatusOr<double> GgufFile::GetFloat(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return absl::NotFoundError(absl::StrCat(path_, ": missing key '", key, "'"));
  if (v->is_float()) return v->f;
  if (v->is_int()) return static_cast<double>(v->i);
  return absl::FailedPreconditionError(absl::StrCat(path_, ": key '", key, "' is not a number"));
}

absl::StatusOr<std::string> GgufFile::GetString(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return absl::NotFoundError(absl::StrCat(path_, ": missing key '", key, "'"));
  if (v->type != GgufType::kString) {
    return absl::FailedPreconditionError(absl::StrCat(path_, ": key '", key, "' is not a string"));
  }
  return v->str;
}

absl::StatusOr<int64_t> GgufFile::GetIntOr(const std::string& key, int64_t def) const {
  if (Find(key) == nullptr) return def;
  return GetInt(key);
}

absl::StatusOr<double> GgufFile::GetFloatOr(const std::string& key, double def) const {
  if (Find(key) == nullptr) return def;
  return GetFloat(key);
}

}  // namespace proctor::engine
