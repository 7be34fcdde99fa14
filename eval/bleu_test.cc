#include "eval/bleu.h"

#include "gtest/gtest.h"

namespace proctor::eval {
namespace {

// Reference values: sacreBLEU 2.6.0 in a venv (build-eval/venv), e.g.
//   sacrebleu.corpus_bleu(hyps, [refs], smooth_method='none')
//   sacrebleu.tokenizers.tokenizer_13a.Tokenizer13a()(line)
// The script that printed them is quoted in docs/design/eval.md.

TEST(Tokenize13aTest, MatchesSacreBleu) {
  EXPECT_EQ(Tokenize13a("The cat sat on the mat."), "The cat sat on the mat .");
  EXPECT_EQ(Tokenize13a("It is 3.5 km-long, isn't it?"), "It is 3.5 km-long , isn't it ?");
  EXPECT_EQ(Tokenize13a("Hello, world! &quot;quoted&quot; text"),
            "Hello , world ! \" quoted \" text");
  EXPECT_EQ(Tokenize13a("A 1,000-person crowd gathered at 9-10 a.m."),
            "A 1,000 - person crowd gathered at 9 - 10 a . m .");
  EXPECT_EQ(
      Tokenize13a("\u201eWir haben jetzt 4 Monate alte M\u00e4use\u201c, f\u00fcgte er hinzu."),
      "\u201eWir haben jetzt 4 Monate alte M\u00e4use\u201c , f\u00fcgte er hinzu .");
  EXPECT_EQ(Tokenize13a("x\u00a0y\u3000z"), "x y z");
  EXPECT_EQ(Tokenize13a("a.,b"), "a . , b");
  EXPECT_EQ(Tokenize13a("$5.00, (really)-ok"), "$ 5.00 , ( really ) -ok");
  EXPECT_EQ(Tokenize13a("Dr. Ehud Ur, Professor."), "Dr . Ehud Ur , Professor .");
  EXPECT_EQ(Tokenize13a("e-mail 3-4"), "e-mail 3 - 4");
  EXPECT_EQ(Tokenize13a(""), "");
}

TEST(CorpusBleuTest, MatchesSacreBleu) {
  std::vector<std::string> hyps = {"The cat sat on the mat.", "It is 3.5 km-long, isn't it?",
                                   "Hello, world! &quot;quoted&quot; text",
                                   "A 1,000-person crowd gathered at 9-10 a.m."};
  std::vector<std::string> refs = {"The cat is sitting on the mat.", "It's 3.5 km long, isn't it?",
                                   "Hello world! \"quoted\" text.",
                                   "A crowd of 1,000 people gathered at 9-10 a.m."};
  BleuStats total;
  for (size_t i = 0; i < hyps.size(); ++i) total += SegmentBleuStats(hyps[i], refs[i]);
  EXPECT_EQ(total.hyp_len, 37);
  EXPECT_EQ(total.ref_len, 38);
  EXPECT_EQ(total.correct, (std::array<int64_t, 4>{30, 20, 15, 11}));
  EXPECT_EQ(total.total, (std::array<int64_t, 4>{37, 33, 29, 25}));
  EXPECT_NEAR(CorpusBleu(hyps, refs, BleuSmoothing::kNone), 56.28694688634966, 1e-9);
  EXPECT_NEAR(CorpusBleu(hyps, refs, BleuSmoothing::kExponential), 56.28694688634966, 1e-9);

  // Brevity penalty (hyp 17 tokens, ref 30).
  EXPECT_NEAR(CorpusBleu({"Wir haben jetzt 4 Monate alte M\u00e4use, die Diabetes hatten.",
                          "Er zeigte sich skeptisch."},
                         {"\u201eWir haben jetzt 4 Monate alte M\u00e4use, die Diabetes hatten "
                          "und jetzt keinen mehr haben\u201c, f\u00fcgte er hinzu.",
                          "Wie einige andere Experten zeigte er sich skeptisch."},
                         BleuSmoothing::kNone),
              34.011792742729114, 1e-9);
}

TEST(CorpusBleuTest, ZeroPrecisionSmoothing) {
  std::vector<std::string> h = {"the cat sat", "x y z w v"};
  std::vector<std::string> r = {"the cat ran", "x y q w v"};
  EXPECT_NEAR(CorpusBleu(h, r, BleuSmoothing::kExponential), 27.667047992508042, 1e-9);
  EXPECT_EQ(CorpusBleu(h, r, BleuSmoothing::kNone), 0.0);
  // No 4-grams at all: 0 with either smoothing (sacreBLEU gives 0.0).
  EXPECT_EQ(CorpusBleu({"the the the", "a b"}, {"the cat", "a b c d"}, BleuSmoothing::kExponential),
            0.0);
  EXPECT_EQ(CorpusBleu({}, {}, BleuSmoothing::kNone), 0.0);
}

TEST(CorpusBleuTest, IsCorpusLevelNotMeanOfSentences) {
  std::vector<std::string> h = {"the cat sat on the mat", "a b c d e f"};
  std::vector<std::string> r = {"the cat sat on the mat", "a b x d e g"};
  double corpus = CorpusBleu(h, r, BleuSmoothing::kNone);
  double mean = (CorpusBleu({h[0]}, {r[0]}, BleuSmoothing::kNone) +
                 CorpusBleu({h[1]}, {r[1]}, BleuSmoothing::kNone)) /
                2;
  EXPECT_GT(corpus, 0);
  EXPECT_NE(corpus, mean);
}

TEST(CorpusBleuTest, BootstrapIsSeededAndSane) {
  std::vector<BleuStats> segs;
  for (int i = 0; i < 30; ++i) {
    segs.push_back(SegmentBleuStats(i % 3 == 0 ? "the cat sat on the mat" : "a cat sat on a mat",
                                    "the cat sat on the mat"));
  }
  MeanStderr a = CorpusBleuBootstrap(segs, BleuSmoothing::kNone, 100, 42);
  MeanStderr b = CorpusBleuBootstrap(segs, BleuSmoothing::kNone, 100, 42);
  EXPECT_EQ(a.stderr_, b.stderr_);
  EXPECT_TRUE(a.has_stderr);
  EXPECT_GT(a.stderr_, 0);
  EXPECT_LT(a.stderr_, 20);
  BleuStats total;
  for (const BleuStats& s : segs) total += s;
  EXPECT_DOUBLE_EQ(a.mean, BleuFromStats(total, BleuSmoothing::kNone));
}

}  // namespace
}  // namespace proctor::eval
