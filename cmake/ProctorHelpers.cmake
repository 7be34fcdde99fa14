# Per-directory helpers in the style of absl_cc_library: one small block per
# library, test or binary. Every Proctor target gets the same include roots
# (the source tree and the build tree, for generated protobuf headers) and the
# same warning flags.

set(PROCTOR_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wno-unused-parameter -Wno-missing-field-initializers)
if(PROCTOR_WERROR)
  list(APPEND PROCTOR_WARNINGS -Werror)
endif()

function(_proctor_common target)
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}>)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:${PROCTOR_WARNINGS}>)
endfunction()

# proctor_cc_library(NAME n SRCS ... DEPS ... [PUBLIC_DEPS ...])
# Creates target proctor_<n> and alias proctor::<n>. Header-only when SRCS is empty.
function(proctor_cc_library)
  cmake_parse_arguments(P "" "NAME" "SRCS;DEPS" ${ARGN})
  set(t proctor_${P_NAME})
  if(P_SRCS)
    add_library(${t} STATIC ${P_SRCS})
    _proctor_common(${t})
    target_link_libraries(${t} PUBLIC ${P_DEPS})
  else()
    add_library(${t} INTERFACE)
    target_include_directories(${t} INTERFACE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
    target_link_libraries(${t} INTERFACE ${P_DEPS})
  endif()
  add_library(proctor::${P_NAME} ALIAS ${t})
endfunction()

# proctor_cc_test(NAME n SRCS ... DEPS ... [LABELS ...] [TIMEOUT s] [ENV k=v ...])
# A GoogleTest binary, registered with CTest as one test (fast to discover).
function(proctor_cc_test)
  cmake_parse_arguments(P "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS;ENV" ${ARGN})
  set(t ${P_NAME})
  add_executable(${t} ${P_SRCS})
  _proctor_common(${t})
  target_link_libraries(${t} PRIVATE ${P_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  add_test(NAME ${t} COMMAND ${t})
  if(NOT P_TIMEOUT)
    set(P_TIMEOUT 300)
  endif()
  set_tests_properties(${t} PROPERTIES TIMEOUT ${P_TIMEOUT}
    ENVIRONMENT "PROCTOR_SHARED_DATA=${PROCTOR_SHARED_DATA};PROCTOR_BUILD_DIR=${PROJECT_BINARY_DIR};PROCTOR_SOURCE_DIR=${PROJECT_SOURCE_DIR};${P_ENV}")
  if(P_LABELS)
    set_tests_properties(${t} PROPERTIES LABELS "${P_LABELS}")
  endif()
endfunction()

# proctor_cc_binary(NAME n SRCS ... DEPS ...)
function(proctor_cc_binary)
  cmake_parse_arguments(P "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${P_NAME} ${P_SRCS})
  _proctor_common(${P_NAME})
  target_link_libraries(${P_NAME} PRIVATE ${P_DEPS})
  set_target_properties(${P_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
endfunction()

# Real third-party data (models, tokenizer suites, datasets) used by tests.
# See ../shared/data/SOURCES.md. Tests that need it skip visibly when absent.
set(PROCTOR_SHARED_DATA "${PROJECT_SOURCE_DIR}/../shared/data" CACHE PATH
    "Directory holding the shared third-party data (models, tokenizers, datasets)")
