//! Reaping a leader of ours: the order of the system calls is the guarantee. The rest of its
//! process group is SIGKILLed while the leader is still a zombie, because a zombie keeps its
//! pid — and so its process-group id — reserved: reaped first, the id could already name an
//! unrelated new group by the time the kill is sent (pid reuse).

use nix::sys::signal::Signal;
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid, waitpid};
use nix::unistd::Pid;

use crate::supervisor::ExitKind;

/// The system calls reaping needs, replaceable in tests.
pub trait WaitOs {
    /// How `pid` ended, if it has, without reaping it (`waitid(WNOWAIT)`).
    fn peek(&mut self, pid: Pid) -> Option<ExitKind>;
    fn kill_group(&mut self, pgid: Pid);
    fn reap(&mut self, pid: Pid);
}

/// Reaps `pid` if it has ended, SIGKILLing what is left of its group first; how it ended.
pub fn reap_leader(os: &mut impl WaitOs, pid: Pid) -> Option<ExitKind> {
    let kind = os.peek(pid)?;
    os.kill_group(pid);
    os.reap(pid);
    Some(kind)
}

/// True when `pid` has ended (a zombie now, or already reaped elsewhere).
pub fn has_ended(pid: Pid) -> bool {
    System.peek(pid).is_some()
}

/// The real system calls.
pub struct System;

impl WaitOs for System {
    fn peek(&mut self, pid: Pid) -> Option<ExitKind> {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        match waitid(Id::Pid(pid), flags) {
            Ok(WaitStatus::Exited(_, code)) => Some(ExitKind::Code(code)),
            Ok(WaitStatus::Signaled(_, sig, _)) => Some(ExitKind::Signal(sig as i32)),
            Ok(_) => None,
            // ECHILD: someone else reaped it; it is dead all the same, how is unknown.
            Err(_) => Some(ExitKind::Unknown),
        }
    }

    fn kill_group(&mut self, pgid: Pid) {
        if let Err(e) = super::signal_group(pgid, Signal::SIGKILL) {
            log::warn!("cannot SIGKILL the rest of process group {pgid}: {e}");
        }
    }

    fn reap(&mut self, pid: Pid) {
        let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorder {
        dead: bool,
        calls: Vec<&'static str>,
    }

    impl WaitOs for Recorder {
        fn peek(&mut self, _: Pid) -> Option<ExitKind> {
            self.calls.push("peek");
            self.dead.then_some(ExitKind::Code(0))
        }
        fn kill_group(&mut self, _: Pid) {
            self.calls.push("kill_group");
        }
        fn reap(&mut self, _: Pid) {
            self.calls.push("reap");
        }
    }

    /// Regression: the group SIGKILL after a leader's death was sent after the reap, when the
    /// group id may already belong to someone else.
    #[test]
    fn the_group_is_killed_while_the_leader_is_still_a_zombie() {
        let mut os = Recorder {
            dead: true,
            ..Recorder::default()
        };
        assert_eq!(
            reap_leader(&mut os, Pid::from_raw(42)),
            Some(ExitKind::Code(0))
        );
        assert_eq!(os.calls, ["peek", "kill_group", "reap"]);
    }

    #[test]
    fn a_live_leader_is_neither_killed_nor_reaped() {
        let mut os = Recorder::default();
        assert_eq!(reap_leader(&mut os, Pid::from_raw(42)), None);
        assert_eq!(os.calls, ["peek"]);
    }
}
