// Status propagation macros. Debian's Abseil (20220623) predates
// ABSL_RETURN_IF_ERROR / ASSIGN_OR_RETURN, so Proctor keeps its own pair.
#ifndef PROCTOR_COMMON_STATUS_MACROS_H_
#define PROCTOR_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define PROCTOR_STATUS_CONCAT_INNER_(a, b) a##b
#define PROCTOR_STATUS_CONCAT_(a, b) PROCTOR_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status); returns it from the enclosing function
// if it is not OK.
#define PROCTOR_RETURN_IF_ERROR(expr) \
  PROCTOR_RETURN_IF_ERROR_IMPL_(PROCTOR_STATUS_CONCAT_(proctor_status_, __COUNTER__), expr)

#define PROCTOR_RETURN_IF_ERROR_IMPL_(status, expr) \
  do {                                              \
    ::absl::Status status = (expr);                 \
    if (!status.ok()) return status;                \
  } while (0)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status,
// otherwise moves the value into `lhs` (which may be a declaration).
#define PROCTOR_ASSIGN_OR_RETURN(lhs, rexpr) \
  PROCTOR_ASSIGN_OR_RETURN_IMPL_(            \
      PROCTOR_STATUS_CONCAT_(proctor_statusor_, __COUNTER__), lhs, rexpr)

#define PROCTOR_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                   \
  if (!statusor.ok()) return std::move(statusor).status();   \
  lhs = std::move(statusor).value()

#endif  // PROCTOR_COMMON_STATUS_MACROS_H_
