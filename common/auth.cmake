# Bearer tokens (common/auth_tokens.*) and TLS credentials (common/tls.*).
# Included by common/CMakeLists.txt (or, until it does, by tests/ops).
if(NOT TARGET proctor_auth)
  find_package(OpenSSL REQUIRED)
  proctor_cc_library(NAME auth
    SRCS ${CMAKE_CURRENT_LIST_DIR}/auth_tokens.cc ${CMAKE_CURRENT_LIST_DIR}/tls.cc
    DEPS proctor::common gRPC::grpc++ OpenSSL::Crypto absl::flat_hash_map absl::flat_hash_set
         absl::strings absl::status absl::statusor absl::time)

  proctor_cc_test(NAME auth_tokens_test
    SRCS ${CMAKE_CURRENT_LIST_DIR}/auth_tokens_test.cc
    DEPS proctor::auth
    LABELS ops)
endif()
