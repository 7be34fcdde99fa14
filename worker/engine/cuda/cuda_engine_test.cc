// Runs everywhere: without a GPU the "cuda" engine must say so cleanly; with
// one it must load and reject bad model references like the CPU engine.
#include "worker/engine/cuda/cuda_engine.h"

#include "gtest/gtest.h"
#include "worker/engine/cuda/device_info.h"

namespace proctor::engine::cuda {
namespace {

TEST(CudaEngineTest, NoDeviceIsFailedPreconditionOtherwiseLoads) {
  const std::vector<CudaDevice> devices = ListCudaDevices();
  auto engine = CreateCudaEngine(CudaEngineOptions());
  if (devices.empty()) {
    ASSERT_FALSE(engine.ok());
    EXPECT_EQ(engine.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(engine.status().message().find("no CUDA device"), std::string::npos)
        << engine.status();
    EXPECT_EQ(FreeDeviceBytes({0}), std::vector<int64_t>{0});
    return;
  }
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ((*engine)->backend(), "cuda");
  for (const CudaDevice& d : devices) {
    EXPECT_GT(d.total_bytes, 0) << d.name;
    EXPECT_GE(d.compute_capability, 75) << d.name;
  }
  v1::ModelRef missing;
  missing.set_path("/nonexistent/model.gguf");
  EXPECT_EQ((*engine)->Load(missing).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(CudaEngineTest, ModelRootsConfineTheCudaEngineLikeTheCpuEngine) {
  CudaEngineOptions o;
  o.allowed_model_roots = {"/nonexistent-root"};
  auto engine = CreateCudaEngine(o);
  if (!engine.ok()) GTEST_SKIP() << "no CUDA device: " << engine.status();
  v1::ModelRef ref;
  ref.set_path("/etc/hostname");
  EXPECT_EQ((*engine)->Load(ref).status().code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace proctor::engine::cuda
