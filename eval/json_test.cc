#include "eval/json.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::eval {
namespace {

using ::testing::HasSubstr;

TEST(JsonTest, ParsesValues) {
  absl::StatusOr<JsonValue> v = ParseJson(
      R"( {"s":"a\"b\\\n\u00e9\ud83d\ude00","n":-1.50e2,"t":true,"f":false,"z":null,"a":[1,[]],"o":{}} )");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->Find("s")->str(), "a\"b\\\n\u00e9\U0001F600");
  EXPECT_DOUBLE_EQ(v->Find("n")->number(), -150);
  EXPECT_EQ(v->Find("n")->raw_number(), "-1.50e2");
  EXPECT_TRUE(v->Find("t")->bool_value());
  EXPECT_TRUE(v->Find("z")->is_null());
  EXPECT_EQ(v->Find("a")->items().size(), 2u);
  EXPECT_TRUE(v->Find("o")->is_object());
  EXPECT_EQ(v->Find("missing"), nullptr);
}

TEST(JsonTest, RejectsMalformedWithOffset) {
  for (const char* bad :
       {"", "{", "{\"a\":}", "[1,]", "{\"a\" 1}", "\"unterminated", "01", "1.", "-", "tru", "[1] 2",
        "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "\"a\tb\"", "{1:2}"}) {
    absl::StatusOr<JsonValue> v = ParseJson(bad);
    EXPECT_FALSE(v.ok()) << bad;
    EXPECT_THAT(std::string(v.status().message()), HasSubstr("at offset")) << bad;
  }
}

TEST(JsonTest, DeepNestingIsRejectedNotACrash) {
  std::string deep(100000, '[');
  EXPECT_FALSE(ParseJson(deep).ok());
  std::string ok(100, '[');
  ok += std::string(100, ']');
  EXPECT_TRUE(ParseJson(ok).ok());
}

}  // namespace
}  // namespace proctor::eval
