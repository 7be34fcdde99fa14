#include "worker/engine_registry.h"

#include <algorithm>

#include "gtest/gtest.h"

namespace proctor::worker {
namespace {

bool Registered(const std::string& name) {
  const std::vector<std::string> names = RegisteredBackends();
  return std::find(names.begin(), names.end(), name) != names.end();
}

TEST(EngineRegistryTest, CpuAndScriptedAlwaysCudaWhereBuilt) {
  EXPECT_TRUE(Registered("cpu"));
  EXPECT_TRUE(Registered("scripted"));
#ifdef PROCTOR_WITH_CUDA_BACKEND
  EXPECT_TRUE(Registered("cuda"));
#else
  EXPECT_FALSE(Registered("cuda"));
#endif
  auto unknown = CreateEngine("tpu", EngineOptions());
  ASSERT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("known: cpu"), std::string::npos) << unknown.status();
}

TEST(EngineRegistryTest, CudaWithoutDeviceIsFailedPrecondition) {
  if (!Registered("cuda")) GTEST_SKIP() << "this build has no cuda backend";
  const BackendDevices devices = DevicesForBackend("cuda");
  auto engine = CreateEngine("cuda", EngineOptions());
  if (devices.gpu_count == 0) {
    ASSERT_EQ(engine.status().code(), absl::StatusCode::kFailedPrecondition) << engine.status();
    EXPECT_NE(engine.status().message().find("no CUDA device"), std::string::npos);
    EXPECT_EQ(devices.gpu_memory_bytes, 0);
  } else {
    ASSERT_TRUE(engine.ok()) << engine.status();
    EXPECT_EQ((*engine)->backend(), "cuda");
    EXPECT_GT(devices.gpu_memory_bytes, 0);
  }
}

TEST(EngineRegistryTest, CpuBackendsAdvertiseNoGpu) {
  EXPECT_EQ(DevicesForBackend("cpu").gpu_count, 0);
  EXPECT_EQ(DevicesForBackend("scripted").gpu_count, 0);
}

}  // namespace
}  // namespace proctor::worker
