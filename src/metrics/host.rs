//! The load generator's own machine, read once a second from Linux's `/proc`: how much CPU
//! peakgate used, how long its threads waited for a CPU, and how busy, stolen-from and
//! CPU-starved the host was. Each figure is `None` where the file cannot be read (another OS,
//! a container that hides it), and every one is a delta over the last second, not a running
//! average.
//!
//! Sources (proc(5), and the kernel's Documentation/accounting/psi.rst and
//! Documentation/scheduler/sched-stats.rst):
//! - `/proc/self/task/*/schedstat`: per thread, nanoseconds on a CPU and nanoseconds runnable
//!   but waiting on a run queue;
//! - `/proc/stat`, first line: the host's CPU time by state in clock ticks (user nice system
//!   idle iowait irq softirq steal ...);
//! - `/proc/pressure/cpu`: `some ... total=` microseconds during which at least one runnable
//!   task waited for a CPU;
//! - `/proc/loadavg`: the one-minute load average.

use std::time::Instant;

/// One second of the generator's health, as stored in the timeline (`generator`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HostSample {
    /// CPU cores peakgate's threads used (1.0 = one whole core).
    pub cpu_cores: Option<f64>,
    /// Seconds per second peakgate's threads were runnable but waiting for a CPU, summed over
    /// its threads (0.5 = its threads lost half a second of running in this second).
    pub runqueue_wait: Option<f64>,
    /// Share of the host's CPU time that was busy (not idle or iowait), 0..=1.
    pub host_busy: Option<f64>,
    /// Share of the host's CPU time stolen by the hypervisor, 0..=1.
    pub host_steal: Option<f64>,
    /// Share of the second during which some task on the host waited for a CPU, 0..=1.
    pub cpu_pressure: Option<f64>,
    /// One-minute load average.
    pub load1: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
struct Counters {
    at: Instant,
    /// peakgate's threads: ns on a CPU, ns waiting to run.
    threads: Option<(u64, u64)>,
    /// Host CPU ticks: total, busy, steal.
    host: Option<(u64, u64, u64)>,
    /// µs some task waited for a CPU.
    pressure: Option<u64>,
}

/// Reads the counters and turns two readings into a [`HostSample`].
#[derive(Debug)]
pub struct HostSampler {
    last: Counters,
}

impl Default for HostSampler {
    fn default() -> Self {
        HostSampler::new()
    }
}

impl HostSampler {
    pub fn new() -> HostSampler {
        HostSampler { last: read() }
    }

    /// The figures since the previous call (or since [`HostSampler::new`]).
    pub fn sample(&mut self) -> HostSample {
        let now = read();
        let wall = now.at.duration_since(self.last.at).as_secs_f64();
        let per_s = |ns: u64| ns as f64 / 1e9 / wall.max(1e-3);
        let mut s = HostSample {
            load1: load1(),
            ..HostSample::default()
        };
        if let (Some((cpu, wait)), Some((cpu0, wait0))) = (now.threads, self.last.threads) {
            // Threads that ended take their counts with them: never below zero.
            s.cpu_cores = Some(per_s(cpu.saturating_sub(cpu0)));
            s.runqueue_wait = Some(per_s(wait.saturating_sub(wait0)));
        }
        if let (Some((t, busy, steal)), Some((t0, busy0, steal0))) = (now.host, self.last.host) {
            let total = t.saturating_sub(t0);
            if total > 0 {
                s.host_busy = Some(busy.saturating_sub(busy0) as f64 / total as f64);
                s.host_steal = Some(steal.saturating_sub(steal0) as f64 / total as f64);
            }
        }
        if let (Some(p), Some(p0)) = (now.pressure, self.last.pressure) {
            s.cpu_pressure = Some((p.saturating_sub(p0) as f64 / 1e6 / wall.max(1e-3)).min(1.0));
        }
        self.last = now;
        s
    }
}

fn read() -> Counters {
    Counters {
        at: Instant::now(),
        threads: threads(),
        host: host_ticks(),
        pressure: pressure(),
    }
}

/// Sum over peakgate's threads of (ns on CPU, ns waiting on a run queue).
fn threads() -> Option<(u64, u64)> {
    let mut sum = (0u64, 0u64);
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
        if let (Some(Some(cpu)), Some(Some(wait))) = (fields.next(), fields.next()) {
            sum.0 += cpu;
            sum.1 += wait;
        }
    }
    Some(sum)
}

/// The host's CPU ticks from `/proc/stat`: (total, busy, steal).
fn host_ticks() -> Option<(u64, u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    parse_stat(text.lines().next()?)
}

fn parse_stat(line: &str) -> Option<(u64, u64, u64)> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    // user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is
    // already counted in user and nice.
    let v: Vec<u64> = fields
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    if v.len() < 8 {
        return None;
    }
    let total: u64 = v.iter().sum();
    let idle = v[3] + v[4];
    Some((total, total - idle, v[7]))
}

/// `some ... total=` of `/proc/pressure/cpu`, µs.
fn pressure() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/pressure/cpu").ok()?;
    parse_pressure(&text)
}

fn parse_pressure(text: &str) -> Option<u64> {
    let some = text.lines().find(|l| l.starts_with("some "))?;
    some.split_whitespace()
        .find_map(|f| f.strip_prefix("total="))?
        .parse()
        .ok()
}

fn load1() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_and_pressure_lines_parse() {
        let (total, busy, steal) =
            parse_stat("cpu  96879 151771 25222 1038770 771 0 855 331 0 0").unwrap();
        assert_eq!(total, 96879 + 151771 + 25222 + 1038770 + 771 + 855 + 331);
        assert_eq!(busy, total - 1038770 - 771);
        assert_eq!(steal, 331);
        assert_eq!(parse_stat("cpu0 1 2 3 4 5 6 7 8"), None);
        let psi = "some avg10=3.24 avg60=9.26 avg300=38.09 total=617404680\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(parse_pressure(psi), Some(617404680));
    }

    #[test]
    fn a_busy_thread_shows_as_cpu_used() {
        let mut s = HostSampler::new();
        let until = Instant::now() + std::time::Duration::from_millis(300);
        let mut x = 0u64;
        while Instant::now() < until {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let h = s.sample();
        // Elsewhere than Linux the figures are None, never made up.
        if cfg!(target_os = "linux") {
            // Some CPU, not a rate: on a busy machine the loop gets what the scheduler gives.
            assert!(h.cpu_cores.expect("schedstat is readable") > 0.0, "{h:?}");
            assert!(
                (0.0..=1.0).contains(&h.host_busy.expect("/proc/stat")),
                "{h:?}"
            );
        }
    }
}
