// ModelHasher (content hashes, re-hash avoidance, change detection), the
// identities the ModelCache records, and the client that stamps reports.
#include "worker/model_hash.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "worker/model_cache.h"
#include "worker/scripted_engine.h"

namespace proctor::worker {
namespace {

namespace fs = std::filesystem;

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), size));
}

class ModelHashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           absl::StrCat("model_hash_test_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
    return path;
  }
  fs::path dir_;
};

TEST_F(ModelHashTest, FileHashIsSha256OfTaggedBytesAndStreamsLargeFiles) {
  std::string big(3 * (1 << 20) + 17, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
  const std::string path = Write("big.gguf", big);
  ModelHasher hasher;
  absl::StatusOr<std::string> h = hasher.Hash(path);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(*h, Sha256Hex(std::string("file\0", 5) + big));
  EXPECT_EQ(hasher.bytes_read(), static_cast<int64_t>(big.size()));
  // The same bytes under another path: the same hash.
  const std::string copy = Write("copy.gguf", big);
  EXPECT_EQ(*hasher.Hash(copy), *h);
}

TEST_F(ModelHashTest, UnchangedFileIsNotReadAgain) {
  const std::string path = Write("m.gguf", "weights v1");
  ModelHasher hasher;
  const std::string first = *hasher.Hash(path);
  const int64_t read = hasher.bytes_read();
  EXPECT_EQ(*hasher.Hash(path), first);
  EXPECT_EQ(hasher.bytes_read(), read) << "an unchanged file must not be re-hashed";
  EXPECT_EQ(hasher.HashIfUnchanged(path), first);
  EXPECT_EQ(hasher.HashIfUnchanged((dir_ / "never-hashed").string()), std::nullopt);
}

TEST_F(ModelHashTest, OverwriteInPlaceIsDetectedEvenWithForgedMtime) {
  const std::string path = Write("m.gguf", "weights v1");
  ModelHasher hasher;
  const std::string first = *hasher.Hash(path);
  struct stat before;
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  // Same size, then the old mtime put back (as `cp -p` or rsync would).
  { std::fstream(path, std::ios::in | std::ios::out | std::ios::binary) << "weights v2"; }
  struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  EXPECT_EQ(hasher.HashIfUnchanged(path), std::nullopt) << "ctime moved: the stamp differs";
  absl::StatusOr<std::string> second = hasher.Hash(path);
  ASSERT_TRUE(second.ok());
  EXPECT_NE(*second, first);
  EXPECT_EQ(*second, Sha256Hex(std::string("file\0", 5) + "weights v2"));
}

TEST_F(ModelHashTest, DirectoryHashesSortedRegularFilesAndNoticesNewOnes) {
  fs::create_directories(dir_ / "hf");
  Write("hf/model-00002.safetensors", "b");
  Write("hf/config.json", "{}");
  Write("hf/.hidden", "ignored");
  fs::create_directories(dir_ / "hf/sub");
  ModelHasher hasher;
  const std::string dir = (dir_ / "hf").string();
  absl::StatusOr<std::string> h = hasher.Hash(dir);
  ASSERT_TRUE(h.ok()) << h.status();
  auto field = [](const std::string& s) {
    std::string le(8, '\0');
    for (int i = 0; i < 8; ++i) le[i] = static_cast<char>((s.size() >> (8 * i)) & 0xff);
    return le + s;
  };
  EXPECT_EQ(*h, Sha256Hex(std::string("dir\0", 4) + field("config.json") + field("2") + "{}" +
                          field("model-00002.safetensors") + field("1") + "b"));
  Write("hf/model-00001.safetensors", "a");
  EXPECT_EQ(hasher.HashIfUnchanged(dir), std::nullopt) << "a new shard changes the model";
  EXPECT_NE(*hasher.Hash(dir), *h);
}

TEST_F(ModelHashTest, BadPathsAreClearErrors) {
  ModelHasher hasher;
  absl::StatusOr<std::string> h = hasher.Hash((dir_ / "missing.gguf").string());
  EXPECT_EQ(h.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(h.status().message(), "missing.gguf"));
  h = hasher.Hash("/dev/null");
  EXPECT_EQ(h.status().code(), absl::StatusCode::kFailedPrecondition);
  fs::create_directories(dir_ / "empty");
  h = hasher.Hash((dir_ / "empty").string());
  EXPECT_EQ(h.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(EngineBuildTest, NamesTheExecutableByHash) {
  EXPECT_TRUE(absl::StartsWith(EngineBuild(), "exe-sha256:")) << EngineBuild();
  EXPECT_EQ(EngineBuild().size(), std::string("exe-sha256:").size() + 32);
}

// ---- ModelCache identities and the stamping client ------------------------------

class RecordingClient final : public CoordinatorClient {
 public:
  class Stream final : public ReportStream {
   public:
    explicit Stream(RecordingClient* owner) : owner_(owner) {}
    bool Write(const v1::ReportOutputsRequest& m) override {
      owner_->written.push_back(m);
      return true;
    }
    absl::StatusOr<v1::ReportOutputsResponse> Finish() override {
      return v1::ReportOutputsResponse();
    }
    void Cancel() override {}

   private:
    RecordingClient* owner_;
  };
  absl::StatusOr<v1::RegisterResponse> Register(const v1::RegisterRequest&,
                                                absl::Duration) override {
    return v1::RegisterResponse();
  }
  absl::StatusOr<v1::LeaseResponse> Lease(const v1::LeaseRequest&, absl::Duration) override {
    return v1::LeaseResponse();
  }
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest&,
                                                  absl::Duration) override {
    return v1::HeartbeatResponse();
  }
  absl::StatusOr<v1::GetReportStateResponse> GetReportState(const v1::GetReportStateRequest&,
                                                            absl::Duration) override {
    return v1::GetReportStateResponse();
  }
  std::unique_ptr<ReportStream> OpenReportStream(absl::Duration) override {
    return std::make_unique<Stream>(this);
  }
  std::vector<v1::ReportOutputsRequest> written;
};

TEST_F(ModelHashTest, ModelCacheRecordsIdentitiesAndReportsCarryThem) {
  const std::string path = Write("m.gguf", "weights v1");
  auto engine = CreateScriptedEngine(ScriptedEngineOptions());
  ModelCacheOptions options;
  ModelCache cache(engine.get(), options, nullptr);
  v1::ModelRef ref;
  ref.set_name("m");
  ref.set_path(path);
  ASSERT_TRUE(cache.Get("key-m", ref).ok());
  std::optional<v1::ModelIdentity> id = cache.Identity("key-m");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->model_key(), "key-m");
  EXPECT_EQ(id->content_hash().size(), 64u);
  EXPECT_EQ(id->backend(), "scripted");
  EXPECT_EQ(id->engine_build(), EngineBuild());
  ASSERT_EQ(cache.FreshIdentities().size(), 1u);

  // A model without a file still loads; it has no identity.
  v1::ModelRef named;
  named.set_name("scripted-model");
  ASSERT_TRUE(cache.Get("key-named", named).ok());
  EXPECT_FALSE(cache.Identity("key-named").has_value());
  // The evicted model's identity is still offered while its file is unchanged.
  EXPECT_EQ(cache.FreshIdentities().size(), 1u);

  RecordingClient inner;
  IdentityStampingClient client(&inner, &cache);
  ASSERT_TRUE(cache.Get("key-m", ref).ok());
  v1::Job job;
  job.set_job_id(5);
  job.set_model_key("key-m");
  client.Track(job);
  auto stream = client.OpenReportStream(absl::Seconds(1));
  v1::ReportOutputsRequest report;
  report.set_job_id(5);
  report.add_outputs()->set_request_id(1);
  ASSERT_TRUE(stream->Write(report));
  client.Untrack(5);
  ASSERT_TRUE(stream->Write(report));
  ASSERT_EQ(inner.written.size(), 2u);
  EXPECT_EQ(inner.written[0].model_identity().content_hash(), id->content_hash());
  EXPECT_FALSE(inner.written[1].has_model_identity()) << "untracked jobs are not stamped";

  // The file is overwritten: no longer offered for cache lookups.
  Write("m.gguf", "weights v2 longer");
  EXPECT_TRUE(cache.FreshIdentities().empty());
  // The next Get notices the change and reloads instead of serving the old
  // weights: a new identity, offered again.
  ASSERT_TRUE(cache.Get("key-m", ref).ok());
  std::optional<v1::ModelIdentity> reloaded = cache.Identity("key-m");
  ASSERT_TRUE(reloaded.has_value());
  EXPECT_NE(reloaded->content_hash(), id->content_hash());
  EXPECT_EQ(cache.FreshIdentities().size(), 1u);
}

}  // namespace
}  // namespace proctor::worker
