# `proctor model ...` (owned by the engine; included from cli/CMakeLists.txt).
proctor_cc_library(NAME cli_model
  SRCS ${CMAKE_CURRENT_LIST_DIR}/model_command.cc
  DEPS proctor::engine proctor::kernels_cpu absl::strings absl::str_format)

proctor_cc_test(NAME cli_model_command_test
  SRCS ${CMAKE_CURRENT_LIST_DIR}/model_command_test.cc
  DEPS proctor::cli_model
  TIMEOUT 60)
