// Helpers shared by the fuzz targets in this directory.
#ifndef PROCTOR_TESTS_FUZZ_FUZZ_INPUT_H_
#define PROCTOR_TESTS_FUZZ_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace proctor::fuzz {

// An anonymous in-memory file (memfd) holding a copy of `data`, for parsers
// whose entry point takes a path. path() is "/proc/self/fd/N"; the file is
// closed on destruction. path() is empty when the file could not be made
// (the target then skips the input).
class MemFile {
 public:
  MemFile(const uint8_t* data, size_t size, const char* name);
  ~MemFile();
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace proctor::fuzz

#endif  // PROCTOR_TESTS_FUZZ_FUZZ_INPUT_H_
