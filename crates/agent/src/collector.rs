//! Reads the host's real figures with `sysinfo`: CPU, memory, disks, load,
//! network rates, processes and system facts.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use muster_agent::round2;
use muster_domain::protocol::{HostMetrics, MAX_PROCESSES, ProcessSample, SystemInfo};
use sysinfo::{
    Disks, Networks, ProcessRefreshKind, ProcessesToUpdate, RefreshKind, System, ThreadKind, Users,
};

/// Shortest window over which CPU usage means anything (sysinfo's own minimum).
pub const MIN_WINDOW: Duration = sysinfo::MINIMUM_CPU_UPDATE_INTERVAL;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// What one reading produces.
pub struct HostSample {
    pub metrics: HostMetrics,
    pub system: SystemInfo,
    pub processes: Vec<ProcessSample>,
}

/// Keeps the previous reading so rates (CPU, network) cover the time between two.
pub struct Collector {
    system: System,
    disks: Disks,
    networks: Networks,
    users: Users,
    last: Instant,
}

fn process_refresh() -> ProcessRefreshKind {
    ProcessRefreshKind::nothing()
        .with_cpu()
        .with_memory()
        .with_user(sysinfo::UpdateKind::OnlyIfNotSet)
}

impl Collector {
    /// Takes a first reading; call [`Collector::sample`] at least [`MIN_WINDOW`] later.
    ///
    /// # Errors
    /// When the platform gives sysinfo nothing to read.
    pub fn new() -> Result<Self, sysinfo::Error> {
        let mut system = System::new_with_specifics(RefreshKind::nothing())?;
        system.refresh_processes_specifics(ProcessesToUpdate::All, true, process_refresh());
        Ok(Self {
            system,
            disks: Disks::new_with_refreshed_list()?,
            networks: Networks::new_with_refreshed_list()?,
            users: Users::new_with_refreshed_list()?,
            last: Instant::now(),
        })
    }

    pub fn sample(&mut self) -> HostSample {
        let elapsed = self.last.elapsed();
        self.last = Instant::now();
        // The process refresh also refreshes the CPU times it needs; refreshing
        // them separately first would leave the processes a zero-length window.
        self.system
            .refresh_processes_specifics(ProcessesToUpdate::All, true, process_refresh());
        self.system.refresh_memory();
        self.disks.refresh(true);
        self.networks.refresh(true);

        let (disk_used, disk_total) =
            disk_totals(self.disks.iter().filter(|d| !d.is_removable()).map(|d| {
                (
                    d.name().to_string_lossy().into_owned(),
                    d.total_space(),
                    d.available_space(),
                )
            }));
        let (rx, tx) = self.networks.values().fold((0u64, 0u64), |(rx, tx), n| {
            (
                rx.saturating_add(n.received()),
                tx.saturating_add(n.transmitted()),
            )
        });
        let user_processes: Vec<_> = self
            .system
            .processes()
            .values()
            .filter(|p| p.thread_kind() != Some(ThreadKind::Kernel))
            .collect();
        let processes = top_processes(user_processes.iter().map(|p| {
            ProcessSample {
                pid: p.pid().as_u32(),
                name: p.name().to_string_lossy().into_owned(),
                user: p
                    .user_id()
                    .and_then(|uid| self.users.get_user_by_id(uid))
                    .map(|u| u.name().to_owned())
                    .unwrap_or_default(),
                cpu_percent: round2(f64::from(p.cpu_usage())),
                memory_bytes: p.memory(),
            }
        }));

        #[allow(clippy::cast_precision_loss)]
        let metrics = HostMetrics {
            cpu_usage_percent: round2(f64::from(self.system.global_cpu_usage())),
            memory_usage_percent: round2(percent(
                self.system.used_memory(),
                self.system.total_memory(),
            )),
            disk_usage_percent: round2(percent(disk_used, disk_total)),
            load_average: System::load_average().map_or(0.0, |l| round2(l.one)),
            network_rx_mbps: round2(mbps(rx, elapsed)),
            network_tx_mbps: round2(mbps(tx, elapsed)),
            process_count: user_processes.len() as u64,
        };
        #[allow(clippy::cast_precision_loss)]
        let system = SystemInfo {
            hostname: System::host_name().unwrap_or_default(),
            os: System::long_os_version().unwrap_or_default(),
            kernel: System::kernel_version().unwrap_or_default(),
            uptime_s: System::uptime().unwrap_or_default(),
            cpu_cores: u32::try_from(self.system.cpus().len()).unwrap_or(u32::MAX),
            memory_total_gb: round2(self.system.total_memory() as f64 / GIB),
            disk_total_gb: round2(disk_total as f64 / GIB),
        };
        HostSample {
            metrics,
            system,
            processes,
        }
    }
}

