// A read-only memory map of a whole file. Movable, not copyable; unmaps on
// destruction. Thread-safe for concurrent reads.
#ifndef PROCTOR_WORKER_ENGINE_MAPPED_FILE_H_
#define PROCTOR_WORKER_ENGINE_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace proctor::engine {

class MappedFile {
 public:
  // Maps `path` read-only. NOT_FOUND when missing, FAILED_PRECONDITION when it
  // cannot be opened or mapped (message names the path). An empty file maps to
  // size() == 0 and data() == nullptr.
  static absl::StatusOr<MappedFile> Open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

}  // namespace proctor::engine

#endif  // PROCTOR_WORKER_ENGINE_MAPPED_FILE_H_
