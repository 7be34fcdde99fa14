#include "eval/acquire/archive.h"

#include <zlib.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "eval/acquire/paths.h"

namespace proctor::eval::acquire {
namespace {

constexpr size_t kChunk = 1 << 16;

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<FILE, FileCloser>;

uint16_t Le16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t Le32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t Le64(const unsigned char* p) {
  return static_cast<uint64_t>(Le32(p)) | (static_cast<uint64_t>(Le32(p + 4)) << 32);
}

// A sequential byte source: plain file or gzip stream.
class Reader {
 public:
  virtual ~Reader() = default;
  // Up to n bytes; 0 at end of stream.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t n) = 0;
};

class PlainReader : public Reader {
 public:
  explicit PlainReader(FILE* f) : f_(f) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    size_t got = std::fread(buf, 1, n, f_);
    if (got == 0 && std::ferror(f_)) return absl::InternalError("read error");
    return got;
  }

 private:
  FILE* f_;
};

class GzipReader : public Reader {
 public:
  explicit GzipReader(FILE* f) : f_(f), in_(kChunk) {
    std::memset(&z_, 0, sizeof z_);
    ok_ = inflateInit2(&z_, 15 + 16) == Z_OK;  // gzip only
  }
  ~GzipReader() override { inflateEnd(&z_); }
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    if (!ok_) return absl::InternalError("zlib init failed");
    if (done_) return 0;
    z_.next_out = reinterpret_cast<Bytef*>(buf);
    z_.avail_out = static_cast<uInt>(n);
    while (z_.avail_out == n) {
      if (z_.avail_in == 0) {
        size_t got = std::fread(in_.data(), 1, in_.size(), f_);
        if (got == 0) {
          return absl::DataLossError(
              absl::StrCat("gzip stream truncated after ", z_.total_out, " bytes"));
        }
        z_.next_in = in_.data();
        z_.avail_in = static_cast<uInt>(got);
      }
      int rc = inflate(&z_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        done_ = true;
        break;
      }
      if (rc != Z_OK && rc != Z_BUF_ERROR) {
        return absl::DataLossError(absl::StrCat("corrupt gzip data after ", z_.total_out,
                                                " bytes: ", z_.msg ? z_.msg : "inflate error"));
      }
    }
    return n - z_.avail_out;
  }

 private:
  FILE* f_;
  z_stream z_;
  std::vector<unsigned char> in_;
  bool ok_ = false;
  bool done_ = false;
};

absl::Status ReadFull(Reader* r, char* buf, size_t n, absl::string_view what) {
  size_t got = 0;
  while (got < n) {
    PROCTOR_ASSIGN_OR_RETURN(size_t k, r->Read(buf + got, n - got));
    if (k == 0) return absl::DataLossError(absl::StrCat("truncated ", what));
    got += k;
  }
  return absl::OkStatus();
}

