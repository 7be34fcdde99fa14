// Minimal structured logging to stderr (Debian's Abseil has no absl/log).
//   PROCTOR_LOG(INFO) << "leased job " << id;
// Lines look like: "I1127 07:10:11.123456 coordinator.cc:42] leased job 7".
// Thread-safe: each statement is written with one write(2).
#ifndef PROCTOR_COMMON_LOGGING_H_
#define PROCTOR_COMMON_LOGGING_H_

#include <sstream>

namespace proctor {

enum class LogSeverity { kInfo = 0, kWarning = 1, kError = 2, kFatal = 3 };

// Messages below this severity are dropped. Default kInfo; PROCTOR_LOG_LEVEL
// (0-3) in the environment overrides it at start-up.
void SetMinLogSeverity(LogSeverity severity);
LogSeverity MinLogSeverity();

class LogMessage {
 public:
  LogMessage(LogSeverity severity, const char* file, int line);
  ~LogMessage();  // writes the line; aborts after a kFatal message
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  LogSeverity severity_;
  std::ostringstream stream_;
};

}  // namespace proctor

#define PROCTOR_LOG_SEVERITY_INFO ::proctor::LogSeverity::kInfo
#define PROCTOR_LOG_SEVERITY_WARNING ::proctor::LogSeverity::kWarning
#define PROCTOR_LOG_SEVERITY_ERROR ::proctor::LogSeverity::kError
#define PROCTOR_LOG_SEVERITY_FATAL ::proctor::LogSeverity::kFatal

#define PROCTOR_LOG(severity)                                              \
  if (PROCTOR_LOG_SEVERITY_##severity < ::proctor::MinLogSeverity()) {     \
  } else                                                                   \
    ::proctor::LogMessage(PROCTOR_LOG_SEVERITY_##severity, __FILE__, __LINE__) \
        .stream()

#endif  // PROCTOR_COMMON_LOGGING_H_
