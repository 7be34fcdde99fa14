// Test helpers: build small tar, tar.gz and zip archives in memory, with
// the hostile shapes (symlinks, traversal names, corruption) the extractor
// must refuse. Test-only; not part of the library.
#ifndef PROCTOR_EVAL_ACQUIRE_TEST_ARCHIVES_H_
#define PROCTOR_EVAL_ACQUIRE_TEST_ARCHIVES_H_

#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace proctor::eval::acquire::testing {

struct Entry {
  std::string name;
  std::string data;
  char type = '0';       // tar type flag; '2' = symlink
  bool deflate = true;   // zip: deflate (else stored)
  bool symlink = false;  // zip: unix symlink mode
};

inline void TarHeader(std::string* out, const std::string& name, size_t size, char type) {
  char h[512];
  std::memset(h, 0, sizeof h);
  std::snprintf(h, 100, "%s", name.c_str());
  std::snprintf(h + 100, 8, "%07o", 0644);
  std::snprintf(h + 108, 8, "%07o", 0);
  std::snprintf(h + 116, 8, "%07o", 0);
  std::snprintf(h + 124, 12, "%011zo", size);
  std::snprintf(h + 136, 12, "%011o", 0);
  h[156] = type;
  if (type == '2') std::snprintf(h + 157, 100, "/etc/passwd");
  std::memcpy(h + 257,
              "ustar\0"
              "00",
              8);
  std::memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : std::string(h, 512)) sum += c;
  std::snprintf(h + 148, 8, "%06o", sum);
  out->append(h, 512);
}

inline std::string MakeTar(const std::vector<Entry>& entries) {
  std::string out;
  for (const Entry& e : entries) {
    if (e.name.size() >= 100) {  // GNU long name record
      TarHeader(&out, "././@LongLink", e.name.size() + 1, 'L');
      out += e.name;
      out.push_back('\0');
      out.append((512 - (e.name.size() + 1) % 512) % 512, '\0');
    }
    TarHeader(&out, e.name.substr(0, 99), e.type == '2' ? 0 : e.data.size(), e.type);
    if (e.type != '2') {
      out += e.data;
      out.append((512 - e.data.size() % 512) % 512, '\0');
    }
  }
  out.append(1024, '\0');
  return out;
}

inline std::string Gzip(const std::string& data) {
  z_stream z;
  std::memset(&z, 0, sizeof z);
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

inline std::string RawDeflate(const std::string& data) {
  z_stream z;
  std::memset(&z, 0, sizeof z);
  deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

inline void Put16(std::string* s, unsigned v) {
  s->push_back(static_cast<char>(v & 0xff));
  s->push_back(static_cast<char>((v >> 8) & 0xff));
}
inline void Put32(std::string* s, unsigned long v) {  // NOLINT(runtime/int)
  Put16(s, static_cast<unsigned>(v & 0xffff));
  Put16(s, static_cast<unsigned>((v >> 16) & 0xffff));
}

inline std::string MakeZip(const std::vector<Entry>& entries) {
  std::string out, cd;
  for (const Entry& e : entries) {
    const std::string body = e.deflate ? RawDeflate(e.data) : e.data;
    const uLong crc =
        crc32(0L, reinterpret_cast<const Bytef*>(e.data.data()), static_cast<uInt>(e.data.size()));
    const size_t offset = out.size();
    Put32(&out, 0x04034b50);
    Put16(&out, 20);
    Put16(&out, 0);
    Put16(&out, e.deflate ? 8 : 0);
    Put32(&out, 0);
    Put32(&out, crc);
    Put32(&out, body.size());
    Put32(&out, e.data.size());
    Put16(&out, static_cast<unsigned>(e.name.size()));
    Put16(&out, 0);
    out += e.name;
    out += body;
    Put32(&cd, 0x02014b50);
    Put16(&cd, (3 << 8) | 20);
    Put16(&cd, 20);
    Put16(&cd, 0);
    Put16(&cd, e.deflate ? 8 : 0);
    Put32(&cd, 0);
    Put32(&cd, crc);
    Put32(&cd, body.size());
    Put32(&cd, e.data.size());
    Put16(&cd, static_cast<unsigned>(e.name.size()));
    Put16(&cd, 0);
    Put16(&cd, 0);
    Put16(&cd, 0);
    Put16(&cd, 0);
    Put32(&cd, static_cast<unsigned long>(e.symlink ? 0120777 : 0100644) << 16);  // NOLINT
    Put32(&cd, offset);
    cd += e.name;
  }
  const size_t cd_offset = out.size();
  out += cd;
  Put32(&out, 0x06054b50);
  Put16(&out, 0);
  Put16(&out, 0);
  Put16(&out, static_cast<unsigned>(entries.size()));
  Put16(&out, static_cast<unsigned>(entries.size()));
  Put32(&out, cd.size());
  Put32(&out, cd_offset);
  Put16(&out, 0);
  return out;
}

inline void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace proctor::eval::acquire::testing

#endif  // PROCTOR_EVAL_ACQUIRE_TEST_ARCHIVES_H_
