// Writes the synthetic binary seeds of the fuzz targets (small safetensors
// images; zip, tar and tar.gz archives; the manifest and lock-file readers'
// inputs behind their selector byte) into OUT_DIR, so that no binary test
// file lives in the repository. CTest runs it as the setup fixture of the
// fuzz tests; scripts/fuzz runs it before seeding libFuzzer's corpus.
//
//   fuzz_write_seeds OUT_DIR MANIFEST_FILE
//
// MANIFEST_FILE is eval/acquire/datasets.manifest (its first lines seed the
// manifest reader). Exit 0 on success, 1 on an I/O error (named), 2 on usage.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "eval/acquire/test_archives.h"

namespace {

namespace fs = std::filesystem;
using proctor::eval::acquire::testing::Entry;

struct Tensor {
  std::string name, dtype, shape;  // shape as JSON, e.g. "[2,3]"
  std::string data;
};

// 8-byte little-endian header length, JSON header padded to 8 bytes, data.
std::string Safetensors(const std::vector<Tensor>& tensors) {
  std::string header = "{", data;
  for (const Tensor& t : tensors) {
    header += "\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":" + t.shape +
              ",\"data_offsets\":[" + std::to_string(data.size()) + "," +
              std::to_string(data.size() + t.data.size()) + "]},";
    data += t.data;
  }
  header += "\"__metadata__\":{\"format\":\"pt\"}}";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(header.size() >> (8 * i)));
  return out + header + data;
}

std::string F32(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

bool Write(const fs::path& path, const std::string& bytes) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "fuzz_write_seeds: cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s OUT_DIR MANIFEST_FILE\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1];
  std::ifstream manifest_in(argv[2]);
  if (!manifest_in) {
    std::fprintf(stderr, "fuzz_write_seeds: cannot read %s\n", argv[2]);
    return 1;
  }
  std::string manifest, line;
  for (int i = 0; i < 40 && std::getline(manifest_in, line); ++i) manifest += line + "\n";

  const std::vector<Entry> members = {
      {"a.txt", "hello\n"},
      {"dir/b.csv", "x,y\n1,2\n", '0', false},
      {"data/dev.jsonl", Repeat("{\"q\": 1}\n", 20)},
      {"link", "", '2', true, true},
      {"../evil.txt", "x"},
  };
  const std::string lock =
      "# proctor datasets lock\n"
      "hellaswag/hellaswag_val.jsonl "
      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 12345 "
      "https://example.org/hellaswag_val.jsonl\n"
      "xsum/test.jsonl e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 "
      "archive:opencompass-core:data/xsum/test.jsonl\n";
  namespace ta = proctor::eval::acquire::testing;
  const bool ok =
      Write(out / "safetensors/tiny.safetensors",
            Safetensors({{"w", "F32", "[2,3]", F32({0, 1, 2, 3, 4, 5})}})) &&
      Write(
          out / "safetensors/two_tensors.safetensors",
          Safetensors({{"model.embed_tokens.weight", "BF16", "[4,2]", std::string(16, '\0')},
                       {"model.norm.weight", "F16", "[2]", std::string("\x00\x3c\x00\x3c", 4)}})) &&
      // The acquire target's first byte picks the reader: 0 zip, 1 tar,
      // 2 tar.gz, 3 manifest, 4 lock file.
      Write(out / "archive/zip.bin", std::string(1, '\0') + ta::MakeZip(members)) &&
      Write(out / "archive/tar.bin", std::string(1, '\1') + ta::MakeTar(members)) &&
      Write(out / "archive/targz.bin", std::string(1, '\2') + ta::Gzip(ta::MakeTar(members))) &&
      Write(out / "archive/manifest.bin", std::string(1, '\3') + manifest) &&
      Write(out / "archive/lock.bin", std::string(1, '\4') + lock);
  return ok ? 0 : 1;
}
