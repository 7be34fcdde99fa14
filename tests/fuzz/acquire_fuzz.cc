// Fuzz target: what `proctor datasets fetch|import|verify` reads from outside
// — upstream archives (zip incl. ZIP64, tar, tar.gz) from which one named
// member is extracted, the dataset source manifest and the lock file. The
// first input byte picks the reader.
#include <cstddef>
#include <cstdint>
#include <string>

#include "eval/acquire/archive.h"
#include "eval/acquire/lock_file.h"
#include "eval/acquire/manifest.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

// Counts bytes and stops past a bound, like the real sinks.
class BoundedSink : public proctor::eval::acquire::ByteSink {
 public:
  absl::Status Write(const char*, size_t n) override {
    total_ += n;
    if (total_ > (64u << 20)) return absl::ResourceExhaustedError("member larger than 64 MiB");
    return absl::OkStatus();
  }

 private:
  size_t total_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace proctor::eval::acquire;
  if (size == 0) return 0;
  const uint8_t which = data[0] % 5;
  ++data;
  --size;
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  switch (which) {
    case 3:
      (void)Manifest::Parse(text, "fuzz.manifest");
      return 0;
    case 4:
      (void)LockFile::Parse(text, "fuzz.lock");
      return 0;
    default: {
      const ArchiveFormat format = which == 0   ? ArchiveFormat::kZip
                                   : which == 1 ? ArchiveFormat::kTar
                                                : ArchiveFormat::kTarGz;
      proctor::fuzz::MemFile file(data, size, "archive");
      if (file.path().empty()) return 0;
      for (const char* member : {"data/dev.jsonl", "a.txt", "dir/b.csv"}) {
        BoundedSink sink;
        (void)ExtractMember(file.path(), format, member, &sink);
      }
      return 0;
    }
  }
}
