#include "eval/text_metrics.h"

#include "gtest/gtest.h"

namespace proctor::eval {
namespace {

TEST(Gsm8kTest, Gold) {
  EXPECT_EQ(*Gsm8kGold("Janet sells 9 eggs.\nShe makes $18.\n#### 18"), "18");
  EXPECT_EQ(*Gsm8kGold("x #### 1,234"), "1234");
  EXPECT_EQ(*Gsm8kGold("a #### 1 #### -7 "), "-7");  // the last marker
  EXPECT_FALSE(Gsm8kGold("no marker").has_value());
}

TEST(Gsm8kTest, CurrentRuleOnTrickyStrings) {
  auto pred = [](std::string_view s) { return Gsm8kPrediction(s, Gsm8kMode::kCurrent); };
  EXPECT_EQ(pred("9 * 2 = $18 every day.\nThe answer is 18"), "18");
  // A sentence-final period is not a number; the last digit-bearing run wins.
  EXPECT_EQ(pred("So she makes $18 every day."), "18");
  EXPECT_EQ(pred("The answer is 1,234."), "1234.");
  EXPECT_EQ(pred("The answer is -5."), "-5.");
  // Text after the next "Question:" is ignored.
  EXPECT_EQ(pred("The answer is 42\n\nQuestion: Tom has 7 apples"), "42");
  EXPECT_EQ(pred("It takes 2-3 days"), "-3");  // the regex -?[0-9.,]+ taken literally
  EXPECT_EQ(pred("No number here."), "");
  EXPECT_EQ(pred(""), "");
  EXPECT_EQ(pred("Version 1.2.3"), "1.2.3");

  EXPECT_TRUE(Gsm8kCorrect("1234.", "1234", Gsm8kMode::kCurrent));
  EXPECT_TRUE(Gsm8kCorrect("3.50", "3.5", Gsm8kMode::kCurrent));
  EXPECT_TRUE(Gsm8kCorrect("-5.", "-5", Gsm8kMode::kCurrent));
  EXPECT_FALSE(Gsm8kCorrect("5", "-5", Gsm8kMode::kCurrent));
  EXPECT_FALSE(Gsm8kCorrect("1.2.3", "1.2", Gsm8kMode::kCurrent));
  EXPECT_FALSE(Gsm8kCorrect("", "0", Gsm8kMode::kCurrent));
  EXPECT_FALSE(Gsm8kCorrect("18", "", Gsm8kMode::kCurrent));
}

TEST(Gsm8kTest, Legacy2023Rule) {
  auto pred = [](std::string_view s) { return Gsm8kPrediction(s, Gsm8kMode::kLegacy2023); };
  EXPECT_EQ(pred("The answer is 18.\n\nQuestion: 99 bottles"), "18");
  EXPECT_EQ(pred("It costs $1,234.50 total"), "123450");
  EXPECT_EQ(pred("-5 degrees"), "5");  // digits only: the sign is lost
  EXPECT_EQ(pred("First has 7.\n\nSecond has 9"), "7");
  EXPECT_EQ(pred("So 3 +\n4 = 7"), "7");  // split on spaces only
  EXPECT_EQ(pred("none"), "");
  EXPECT_TRUE(Gsm8kCorrect("18", "18", Gsm8kMode::kLegacy2023));
  EXPECT_FALSE(Gsm8kCorrect("5", "-5", Gsm8kMode::kLegacy2023));
  EXPECT_FALSE(Gsm8kCorrect("35", "3.5", Gsm8kMode::kLegacy2023));
  EXPECT_FALSE(Gsm8kCorrect("", "", Gsm8kMode::kLegacy2023));
}

TEST(OptionTest, FirstCapitalAndOptionLetter) {
  EXPECT_EQ(FirstCapital("the answer: B because C"), "B");
  EXPECT_EQ(FirstCapital("none"), "");
  EXPECT_EQ(OptionLetter("I think the answer is (C).", "ABCD"), "C");
  EXPECT_EQ(OptionLetter("The Answer is: d", "ABCD"), "");
  EXPECT_EQ(OptionLetter("Option B seems right", "ABCD"), "B");
  EXPECT_EQ(OptionLetter("Because A", "ABCD"), "A");
  EXPECT_EQ(OptionLetter("BAD", "ABCD"), "");
}

TEST(QaTest, NormalisationAndPostprocess) {
  EXPECT_EQ(NormalizeQaAnswer("The  Eiffel-Tower!"), "eiffeltower");
  EXPECT_EQ(NormalizeQaAnswer("A cat and an owl"), "cat and owl");
  EXPECT_EQ(QaPostprocess("  Paris.\nMore text"), "Paris");
  EXPECT_EQ(QaPostprocess("I think the answer is Paris."), "Paris");
  EXPECT_TRUE(ExactMatchAny("the Paris", {"London", "paris"}));
  EXPECT_FALSE(ExactMatchAny("Paris, France", {"Paris"}));
}

TEST(MathTest, BoxedAndNormalisation) {
  EXPECT_EQ(*LastBoxed("so \\boxed{\\frac{1}{2}} and \\boxed{3}"), "3");
  EXPECT_EQ(*LastBoxed("\\boxed{\\frac{a}{b}}"), "\\frac{a}{b}");
  EXPECT_EQ(*LastBoxed("\\fbox{7}"), "7");
  EXPECT_FALSE(LastBoxed("\\boxed{unbalanced").has_value());
  EXPECT_FALSE(LastBoxed("nothing").has_value());
  EXPECT_EQ(MathExtractAnswer("Thus the answer is $12$."), "12");
  EXPECT_EQ(MathNormalize("\\frac12"), "\\frac{1}{2}");
  EXPECT_EQ(MathNormalize("\\dfrac{1}{2}"), "\\frac{1}{2}");
  EXPECT_EQ(MathNormalize("0.5"), "\\frac{1}{2}");
  EXPECT_EQ(MathNormalize(".5"), "\\frac{1}{2}");
  EXPECT_EQ(MathNormalize("1/2"), "\\frac{1}{2}");
  EXPECT_EQ(MathNormalize("x = 5"), "5");
  EXPECT_EQ(MathNormalize("10^{\\circ}"), "10");
  EXPECT_EQ(MathNormalize("\\$5"), "5");
  EXPECT_EQ(MathNormalize("50\\%"), "50");
  EXPECT_EQ(MathNormalize("\\sqrt2"), "\\sqrt{2}");
  EXPECT_EQ(MathNormalize("\\left( 1, 2 \\right)"), "(1,2)");
  EXPECT_EQ(MathNormalize("5\\text{ cm}"), "5");
  EXPECT_TRUE(MathEquivalent("\\tfrac{1}{2}", "0.5"));
  EXPECT_FALSE(MathEquivalent("\\frac{1}{3}", "0.5"));
  EXPECT_EQ(MathNormalize(""), "");
}

TEST(TextTest, LengthsAndWords) {
  EXPECT_EQ(Utf8Length("abc"), 3);
  EXPECT_EQ(Utf8Length("错误"), 2);
  EXPECT_EQ(Utf8Length(""), 0);
  EXPECT_EQ(CountWords("  two words\n"), 2);
  EXPECT_EQ(CountWords(""), 0);
}

}  // namespace
}  // namespace proctor::eval
