use std::time::Instant;
fn main() {
    let dir = std::env::temp_dir().join("spawn_time.toml");
    std::fs::write(&dir, "[programs.s]\ncmd = \"sleep 1000\"\n").unwrap();
    let cfg = taskmaster::config::load(&dir).unwrap();
    let prog = cfg.programs.values().next().unwrap().clone();
    let mut pids = vec![];
    let t0 = Instant::now();
    for _ in 0..300 {
        let s =
            taskmaster::spawn::spawn(&prog, taskmaster::spawn::TtySize::DEFAULT, 0, None).unwrap();
        pids.push(s.pid);
    }
    let el = t0.elapsed();
    println!(
        "300 spawns: {:?} ({:.3} ms each)",
        el,
        el.as_secs_f64() * 1000.0 / 300.0
    );
    for p in pids.drain(..) {
        let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(p, None);
    }
}
