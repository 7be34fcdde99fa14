// A deterministic mutation driver for the fuzz targets, so every build (gcc,
// no libFuzzer) runs them in CTest. Each seed file is executed as is and then
// as `--iterations` mutated variants: bit flips, "interesting" bytes and
// integers written over (lengths, counts, offsets), truncations, inserted,
// deleted and duplicated chunks — 1 to 4 stacked per variant, three quarters
// of them inside the first `--header_bytes` of the file where the headers and
// tables parsers read live. The same --seed gives the same inputs, so a crash
// reproduces with `--seed=S --only=I`.
//
//   <target>_replay [--iterations=N] [--seed=S] [--header_bytes=B]
//                   [--prefix_byte=V] [--only=I] [--max_seconds=T] SEED...
//
// A SEED that does not exist is reported and skipped, so a missing shared
// data directory skips visibly instead of failing. On a crash the input is
// written to $PROCTOR_FUZZ_CRASH_DIR (default: the working directory) as
// crash-<seed>-<iteration> before the signal is re-raised.
// Coverage-guided fuzzing with libFuzzer + ASan: scripts/fuzz.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// The input being executed, for the crash handler (async-signal-safe access).
const uint8_t* g_current = nullptr;
size_t g_current_size = 0;
char g_crash_path[4096];