/// `part / whole` as a percentage; 0 when nothing is known about the whole.
#[allow(clippy::cast_precision_loss)]
fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 / whole as f64 * 100.0).clamp(0.0, 100.0)
    }
}

/// Megabits per second for `bytes` moved over `elapsed`.
#[allow(clippy::cast_precision_loss)]
fn mbps(bytes: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        0.0
    } else {
        bytes as f64 * 8.0 / 1_000_000.0 / secs
    }
}

/// Used and total bytes over distinct devices: a device mounted twice (bind
/// mounts, containers) is counted once.
fn disk_totals(disks: impl Iterator<Item = (String, u64, u64)>) -> (u64, u64) {
    let mut seen = HashSet::new();
    disks
        .filter(|(name, total, _)| *total > 0 && seen.insert(name.clone()))
        .fold((0u64, 0u64), |(used, all), (_, total, available)| {
            (
                used.saturating_add(total.saturating_sub(available)),
                all.saturating_add(total),
            )
        })
}

/// The busiest processes: by CPU, then memory, then pid; at most [`MAX_PROCESSES`].
fn top_processes(processes: impl Iterator<Item = ProcessSample>) -> Vec<ProcessSample> {
    let mut all: Vec<ProcessSample> = processes.collect();
    all.sort_by(|a, b| {
        b.cpu_percent
            .total_cmp(&a.cpu_percent)
            .then(b.memory_bytes.cmp(&a.memory_bytes))
            .then(a.pid.cmp(&b.pid))
    });
    all.truncate(MAX_PROCESSES);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: u32, cpu: f64, mem: u64) -> ProcessSample {
        ProcessSample {
            pid,
            name: format!("p{pid}"),
            user: "root".into(),
            cpu_percent: cpu,
            memory_bytes: mem,
        }
    }

    #[test]
    fn top_processes_orders_by_cpu_then_memory_and_keeps_twenty() {
        let many = (1..=30).map(|pid| proc(pid, f64::from(pid % 5), u64::from(pid)));
        let top = top_processes(many);
        assert_eq!(top.len(), MAX_PROCESSES);
        assert_eq!(
            (top[0].pid, top[1].pid),
            (29, 24),
            "cpu 4 first, larger memory first"
        );
        assert!(top.windows(2).all(|w| w[0].cpu_percent >= w[1].cpu_percent));
    }

    #[test]
    fn disks_are_counted_once_per_device() {
        let (used, total) = disk_totals(
            [
                ("/dev/vda".to_owned(), 100, 40),
                ("/dev/vda".to_owned(), 100, 40),
                ("/dev/vdb".to_owned(), 50, 50),
                ("tmpfs".to_owned(), 0, 0),
            ]
            .into_iter(),
        );
        assert_eq!((used, total), (60, 150));
        assert!((percent(used, total) - 40.0).abs() < 1e-9);
        assert!((percent(1, 0)).abs() < f64::EPSILON);
    }

    #[test]
    fn network_rates_are_megabits_per_second() {
        assert!((mbps(1_250_000, Duration::from_secs(10)) - 1.0).abs() < 1e-9);
        assert!(mbps(5, Duration::ZERO).abs() < f64::EPSILON);
    }

    #[test]
    fn a_real_reading_of_this_host_is_plausible() {
        let mut c = Collector::new().expect("sysinfo works here");
        std::thread::sleep(MIN_WINDOW);
        let s = c.sample();
        let m = s.metrics;
        for v in [
            m.cpu_usage_percent,
            m.memory_usage_percent,
            m.disk_usage_percent,
        ] {
            assert!((0.0..=100.0).contains(&v), "{v}");
        }
        assert!(m.memory_usage_percent > 0.0, "some memory is always in use");
        assert!(m.process_count > 0 && !s.processes.is_empty());
        assert!(s.processes.len() <= MAX_PROCESSES);
        assert!(s.system.cpu_cores >= 1 && s.system.memory_total_gb > 0.0);
        assert!(m.process_count >= s.processes.len() as u64);
        assert!(
            s.processes
                .iter()
                .all(|p| !p.name.is_empty() && p.cpu_percent >= 0.0)
        );
        assert!(!s.system.hostname.is_empty() && !s.system.kernel.is_empty());
    }
}
