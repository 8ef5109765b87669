//! The time a supervisor turn runs at. The loop reads both clocks once per turn and passes
//! them down, so the state machine never reads a clock itself and tests choose the time.

use std::time::{Duration, Instant, SystemTime};

/// One reading of both clocks: `mono` for deadlines, `wall` for what users are shown
/// (when a state was entered, when a process started or ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub mono: Instant,
    pub wall: SystemTime,
}

impl Now {
    pub fn current() -> Now {
        Now {
            mono: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    /// The same reading moved `d` later on both clocks (tests walk time forward with it).
    pub fn after(self, d: Duration) -> Now {
        Now {
            mono: self.mono + d,
            wall: self.wall + d,
        }
    }
}
