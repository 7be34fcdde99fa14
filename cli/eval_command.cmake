# `proctor eval`: the embedded evaluation links the coordinator server and the
# worker (and through it every engine the worker registry knows).
if(TARGET proctor_coordinator_server AND TARGET proctor_worker)
  proctor_cc_library(NAME cli_eval
    SRCS eval_command.cc
    DEPS proctor::cli_format proctor::coordinator_server proctor::worker proctor::common)
endif()
