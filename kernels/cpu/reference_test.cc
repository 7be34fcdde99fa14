#include "kernels/cpu/reference.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"

namespace proctor::kernels::ref {
namespace {

TEST(ReferenceTest, GemmMatchesHandComputed) {
  // A[2,3], B[2,3] (weights [out, in]); C = A B^T.
  const float a[] = {1, 2, 3, 4, 5, 6};
  const float b[] = {1, 0, -1, 2, 1, 0};
  float c[4];
  Gemm(a, b, c, 2, 2, 3);
  EXPECT_FLOAT_EQ(c[0], -2);
  EXPECT_FLOAT_EQ(c[1], 4);
  EXPECT_FLOAT_EQ(c[2], -2);
  EXPECT_FLOAT_EQ(c[3], 13);
}

TEST(ReferenceTest, RmsNormAndAddRmsNorm) {
  const float x[] = {3, 4};
  const float w[] = {1, 2};
  float out[2];
  RmsNorm(x, w, out, 1, 2, 0.0f);
  const float rms = std::sqrt(12.5f);
  EXPECT_FLOAT_EQ(out[0], 3 / rms);
  EXPECT_FLOAT_EQ(out[1], 8 / rms);
  float residual[] = {1, 1};
  const float add[] = {2, 3};
  AddRmsNorm(residual, add, w, out, 1, 2, 0.0f);
  EXPECT_FLOAT_EQ(residual[0], 3);
  EXPECT_FLOAT_EQ(residual[1], 4);
  EXPECT_FLOAT_EQ(out[1], 8 / rms);
}

TEST(ReferenceTest, RopeLayouts) {
  // head_dim 4, position 1, theta 10000: pair 0 angle 1 rad, pair 1 angle 0.01 rad.
  RopeParams p;
  const int32_t pos = 1;
  float x[] = {1, 0, 1, 0};
  Rope(x, &pos, 1, 1, 4, p);  // interleaved: pairs (0,1), (2,3)
  EXPECT_NEAR(x[0], std::cos(1.0f), 1e-6);
  EXPECT_NEAR(x[1], std::sin(1.0f), 1e-6);
  EXPECT_NEAR(x[2], std::cos(0.01f), 1e-6);
  EXPECT_NEAR(x[3], std::sin(0.01f), 1e-6);
  p.neox_layout = true;  // pairs (0,2), (1,3)
  float y[] = {1, 1, 0, 0};
  Rope(y, &pos, 1, 1, 4, p);
  EXPECT_NEAR(y[0], std::cos(1.0f), 1e-6);
  EXPECT_NEAR(y[2], std::sin(1.0f), 1e-6);
  EXPECT_NEAR(y[1], std::cos(0.01f), 1e-6);
  EXPECT_NEAR(y[3], std::sin(0.01f), 1e-6);
  // Linear scaling by 2 at position 2 equals no scaling at position 1.
  p.linear_factor = 2.0f;
  const int32_t pos2 = 2;
  float z[] = {1, 1, 0, 0};
  Rope(z, &pos2, 1, 1, 4, p);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(z[i], y[i], 1e-6);
}

TEST(ReferenceTest, Llama3FrequencyScaling) {
  RopeParams p;
  p.theta = 500000.0f;
  p.llama3_factor = 8.0f;
  // Highest frequency (i = 0): wavelength 2*pi < 8192/4, unchanged.
  EXPECT_FLOAT_EQ(RopeInvFreq(p, 0, 128), 1.0f);
  // Lowest frequency: wavelength far above 8192, divided by the factor.
  const float raw = std::pow(500000.0f, -126.0f / 128.0f);
  EXPECT_NEAR(RopeInvFreq(p, 63, 128), raw / 8.0f, 1e-12);
}

TEST(ReferenceTest, SwiGluAndGather) {
  const float g[] = {0.0f, 2.0f};
  const float u[] = {5.0f, 3.0f};
  float o[2];
  SwiGlu(g, u, o, 2);
  EXPECT_FLOAT_EQ(o[0], 0.0f);
  EXPECT_NEAR(o[1], 2.0f / (1.0f + std::exp(-2.0f)) * 3.0f, 1e-6);
  const float table[] = {0, 1, 10, 11, 20, 21};
  const int32_t ids[] = {2, 0};
  float out[4];
  EmbeddingGather(table, ids, 2, 2, out);
  EXPECT_EQ(out[0], 20);
  EXPECT_EQ(out[3], 1);
}

TEST(ReferenceTest, AttentionIsCausalAndGrouped) {
  // 2 query heads sharing 1 KV head, hd = 1, 2 keys.
  const float q[] = {1, 1, 1, 1};  // t=2, heads=2
  const float k[] = {0, 0};        // equal scores -> uniform weights
  const float v[] = {2, 4};
  float out[4];
  Attention(q, k, v, out, 2, 2, 2, 1, 1, 0, 1.0f);
  EXPECT_FLOAT_EQ(out[0], 2);  // query 0 sees key 0 only
  EXPECT_FLOAT_EQ(out[1], 2);
  EXPECT_FLOAT_EQ(out[2], 3);  // query 1 sees both
  EXPECT_FLOAT_EQ(out[3], 3);
  // Offset 1: query 0 already sees both keys.
  Attention(q, k, v, out, 1, 2, 2, 1, 1, 1, 1.0f);
  EXPECT_FLOAT_EQ(out[0], 3);
}

TEST(ReferenceTest, LogSoftmaxGatherAndArgmax) {
  const float logits[] = {1, 3, 3, 0};
  const int32_t target = 0;
  float lp;
  int32_t am;
  LogSoftmaxGather(logits, &target, &lp, &am, 1, 4);
  const double z = std::exp(1.0) + 2 * std::exp(3.0) + 1.0;
  EXPECT_NEAR(lp, 1.0 - std::log(z), 1e-6);
  EXPECT_EQ(am, 1);  // lowest index on ties
  EXPECT_EQ(Argmax(logits, 0), -1);
}

TEST(ReferenceTest, HalfAndBf16Conversions) {
  EXPECT_EQ(HalfToFloat(0x3c00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xc000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(HalfToFloat(0x7c00)));
  for (uint32_t h = 0; h < 0x7c00; h += 7) {
    EXPECT_EQ(FloatToHalf(HalfToFloat(static_cast<uint16_t>(h))), h);
  }
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie -> even
  EXPECT_EQ(Bf16ToFloat(0x3f80), 1.0f);
}

TEST(ReferenceTest, Q8_0AndQ4Blocks) {
  std::vector<uint8_t> blk(kBlockBytesQ8_0);
  const uint16_t half = FloatToHalf(0.5f);
  std::memcpy(blk.data(), &half, 2);
  for (int j = 0; j < 32; ++j) blk[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j - 16));
  float out[32];
  DequantizeRow_Q8_0(blk.data(), out, 32);
  for (int j = 0; j < 32; ++j) EXPECT_FLOAT_EQ(out[j], 0.5f * (j - 16));

  std::vector<uint8_t> q4(kBlockBytesQ4_0);
  std::memcpy(q4.data(), &half, 2);
  for (int j = 0; j < 16; ++j) q4[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  DequantizeRow_Q4_0(q4.data(), out, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_FLOAT_EQ(out[j], 0.5f * (j - 8));
    EXPECT_FLOAT_EQ(out[j + 16], 0.5f * (7 - j));
  }
  std::vector<uint8_t> q41(kBlockBytesQ4_1);
  const uint16_t m = FloatToHalf(-1.0f);
  std::memcpy(q41.data(), &half, 2);
  std::memcpy(q41.data() + 2, &m, 2);
  for (int j = 0; j < 16; ++j) q41[4 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  DequantizeRow_Q4_1(q41.data(), out, 32);
  EXPECT_FLOAT_EQ(out[3], 0.5f * 3 - 1.0f);
  EXPECT_FLOAT_EQ(out[16], 0.5f * 15 - 1.0f);
}

TEST(ReferenceTest, Q4_KBlock) {
  // d = 1, dmin = 0.5; sub-block j has scale j+1 and min j (6-bit packing).
  std::vector<uint8_t> blk(kBlockBytesQ4_K, 0);
  const uint16_t d = FloatToHalf(1.0f), dmin = FloatToHalf(0.5f);
  std::memcpy(blk.data(), &d, 2);
  std::memcpy(blk.data() + 2, &dmin, 2);
  uint8_t* sc = blk.data() + 4;
  for (int j = 0; j < 8; ++j) {
    const int s = j + 1 + (j >= 4 ? 40 : 0), mn = j + (j >= 4 ? 20 : 0);
    if (j < 4) {
      sc[j] = static_cast<uint8_t>(s);
      sc[j + 4] = static_cast<uint8_t>(mn);
    } else {
      sc[j + 4] = static_cast<uint8_t>((s & 0x0f) | ((mn & 0x0f) << 4));
      sc[j - 4] |= static_cast<uint8_t>((s >> 4) << 6);
      sc[j] |= static_cast<uint8_t>((mn >> 4) << 6);
    }
  }
  uint8_t* qs = blk.data() + 16;
  for (int i = 0; i < 128; ++i) qs[i] = static_cast<uint8_t>((i % 16) | ((15 - i % 16) << 4));
  std::vector<float> out(256);
  DequantizeRow_Q4_K(blk.data(), out.data(), 256);
  for (int j = 0; j < 8; ++j) {
    const float s = static_cast<float>(j + 1 + (j >= 4 ? 40 : 0));
    const float mn = 0.5f * static_cast<float>(j + (j >= 4 ? 20 : 0));
    for (int l = 0; l < 32; ++l) {
      const int qbyte = (j / 2) * 32 + l;
      const int q = (j % 2 == 0) ? (qbyte % 16) : (15 - qbyte % 16);
      EXPECT_FLOAT_EQ(out[j * 32 + l], s * q - mn) << "sub-block " << j << " l " << l;
    }
  }
}

TEST(ReferenceTest, Q6_KBlock) {
  // Every 6-bit quant = 33 (value 1 after the -32 offset), scale[i] = i - 8, d = 0.25.
  std::vector<uint8_t> blk(kBlockBytesQ6_K, 0);
  for (int i = 0; i < 128; ++i) blk[i] = 0x11;       // low nibbles 1
  for (int i = 0; i < 64; ++i) blk[128 + i] = 0xaa;  // high bits 2 -> 32 | 1 = 33
  for (int i = 0; i < 16; ++i) blk[192 + i] = static_cast<uint8_t>(static_cast<int8_t>(i - 8));
  const uint16_t d = FloatToHalf(0.25f);
  std::memcpy(blk.data() + 208, &d, 2);
  std::vector<float> out(256);
  DequantizeRow_Q6_K(blk.data(), out.data(), 256);
  for (int i = 0; i < 256; ++i)
    EXPECT_FLOAT_EQ(out[i], 0.25f * static_cast<float>(i / 16 - 8)) << i;
}

}  // namespace
}  // namespace proctor::kernels::ref
