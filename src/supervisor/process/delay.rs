//! The delay before an autorestart after RUNNING (interface.md section 10): `restart_delay`
//! doubling up to `restart_delay_max`, reset by a run of `restart_delay_reset`; and the
//! never-spin rule, which applies whatever the settings.

use std::time::Duration;

use crate::config::Backoff;

/// A run shorter than this is followed by a delay even with `restart_delay = 0`.
pub const SHORT_RUN: Duration = Duration::from_secs(1);
/// The first such delay; it doubles like `restart_delay`.
pub const SPIN_DELAY: Duration = Duration::from_millis(100);

/// The delay before restarting after a run of `run`, given the delay used last in the
/// current series (`None`: no series). Returns the delay and the series' new last delay.
pub fn next(cfg: &Backoff, last: Option<Duration>, run: Duration) -> (Duration, Option<Duration>) {
    let last = if run >= cfg.reset { None } else { last };
    let (base, cap) = if !cfg.delay.is_zero() {
        (cfg.delay, cfg.max)
    } else if run < SHORT_RUN {
        // Never spin: even a max below the first step keeps that step.
        (SPIN_DELAY, cfg.max.max(SPIN_DELAY))
    } else {
        // Supervisor's immediate restart; the series (if any) carries on.
        return (Duration::ZERO, last);
    };
    let delay = match last {
        Some(prev) => prev.saturating_mul(2).max(base),
        None => base,
    }
    .min(cap);
    (delay, Some(delay))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(delay: f64, max: f64, reset: f64) -> Backoff {
        Backoff {
            delay: Duration::from_secs_f64(delay),
            max: Duration::from_secs_f64(max),
            reset: Duration::from_secs_f64(reset),
            fatal_retry: Duration::ZERO,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn default_restarts_a_long_run_at_once() {
        assert_eq!(
            next(&Backoff::default(), None, ms(5_000)),
            (Duration::ZERO, None)
        );
    }

    #[test]
    fn short_runs_wait_from_a_tenth_of_a_second_doubling() {
        let cfg = backoff(0.0, 1.0, 60.0);
        let mut last = None;
        let mut seen = Vec::new();
        for _ in 0..6 {
            let (d, l) = next(&cfg, last, ms(10));
            seen.push(d);
            last = l;
        }
        assert_eq!(
            seen,
            [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
    }

    #[test]
    fn a_max_below_the_first_step_still_never_spins() {
        let (d, _) = next(&backoff(0.0, 0.0, 60.0), None, ms(1));
        assert_eq!(d, ms(100));
    }

    #[test]
    fn restart_delay_doubles_up_to_the_max() {
        let cfg = backoff(1.0, 3.0, 60.0);
        let (d1, l) = next(&cfg, None, ms(5_000));
        let (d2, l) = next(&cfg, l, ms(5_000));
        let (d3, _) = next(&cfg, l, ms(5_000));
        assert_eq!((d1, d2, d3), (ms(1000), ms(2000), ms(3000)));
    }

    #[test]
    fn a_long_enough_run_resets_the_series() {
        let cfg = backoff(1.0, 300.0, 60.0);
        let (_, l) = next(&cfg, Some(ms(64_000)), ms(1_000));
        assert_eq!(l, Some(ms(128_000)), "a short run doubles");
        let (d, _) = next(&cfg, Some(ms(64_000)), ms(60_000));
        assert_eq!(d, ms(1000), "a run of restart_delay_reset starts over");
    }
}
