#include "common/clock.h"

namespace proctor {

Clock* RealClock::Get() {
  static Clock* const clock = new RealClock();
  return clock;
}

}  // namespace proctor
