#include "eval/acquire/manifest.h"

#include <cstdlib>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "eval/acquire/set_files.h"
#include "eval/acquire/sha256.h"
#include "eval/registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::eval::acquire {
namespace {
using ::testing::HasSubstr;

constexpr char kHash[] = "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14";

TEST(Manifest, ParsesArchivesFilesAndOrigins) {
  absl::StatusOr<Manifest> m = Manifest::Parse(
      absl::StrCat("# comment\n\narchive bundle zip https://example.org/b.zip http://m/b.zip\n"
                   "file a/x.jsonl ",
                   kHash,
                   " 12 MIT https://example.org/x archive:bundle:d/x\n"
                   "file b/y.csv unknown unknown see-upstream archive:bundle:y.csv\n"),
      "t");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->files().size(), 2u);
  const FileSource* x = m->FindFile("a/x.jsonl");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(*x->sha256, kHash);
  EXPECT_EQ(*x->size, 12u);
  EXPECT_EQ(x->license, "MIT");
  ASSERT_EQ(x->origins.size(), 2u);
  EXPECT_EQ(x->origins[0].url, "https://example.org/x");
  EXPECT_EQ(x->origins[1].archive_id, "bundle");
  EXPECT_EQ(x->origins[1].member, "d/x");
  EXPECT_EQ(x->origins[1].ToString(), "archive:bundle:d/x");
  const FileSource* y = m->FindFile("b/y.csv");
  EXPECT_FALSE(y->sha256.has_value());
  EXPECT_FALSE(y->size.has_value());
  EXPECT_EQ(m->FindArchive("bundle")->urls.size(), 2u);
  EXPECT_EQ(m->FindFile("nope"), nullptr);
}

TEST(Manifest, RefusesMalformedAndHostileLines) {
  const std::string h = kHash;
  struct Case {
    std::string text;
    std::string message;
  } cases[] = {
      {"file ../escape " + h + " 1 MIT https://e/x", "'..' component"},
      {"file /etc/passwd " + h + " 1 MIT https://e/x", "absolute path"},
      {"archive a zip https://e/a\nfile x " + h + " 1 MIT archive:a:../../x", "archive member"},
      {"archive a zip https://e/a\nfile x " + h + " 1 MIT archive:a:/abs", "absolute path"},
      {"file x " + h + " 1 MIT archive:nope:x", "unknown archive id 'nope'"},
      {"file x " + h + " 1 MIT file:///etc/passwd", "neither http(s)"},
      {"file x " + h + " 1 MIT ftp://e/x", "neither http(s)"},
      {"file x ABC 1 MIT https://e/x", "not 64 lowercase hex"},
      {"file x " + h + " -3 MIT https://e/x", "not a number"},
      {"file x " + h + " 1 MIT", "file needs"},
      {"file x " + h + " 1 MIT https://e/x\nfile x " + h + " 1 MIT https://e/x", "duplicate path"},
      {"archive a rar https://e/a", "archive format 'rar'"},
      {"archive a zip https://e/a\narchive a zip https://e/a", "duplicate archive"},
      {"frobnicate x", "unknown directive"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Manifest> m = Manifest::Parse(c.text, "m.txt");
    ASSERT_FALSE(m.ok()) << c.text;
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(std::string(m.status().message()), HasSubstr(c.message)) << c.text;
    EXPECT_THAT(std::string(m.status().message()), HasSubstr("m.txt:")) << c.text;
  }
}

// Every file the registry reads has exactly one manifest entry, and every
// manifest entry is a file some set reads.
TEST(BuiltinManifest, CoversTheRegistryExactly) {
  absl::StatusOr<const Manifest*> m = Manifest::Builtin();
  ASSERT_TRUE(m.ok()) << m.status();
  std::set<std::string> registry_paths;
  for (const SetDef& def : AllSets()) {
    for (const std::string& p : FilesOfSet(def)) {
      registry_paths.insert(p);
      EXPECT_NE((*m)->FindFile(p), nullptr)
          << "set " << def.name << " reads " << p << " but eval/acquire/datasets.manifest lacks it";
    }
  }
  for (const FileSource& f : (*m)->files()) {
    EXPECT_EQ(registry_paths.count(f.path), 1u)
        << f.path << " is in the manifest but no set reads it";
    EXPECT_FALSE(f.origins.empty()) << f.path;
    EXPECT_FALSE(f.license.empty()) << f.path;
  }
}

// The checksums recorded for files of the shared data are those files'.
TEST(BuiltinManifest, KnownChecksumsMatchTheSharedCopies) {
  const char* shared = std::getenv("PROCTOR_SHARED_DATA");
  std::string root = shared == nullptr ? "" : absl::StrCat(shared, "/datasets");
  if (root.empty() || !std::filesystem::is_directory(root)) {
    GTEST_SKIP() << "PROCTOR_SHARED_DATA/datasets not found; checksum cross-check skipped";
  }
  const Manifest* m = *Manifest::Builtin();
  int checked = 0;
  for (const FileSource& f : m->files()) {
    std::string path = absl::StrCat(root, "/", f.path);
    if (!f.sha256) {
      EXPECT_FALSE(std::filesystem::exists(path))
          << f.path << " is in the shared data but its checksum is marked unknown";
      continue;
    }
    absl::StatusOr<FileDigest> d = HashFile(path);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->sha256, *f.sha256) << f.path;
    EXPECT_EQ(d->size, *f.size) << f.path;
    ++checked;
  }
  EXPECT_GT(checked, 100);
}

TEST(Sha256, KnownVectors) {
  Sha256 empty;
  EXPECT_EQ(empty.HexDigest(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 abc;
  abc.Update("a");
  abc.Update("bc");
  EXPECT_EQ(abc.HexDigest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(IsSha256Hex(kHash));
  EXPECT_FALSE(IsSha256Hex("ABC"));
}

TEST(SelectSets, ExpandsGroupsAndSuitesAndRefusesUnknownNames) {
  absl::StatusOr<std::vector<SetFiles>> mmlu = SelectSets({"mmlu"}, "");
  ASSERT_TRUE(mmlu.ok()) << mmlu.status();
  EXPECT_EQ(mmlu->size(), 57u);
  EXPECT_EQ((*mmlu)[0].paths.size(), 2u);  // test split + dev shots
  absl::StatusOr<std::vector<SetFiles>> piqa = SelectSets({"piqa"}, "");
  ASSERT_TRUE(piqa.ok());
  EXPECT_THAT((*piqa)[0].paths, ::testing::ElementsAre("piqa/dev.jsonl", "piqa/dev-labels.lst"));
  EXPECT_TRUE(SelectSets({}, "core").ok());
  EXPECT_EQ(SelectSets({"nope"}, "").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(SelectSets({}, "nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(SelectSets({}, "")->size(), AllSets().size());
}

}  // namespace
}  // namespace proctor::eval::acquire
