#include "common/auth_tokens.h"

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::auth {
namespace {

using ::testing::HasSubstr;

constexpr char kAliceToken[] = "alice-token-0123456789abcdef";
constexpr char kFleetToken[] = "fleet-token-0123456789abcdef";

std::string Line(absl::string_view name, absl::string_view roles, absl::string_view token) {
  return absl::StrCat(name, " ", roles, " sha256:", Sha256Hex(token), "\n");
}

TEST(Sha256HexTest, KnownVectors) {
  // FIPS 180-2 test vectors.
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(TokenStoreTest, FindsTokensByHashWithRoles) {
  const std::string text = absl::StrCat(
      "# comment line\n\n", Line("alice", "submitter", kAliceToken), "  ",
      Line("gpu-fleet", "worker", kFleetToken),
      Line("ops", "admin,submitter", "ops-token-0123456789abcdef"), "   # trailing comment\n");
  absl::StatusOr<TokenStore> store = TokenStore::Parse(text, "tokens");
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(store->size(), 3u);
  const Identity* alice = store->Find(kAliceToken);
  ASSERT_NE(alice, nullptr);
  EXPECT_EQ(alice->name, "alice");
  EXPECT_EQ(alice->roles, RoleBit(Role::kSubmitter));
  const Identity* ops = store->Find("ops-token-0123456789abcdef");
  ASSERT_NE(ops, nullptr);
  EXPECT_EQ(RoleSetToString(ops->roles), "submitter,admin");
  EXPECT_EQ(store->Find("not-a-known-token-at-all"), nullptr);
  EXPECT_EQ(store->Find(""), nullptr);
  // The hash itself is not a credential.
  EXPECT_EQ(store->Find(Sha256Hex(kAliceToken)), nullptr);
}

TEST(TokenStoreTest, RejectsTooShortAndTooLongTokens) {
  absl::StatusOr<TokenStore> store =
      TokenStore::Parse(Line("short", "admin", "shorty") + Line("a", "admin", kAliceToken), "t");
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(store->Find("shorty"), nullptr);
  EXPECT_EQ(store->Find(std::string(TokenStore::kMaxTokenBytes + 1, 'x')), nullptr);
}

struct BadCase {
  std::string text;
  std::string message;
};

TEST(TokenStoreTest, MalformedFilesNameTheLine) {
  const std::string hash = Sha256Hex(kAliceToken);
  const BadCase cases[] = {
      {"alice submitter\n", "t:1: expected 3 fields"},
      {"\nalice submitter sha256:" + hash + " extra\n", "t:2: expected 3 fields"},
      {"al/ice submitter sha256:" + hash, "name \"al/ice\""},
      {"alice root sha256:" + hash, "unknown role \"root\""},
      {"alice submitter,, sha256:" + hash, "unknown role \"\""},
      {"alice submitter " + hash, "hash must be sha256:"},
      {"alice submitter sha256:" + hash.substr(1), "hash must be sha256:"},
      {"alice submitter sha256:" + std::string(64, 'G'), "hash must be sha256:"},
      {"alice submitter sha256:ABCDEF" + hash.substr(6), "hash must be sha256:"},
      {"alice submitter sha256:" + hash + "\nalice admin sha256:" + Sha256Hex(kFleetToken),
       "t:2: name \"alice\" appears twice"},
      {"alice submitter sha256:" + hash + "\nbob admin sha256:" + hash, "t:2: the same token hash"},
      {"# only comments\n\n", "no tokens"},
      {std::string(TokenStore::kMaxFileBytes + 1, '#'), "limit"},
  };
  for (const BadCase& c : cases) {
    absl::StatusOr<TokenStore> store = TokenStore::Parse(c.text, "t");
    ASSERT_FALSE(store.ok()) << c.text.substr(0, 80);
    EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(store.status().message(), HasSubstr(c.message)) << c.text.substr(0, 80);
  }
}

TEST(TokenStoreTest, LoadReadsFilesAndNamesMissingOnes) {
  const std::string path = ::testing::TempDir() + "/auth_tokens_test.tokens";
  std::ofstream(path) << Line("alice", "submitter", kAliceToken);
  absl::StatusOr<TokenStore> store = TokenStore::Load(path);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_NE(store->Find(kAliceToken), nullptr);
  std::remove(path.c_str());
  absl::StatusOr<TokenStore> missing = TokenStore::Load(path);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(missing.status().message(), HasSubstr(path));
}

TEST(RoleTest, ParsesKnownRolesOnly) {
  EXPECT_EQ(*ParseRole("worker"), Role::kWorker);
  EXPECT_EQ(ParseRole("Worker").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RoleSetToString(0), "");
}

}  // namespace
}  // namespace proctor::auth