// Copies (sink != nullptr) or skips n bytes.
absl::Status Pump(Reader* r, uint64_t n, ByteSink* sink, absl::string_view what) {
  std::vector<char> buf(kChunk);
  while (n > 0) {
    size_t want = n < buf.size() ? static_cast<size_t>(n) : buf.size();
    PROCTOR_RETURN_IF_ERROR(ReadFull(r, buf.data(), want, what));
    if (sink != nullptr) PROCTOR_RETURN_IF_ERROR(sink->Write(buf.data(), want));
    n -= want;
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> TarNumber(const unsigned char* p, size_t n, absl::string_view what) {
  if (p[0] & 0x80) {  // base-256 (GNU) for sizes past 8 GiB
    uint64_t v = p[0] & 0x7f;
    for (size_t i = 1; i < n; ++i) {
      if (v >> 55) return absl::DataLossError(absl::StrCat("tar ", what, " overflows"));
      v = (v << 8) | p[i];
    }
    return v;
  }
  uint64_t v = 0;
  size_t i = 0;
  while (i < n && p[i] == ' ') ++i;
  for (; i < n && p[i] >= '0' && p[i] <= '7'; ++i) {
    if (v >> 60) return absl::DataLossError(absl::StrCat("tar ", what, " overflows"));
    v = v * 8 + (p[i] - '0');
  }
  for (; i < n; ++i) {
    if (p[i] != ' ' && p[i] != '\0') {
      return absl::DataLossError(absl::StrCat("tar ", what, " field is not octal"));
    }
  }
  return v;
}

std::string CString(const unsigned char* p, size_t n) {
  size_t len = 0;
  while (len < n && p[len] != '\0') ++len;
  return std::string(reinterpret_cast<const char*>(p), len);
}

std::string NormalizeName(absl::string_view name) {
  while (absl::ConsumePrefix(&name, "./")) {
  }
  while (absl::ConsumeSuffix(&name, "/")) {
  }
  return std::string(name);
}

// The "path" value of a pax extended header block, or "".
std::string PaxPath(const std::string& records) {
  size_t pos = 0;
  std::string path;
  while (pos < records.size()) {
    size_t space = records.find(' ', pos);
    if (space == std::string::npos) break;
    uint64_t len = 0;
    for (size_t i = pos; i < space; ++i) {
      if (records[i] < '0' || records[i] > '9') return path;
      len = len * 10 + static_cast<uint64_t>(records[i] - '0');
      if (len > records.size()) return path;
    }
    if (len == 0 || pos + len > records.size()) break;
    absl::string_view rec(records.data() + space + 1, pos + len - space - 1);
    if (!rec.empty() && rec.back() == '\n') rec.remove_suffix(1);
    if (absl::ConsumePrefix(&rec, "path=")) path = std::string(rec);
    pos += len;
  }
  return path;
}

absl::Status ExtractTar(Reader* r, absl::string_view member, ByteSink* sink) {
  uint64_t offset = 0;
  std::string long_name, pax_path;
  unsigned char hdr[512];
  while (true) {
    absl::Status s = ReadFull(r, reinterpret_cast<char*>(hdr), 512,
                              absl::StrCat("tar header at offset ", offset));
    if (!s.ok()) return s;
    bool zero = true;
    for (unsigned char c : hdr) zero = zero && c == 0;
    if (zero) return absl::NotFoundError(absl::StrCat("no member ", member));
    unsigned sum = 0;
    for (int i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : hdr[i];
    PROCTOR_ASSIGN_OR_RETURN(uint64_t stored, TarNumber(hdr + 148, 8, "checksum"));
    if (stored != sum) {
      return absl::DataLossError(absl::StrCat("bad tar header checksum at offset ", offset));
    }
    PROCTOR_ASSIGN_OR_RETURN(uint64_t size, TarNumber(hdr + 124, 12, "size"));
    const char type = static_cast<char>(hdr[156]);
    const uint64_t padded = (size + 511) / 512 * 512;
    offset += 512;
    if (type == 'L' || type == 'x') {
      if (size > (1 << 20)) {
        return absl::DataLossError(absl::StrCat("oversized tar name record at offset ", offset));
      }
      std::string data(static_cast<size_t>(padded), '\0');
      PROCTOR_RETURN_IF_ERROR(ReadFull(r, data.data(), data.size(), "tar name record"));
      data.resize(static_cast<size_t>(size));
      if (type == 'L') {
        long_name = CString(reinterpret_cast<const unsigned char*>(data.data()), data.size());
      } else {
        pax_path = PaxPath(data);
      }
      offset += padded;
      continue;
    }
    std::string name;
    if (!long_name.empty()) {
      name = long_name;
    } else if (!pax_path.empty()) {
      name = pax_path;
    } else {
      name = CString(hdr, 100);
      std::string prefix = CString(hdr + 345, 155);
      if (std::memcmp(hdr + 257, "ustar", 5) == 0 && !prefix.empty()) {
        name = absl::StrCat(prefix, "/", name);
      }
    }
    long_name.clear();
    pax_path.clear();
    if (type != 'g' && NormalizeName(name) == member) {
      if (type != '0' && type != '\0' && type != '7') {
        return absl::FailedPreconditionError(
            absl::StrCat("tar member ", member, " is not a regular file (type '",
                         std::string(1, type), "': symlink, link, device or directory); refused"));
      }
      PROCTOR_RETURN_IF_ERROR(Pump(r, size, sink, absl::StrCat("tar member ", member)));
      return absl::OkStatus();
    }
    PROCTOR_RETURN_IF_ERROR(Pump(r, padded, nullptr, absl::StrCat("tar member ", name)));
    offset += padded;
  }
}

absl::Status ReadAt(FILE* f, uint64_t offset, unsigned char* buf, size_t n,
                    absl::string_view what) {
  if (fseeko(f, static_cast<off_t>(offset), SEEK_SET) != 0 || std::fread(buf, 1, n, f) != n) {
    return absl::DataLossError(absl::StrCat("truncated zip: ", what, " at offset ", offset));
  }
  return absl::OkStatus();
}

absl::Status ExtractZip(FILE* f, absl::string_view member, ByteSink* sink) {
  if (fseeko(f, 0, SEEK_END) != 0) return absl::InternalError("seek failed");
  const uint64_t file_size = static_cast<uint64_t>(ftello(f));
  if (file_size < 22) return absl::DataLossError("not a zip file (shorter than 22 bytes)");
  const uint64_t tail = file_size < 65557 ? file_size : 65557;
  std::vector<unsigned char> buf(static_cast<size_t>(tail));
  PROCTOR_RETURN_IF_ERROR(ReadAt(f, file_size - tail, buf.data(), buf.size(), "end record"));
  int64_t eocd = -1;
  for (int64_t i = static_cast<int64_t>(tail) - 22; i >= 0; --i) {
    if (Le32(&buf[static_cast<size_t>(i)]) == 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return absl::DataLossError("not a zip file (no end of central directory)");
  const unsigned char* e = &buf[static_cast<size_t>(eocd)];
  uint64_t entries = Le16(e + 10), cd_size = Le32(e + 12), cd_offset = Le32(e + 16);
  const uint64_t eocd_pos = file_size - tail + static_cast<uint64_t>(eocd);
  if (entries == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff) {
    unsigned char loc[20], rec[56];
    if (eocd_pos < 20) return absl::DataLossError("zip64 locator missing");
    PROCTOR_RETURN_IF_ERROR(ReadAt(f, eocd_pos - 20, loc, 20, "zip64 locator"));
    if (Le32(loc) != 0x07064b50) return absl::DataLossError("zip64 locator missing");
    PROCTOR_RETURN_IF_ERROR(ReadAt(f, Le64(loc + 8), rec, 56, "zip64 end record"));
    if (Le32(rec) != 0x06064b50) return absl::DataLossError("bad zip64 end record");
    entries = Le64(rec + 32);
    cd_size = Le64(rec + 40);
    cd_offset = Le64(rec + 48);
  }
  if (cd_offset > file_size || cd_size > file_size - cd_offset || cd_size > (256u << 20)) {
    return absl::DataLossError(absl::StrCat("zip central directory (offset ", cd_offset, ", size ",
                                            cd_size, ") outside the file"));
  }
  std::vector<unsigned char> cd(static_cast<size_t>(cd_size));
  PROCTOR_RETURN_IF_ERROR(ReadAt(f, cd_offset, cd.data(), cd.size(), "central directory"));
  size_t p = 0;
  for (uint64_t n = 0; n < entries; ++n) {
    if (p + 46 > cd.size() || Le32(&cd[p]) != 0x02014b50) {
      return absl::DataLossError(
          absl::StrCat("bad zip central directory entry at offset ", cd_offset + p));
    }
    const unsigned char* h = &cd[p];
    const size_t name_len = Le16(h + 28), extra_len = Le16(h + 30), comment_len = Le16(h + 32);
    if (p + 46 + name_len + extra_len + comment_len > cd.size()) {
      return absl::DataLossError("zip central directory entry runs past its end");
    }
    std::string name(reinterpret_cast<const char*>(h + 46), name_len);
    const size_t next = p + 46 + name_len + extra_len + comment_len;
    if (NormalizeName(name) != member) {
      p = next;
      continue;
    }
    const uint16_t made_by = Le16(h + 4), flags = Le16(h + 8), method = Le16(h + 10);
    const uint32_t crc = Le32(h + 16), attrs = Le32(h + 38);
    uint64_t csize = Le32(h + 20), usize = Le32(h + 24), local = Le32(h + 42);
    const unsigned char* x = h + 46 + name_len;
    for (size_t q = 0; q + 4 <= extra_len;) {
      const uint16_t id = Le16(x + q), len = Le16(x + q + 2);
      if (q + 4 + len > extra_len) break;
      if (id == 0x0001) {
        const unsigned char* v = x + q + 4;
        size_t k = 0;
        if (usize == 0xffffffff && k + 8 <= len) usize = Le64(v + k), k += 8;
        if (csize == 0xffffffff && k + 8 <= len) csize = Le64(v + k), k += 8;
        if (local == 0xffffffff && k + 8 <= len) local = Le64(v + k), k += 8;
      }
      q += 4 + len;
    }
    const bool unix_symlink = (made_by >> 8) == 3 && ((attrs >> 16) & 0170000) == 0120000;
    if (name.back() == '/' || unix_symlink) {
      return absl::FailedPreconditionError(absl::StrCat(
          "zip member ", member, " is a ", unix_symlink ? "symlink" : "directory", "; refused"));
    }
    if (flags & 1) {
      return absl::FailedPreconditionError(absl::StrCat("zip member ", member, " is encrypted"));
    }
    if (method != 0 && method != 8) {
      return absl::FailedPreconditionError(
          absl::StrCat("zip member ", member, " uses compression method ", method,
                       " (only stored and deflate are supported)"));
    }
    unsigned char lh[30];
    PROCTOR_RETURN_IF_ERROR(ReadAt(f, local, lh, 30, "local header"));
    if (Le32(lh) != 0x04034b50) {
      return absl::DataLossError(absl::StrCat("bad zip local header at offset ", local));
    }
    const uint64_t data = local + 30 + Le16(lh + 26) + Le16(lh + 28);
    if (data > file_size || csize > file_size - data) {
      return absl::DataLossError(absl::StrCat("zip member ", member, " data (offset ", data, ", ",
                                              csize, " bytes) runs past the end of the archive"));
    }
    if (fseeko(f, static_cast<off_t>(data), SEEK_SET) != 0) {
      return absl::InternalError("seek failed");
    }
    std::vector<unsigned char> in(kChunk), out(kChunk);
    uLong actual_crc = crc32(0L, Z_NULL, 0);
    uint64_t produced = 0, remaining = csize;
    z_stream z;
    std::memset(&z, 0, sizeof z);
    if (method == 8 && inflateInit2(&z, -15) != Z_OK) return absl::InternalError("zlib init");
    bool ended = method == 0;
    absl::Status status = absl::OkStatus();
    while (status.ok() && remaining > 0) {
      size_t want = remaining < in.size() ? static_cast<size_t>(remaining) : in.size();
      if (std::fread(in.data(), 1, want, f) != want) {
        status = absl::DataLossError(absl::StrCat("zip member ", member, " truncated"));
        break;
      }
      remaining -= want;
      if (method == 0) {
        actual_crc = crc32(actual_crc, in.data(), static_cast<uInt>(want));
        produced += want;
        status = sink->Write(reinterpret_cast<const char*>(in.data()), want);
        continue;
      }
      z.next_in = in.data();
      z.avail_in = static_cast<uInt>(want);
      while (status.ok() && z.avail_in > 0 && !ended) {
        z.next_out = out.data();
        z.avail_out = static_cast<uInt>(out.size());
        int rc = inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) {
          status =
              absl::DataLossError(absl::StrCat("zip member ", member, ": corrupt deflate data"));
          break;
        }
        size_t got = out.size() - z.avail_out;
        actual_crc = crc32(actual_crc, out.data(), static_cast<uInt>(got));
        produced += got;
        if (got > 0) status = sink->Write(reinterpret_cast<const char*>(out.data()), got);
        if (rc == Z_STREAM_END) ended = true;
      }
    }
    if (method == 8) inflateEnd(&z);
    if (!status.ok()) return status;
    if (!ended || produced != usize || actual_crc != crc) {
      return absl::DataLossError(absl::StrCat("zip member ", member, " is corrupt: ", produced,
                                              " of ", usize, " bytes, CRC ",
                                              actual_crc == crc ? "ok" : "mismatch"));
    }
    return absl::OkStatus();
  }
  return absl::NotFoundError(absl::StrCat("no member ", member));
}

}  // namespace

absl::Status ExtractMember(const std::string& archive_path, ArchiveFormat format,
                           absl::string_view member, ByteSink* sink) {
  PROCTOR_RETURN_IF_ERROR(ValidateRelativePath(member, "archive member"));
  FilePtr f(std::fopen(archive_path.c_str(), "rb"));
  if (f == nullptr) {
    return absl::NotFoundError(absl::StrCat(archive_path, ": ", std::strerror(errno)));
  }
  absl::Status s;
  if (format == ArchiveFormat::kZip) {
    s = ExtractZip(f.get(), member, sink);
  } else if (format == ArchiveFormat::kTar) {
    PlainReader r(f.get());
    s = ExtractTar(&r, member, sink);
  } else {
    GzipReader r(f.get());
    s = ExtractTar(&r, member, sink);
  }
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(archive_path, ": ", s.message()));
}

}  // namespace proctor::eval::acquire