void OnCrash(int sig) {
  const int fd = open(g_crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    size_t done = 0;
    while (done < g_current_size) {
      const ssize_t n = write(fd, g_current + done, g_current_size - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    close(fd);
  }
  const char msg[] = "fuzz replay: crash; input saved to ";
  (void)!write(2, msg, sizeof(msg) - 1);
  (void)!write(2, g_crash_path, strlen(g_crash_path));
  (void)!write(2, "\n", 1);
  signal(sig, SIG_DFL);
  raise(sig);
}

struct Rng {
  uint64_t s;
  uint64_t Next() {  // splitmix64
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(Next() % n); }
};

size_t PickOffset(Rng& rng, size_t size, size_t header_bytes) {
  if (size == 0) return 0;
  const size_t limit = (rng.Below(4) != 0 && header_bytes < size) ? header_bytes : size;
  return rng.Below(limit);
}

void Mutate(Rng& rng, size_t header_bytes, std::vector<uint8_t>& b) {
  static const uint64_t kInteresting[] = {0,
                                          1,
                                          2,
                                          0x7f,
                                          0x80,
                                          0xff,
                                          0x7fff,
                                          0xffff,
                                          0x7fffffffull,
                                          0x80000000ull,
                                          0xffffffffull,
                                          0x100000000ull,
                                          0x7fffffffffffffffull,
                                          0xffffffffffffffffull};
  const size_t n_interesting = sizeof(kInteresting) / sizeof(kInteresting[0]);
  const int steps = 1 + static_cast<int>(rng.Below(4));
  for (int step = 0; step < steps; ++step) {
    switch (rng.Below(7)) {
      case 0: {  // flip bits
        if (b.empty()) break;
        for (int i = 1 + static_cast<int>(rng.Below(8)); i > 0; --i) {
          b[PickOffset(rng, b.size(), header_bytes)] ^= static_cast<uint8_t>(1u << rng.Below(8));
        }
        break;
      }
      case 1: {  // an interesting byte
        if (b.empty()) break;
        b[PickOffset(rng, b.size(), header_bytes)] =
            static_cast<uint8_t>(kInteresting[rng.Below(n_interesting)]);
        break;
      }
      case 2: {  // an interesting 4- or 8-byte little-endian integer, aligned
        const size_t width = rng.Below(2) == 0 ? 4 : 8;
        if (b.size() < width) break;
        size_t off = PickOffset(rng, b.size() - width + 1, header_bytes) & ~(width - 1);
        uint64_t v = rng.Below(5) == 0 ? rng.Next() : kInteresting[rng.Below(n_interesting)];
        if (rng.Below(4) == 0) v = b.size() + rng.Below(3) - 1;  // just around the input size
        for (size_t i = 0; i < width; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
        break;
      }
      case 3:  // truncate
        b.resize(PickOffset(rng, b.size(), header_bytes));
        break;
      case 4: {  // delete a chunk
        if (b.empty()) break;
        const size_t off = PickOffset(rng, b.size(), header_bytes);
        const size_t len = 1 + rng.Below(std::min<size_t>(64, b.size() - off));
        b.erase(b.begin() + static_cast<std::ptrdiff_t>(off),
                b.begin() + static_cast<std::ptrdiff_t>(off + len));
        break;
      }
      case 5: {  // insert random bytes
        const size_t off = PickOffset(rng, b.size() + 1, header_bytes);
        std::vector<uint8_t> chunk(1 + rng.Below(16));
        for (uint8_t& c : chunk) c = static_cast<uint8_t>(rng.Next());
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(off), chunk.begin(), chunk.end());
        break;
      }
      default: {  // duplicate a chunk somewhere else
        if (b.empty()) break;
        const size_t from = PickOffset(rng, b.size(), header_bytes);
        const size_t len = 1 + rng.Below(std::min<size_t>(32, b.size() - from));
        const std::vector<uint8_t> chunk(b.begin() + static_cast<std::ptrdiff_t>(from),
                                         b.begin() + static_cast<std::ptrdiff_t>(from + len));
        const size_t to = PickOffset(rng, b.size() + 1, header_bytes);
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(to), chunk.begin(), chunk.end());
        break;
      }
    }
  }
}

bool FlagValue(const char* arg, const char* name, long long* out) {
  const size_t n = strlen(name);
  if (strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
  char* end = nullptr;
  *out = strtoll(arg + n + 1, &end, 10);
  if (end == arg + n + 1 || *end != '\0') {
    fprintf(stderr, "fuzz replay: bad value in %s\n", arg);
    exit(2);
  }
  return true;
}

void Run(const std::vector<uint8_t>& input) {
  g_current = input.data();
  g_current_size = input.size();
  // Copy so a target that reads past the end reads past a heap block of
  // exactly this size, not into the next variant's bytes.
  std::unique_ptr<uint8_t[]> copy(new uint8_t[input.size() + 1]);
  if (!input.empty()) memcpy(copy.get(), input.data(), input.size());
  LLVMFuzzerTestOneInput(copy.get(), input.size());
}

}  // namespace

int main(int argc, char** argv) {
  long long iterations = 200, seed = 1, header_bytes = 65536, prefix_byte = -1, only = -1,
            max_seconds = 60;
  std::vector<std::string> seeds;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (FlagValue(a, "--iterations", &iterations) || FlagValue(a, "--seed", &seed) ||
        FlagValue(a, "--header_bytes", &header_bytes) ||
        FlagValue(a, "--prefix_byte", &prefix_byte) || FlagValue(a, "--only", &only) ||
        FlagValue(a, "--max_seconds", &max_seconds)) {
      continue;
    }
    if (strncmp(a, "--", 2) == 0) {
      fprintf(stderr, "fuzz replay: unknown flag %s\n", a);
      return 2;
    }
    seeds.push_back(a);
  }
  if (seeds.empty()) {
    fprintf(stderr, "usage: %s [--iterations=N] [--seed=S] ... SEED_FILE...\n", argv[0]);
    return 2;
  }
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL}) signal(sig, OnCrash);
  const char* crash_dir = getenv("PROCTOR_FUZZ_CRASH_DIR");

  const auto start = std::chrono::steady_clock::now();
  long long executed = 0, skipped_seeds = 0;
  bool out_of_time = false;
  for (size_t s = 0; s < seeds.size() && !out_of_time; ++s) {
    std::ifstream in(seeds[s], std::ios::binary);
    if (!in) {
      fprintf(stderr, "fuzz replay: SKIPPED seed %s (not found)\n", seeds[s].c_str());
      ++skipped_seeds;
      continue;
    }
    std::vector<uint8_t> base((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (prefix_byte >= 0) base.insert(base.begin(), static_cast<uint8_t>(prefix_byte));
    Rng rng{static_cast<uint64_t>(seed) * 0x100000001b3ull + s};
    for (long long it = -1; it < iterations; ++it) {
      std::vector<uint8_t> input = base;
      if (it >= 0) Mutate(rng, static_cast<size_t>(header_bytes), input);
      if (only >= 0 && it != only) continue;
      snprintf(g_crash_path, sizeof(g_crash_path), "%s/crash-%zu-%lld",
               crash_dir != nullptr ? crash_dir : ".", s, it);
      Run(input);
      ++executed;
      if (std::chrono::steady_clock::now() - start > std::chrono::seconds(max_seconds)) {
        fprintf(stderr, "fuzz replay: --max_seconds=%lld reached after seed %zu iteration %lld\n",
                max_seconds, s, it);
        out_of_time = true;
        break;
      }
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  printf("fuzz replay: %lld inputs from %zu seeds (%lld skipped) in %.1f s, no crash\n", executed,
         seeds.size() - static_cast<size_t>(skipped_seeds), skipped_seeds, secs);
  if (skipped_seeds == static_cast<long long>(seeds.size())) {
    printf("fuzz replay: SKIPPED: no seed file found\n");
  }
  return 0;
}
