# Per-method authorization and the bearer-token AuthMetadataProcessor of the
# coordinator. Included by coordinator/CMakeLists.txt (or, until it does, by
# tests/ops, which then links it into proctor_coordinator_server).
include(${CMAKE_CURRENT_LIST_DIR}/../common/auth.cmake)
if(NOT TARGET proctor_coordinator_auth)
  proctor_cc_library(NAME coordinator_auth
    SRCS ${CMAKE_CURRENT_LIST_DIR}/auth_policy.cc ${CMAKE_CURRENT_LIST_DIR}/auth_processor.cc
         ${CMAKE_CURRENT_LIST_DIR}/auth_paths.cc
    DEPS proctor::auth proctor::common gRPC::grpc++ absl::synchronization absl::time)

  proctor_cc_test(NAME coordinator_auth_test
    SRCS ${CMAKE_CURRENT_LIST_DIR}/auth_policy_test.cc ${CMAKE_CURRENT_LIST_DIR}/auth_paths_test.cc
    DEPS proctor::coordinator_auth
    LABELS ops)
endif()
