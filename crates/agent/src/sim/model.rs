//! Plausible figures for one virtual node: a baseline per node, noise, a daily
//! wave, occasional spikes that fade, a disk that slowly fills (and is cleaned
//! up now and then), and a fixed set of processes sharing the load. Everything
//! comes from the node's own seeded generator, so a seed replays the same fleet.

use chrono::{DateTime, Timelike as _, Utc};
use muster_domain::protocol::{HostMetrics, MAX_PROCESSES, ProcessSample, SystemInfo};
use rand::rngs::StdRng;

use crate::round2;
use rand::{Rng as _, SeedableRng as _};

/// Resources a fault pushes up, as the usage percent each is held at (at least).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pressure {
    pub cpu: Option<f64>,
    pub memory: Option<f64>,
    pub disk: Option<f64>,
}

/// The programs a simulated host runs, by the kind of host it is.
const WORKLOADS: [&[(&str, &str)]; 4] = [
    &[
        ("postgres", "postgres"),
        ("postgres: walwriter", "postgres"),
        ("postgres: checkpointer", "postgres"),
        ("pgbouncer", "postgres"),
    ],
    &[
        ("nginx", "www-data"),
        ("gunicorn", "app"),
        ("python3", "app"),
        ("node", "app"),
    ],
    &[
        ("java", "kafka"),
        ("zookeeper", "kafka"),
        ("redis-server", "redis"),
        ("etcd", "etcd"),
    ],
    &[
        ("kubelet", "root"),
        ("containerd", "root"),
        ("envoy", "envoy"),
        ("prometheus", "prometheus"),
    ],
];

/// What every host runs besides its workload.
const SYSTEM_PROCESSES: [(&str, &str); 12] = [
    ("systemd", "root"),
    ("systemd-journald", "root"),
    ("systemd-udevd", "root"),
    ("sshd", "root"),
    ("cron", "root"),
    ("rsyslogd", "syslog"),
    ("chronyd", "_chrony"),
    ("dbus-daemon", "messagebus"),
    ("node_exporter", "nobody"),
    ("muster-agent", "muster"),
    ("bash", "ops"),
    ("containerd-shim", "root"),
];

const OS_RELEASES: [(&str, &str); 3] = [
    ("Linux 12 Debian GNU/Linux 12", "6.1.0-28-amd64"),
    ("Linux 24.04 Ubuntu 24.04.1 LTS", "6.8.0-49-generic"),
    ("Linux 9.5 Rocky Linux 9.5", "5.14.0-503.14.1.el9_5.x86_64"),
];

#[derive(Debug, Clone)]
struct ProcessSpec {
    pid: u32,
    name: &'static str,
    user: &'static str,
    /// Share of the host's CPU and memory use.
    weight: f64,
}

/// One virtual host's state between samples.
#[derive(Debug, Clone)]
pub struct NodeModel {
    rng: StdRng,
    hostname: String,
    os: &'static str,
    kernel: &'static str,
    cores: u32,
    memory_gb: f64,
    disk_gb: f64,
    cpu_base: f64,
    memory_base: f64,
    /// Percent of the disk in use now; it grows between samples.
    disk_used: f64,
    disk_growth_per_hour: f64,
    /// Hour of the day the daily wave peaks.
    peak_hour: f64,
    wave: f64,
    /// What a running spike adds to the CPU; it fades every sample.
    spike: f64,
    network_base: f64,
    process_base: u64,
    processes: Vec<ProcessSpec>,
    booted_at: DateTime<Utc>,
}

impl NodeModel {
    /// The host `hostname`, built from `seed` alone; it booted at `booted_at`.
    /// Its disk is at most `max_disk_gb` when given (clusters cap their
    /// nodes' total storage).
    #[must_use]
    pub fn new(
        seed: u64,
        hostname: &str,
        booted_at: DateTime<Utc>,
        max_disk_gb: Option<f64>,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let cores = [2, 4, 8, 16, 32][rng.random_range(0..5)];
        let memory_gb = f64::from(cores) * [2.0, 4.0, 8.0][rng.random_range(0..3)];
        let sizes = [100.0, 250.0, 500.0, 1000.0];
        let pick = sizes[rng.random_range(0..sizes.len())];
        let disk_gb = match max_disk_gb {
            Some(cap) if pick > cap => sizes
                .iter()
                .copied()
                .rfind(|s| *s <= cap)
                .unwrap_or_else(|| cap.floor().max(1.0)),
            _ => pick,
        };
        let (os, kernel) = OS_RELEASES[rng.random_range(0..OS_RELEASES.len())];
        let workload = WORKLOADS[rng.random_range(0..WORKLOADS.len())];
        let mut processes = Vec::with_capacity(MAX_PROCESSES);
        let mut pid = 1;
        for (i, (name, user)) in SYSTEM_PROCESSES.iter().enumerate() {
            processes.push(ProcessSpec {
                pid,
                name,
                user,
                weight: if i == 0 {
                    0.2
                } else {
                    rng.random_range(0.05..0.6)
                },
            });
            pid += rng.random_range(1..400);
        }
        // The workload's programs, some of them running as several workers.
        while processes.len() < MAX_PROCESSES {
            let (name, user) = workload[rng.random_range(0..workload.len())];
            pid += rng.random_range(1..4000);
            processes.push(ProcessSpec {
                pid,
                name,
                user,
                weight: rng.random_range(2.0..12.0),
            });
        }
        Self {
            hostname: hostname.to_owned(),
            os,
            kernel,
            cores,
            memory_gb,
            disk_gb,
            cpu_base: rng.random_range(5.0..30.0),
            memory_base: rng.random_range(25.0..60.0),
            disk_used: rng.random_range(20.0..65.0),
            disk_growth_per_hour: rng.random_range(0.01..0.4),
            peak_hour: rng.random_range(10.0..18.0),
            wave: rng.random_range(4.0..12.0),
            spike: 0.0,
            network_base: rng.random_range(0.5..40.0),
            process_base: rng.random_range(120..400),
            processes,
            booted_at,
            rng,
        }
    }

    /// The host's facts as of `at`.
    #[must_use]
    pub fn system(&self, at: DateTime<Utc>) -> SystemInfo {
        SystemInfo {
            hostname: self.hostname.clone(),
            os: self.os.to_owned(),
            kernel: self.kernel.to_owned(),
            uptime_s: u64::try_from((at - self.booted_at).num_seconds()).unwrap_or(0),
            cpu_cores: self.cores,
            memory_total_gb: self.memory_gb,
            disk_total_gb: self.disk_gb,
        }
    }

    /// The host restarts: uptime starts again and spikes are gone.
    pub fn reboot(&mut self, at: DateTime<Utc>) {
        self.booted_at = at;
        self.spike = 0.0;
    }

    /// Symmetric noise of about `scale` either side.
    fn noise(&mut self, scale: f64) -> f64 {
        // The sum of two uniforms leans to the middle like real jitter does.
        (self.rng.random_range(-1.0..1.0) + self.rng.random_range(-1.0..1.0)) * scale / 2.0
    }

    /// The next sample, taken at `at`, `elapsed_s` after the previous one.
    pub fn sample(
        &mut self,
        at: DateTime<Utc>,
        elapsed_s: f64,
        pressure: Pressure,
    ) -> (HostMetrics, Vec<ProcessSample>) {
        let hour = f64::from(at.num_seconds_from_midnight()) / 3600.0;
        let daily = (std::f64::consts::TAU * (hour - self.peak_hour) / 24.0).cos();
        if self.rng.random_bool(0.02) {
            self.spike = self.rng.random_range(10.0..35.0);
        } else {
            self.spike *= 0.6;
        }
        let cpu_noise = self.noise(8.0);
        let mut cpu =
            (self.cpu_base + self.wave * daily + self.spike + cpu_noise).clamp(0.5, 100.0);
        let memory_noise = self.noise(3.0);
        let mut memory =
            (self.memory_base + self.wave * 0.4 * daily + memory_noise).clamp(1.0, 100.0);
        self.disk_used += self.disk_growth_per_hour * elapsed_s.max(0.0) / 3600.0;
        if self.disk_used > 90.0 && self.rng.random_bool(0.05) {
            // Someone rotated the logs.
            self.disk_used -= self.rng.random_range(20.0..40.0);
        }
        self.disk_used = self.disk_used.clamp(1.0, 100.0);
        let mut disk = self.disk_used;
        let held = |level: Option<f64>, value: f64, jitter: f64| {
            level.map_or(value, |l| value.max((l + jitter).clamp(0.0, 100.0)))
        };
        let j = self.noise(1.5);
        cpu = held(pressure.cpu, cpu, j);
        memory = held(pressure.memory, memory, j / 2.0);
        disk = held(pressure.disk, disk, 0.0);
        let load = cpu / 100.0 * f64::from(self.cores) * self.rng.random_range(0.8..1.2);
        let rx_noise = self.noise(self.network_base * 0.2);
        let rx = (self.network_base * (1.0 + 0.3 * daily) + rx_noise).max(0.0);
        let tx = rx * self.rng.random_range(0.3..0.7);
        let process_count = self
            .process_base
            .saturating_add_signed(self.rng.random_range(-6..=6));
        let metrics = HostMetrics {
            cpu_usage_percent: round2(cpu),
            memory_usage_percent: round2(memory),
            disk_usage_percent: round2(disk),
            load_average: round2(load),
            network_rx_mbps: round2(rx),
            network_tx_mbps: round2(tx),
            process_count,
        };
        (metrics, self.top_processes(cpu, memory))
    }

    /// The processes, each taking its share of the CPU (percent of one core,
    /// as `top` shows) and memory in use, busiest first.
    fn top_processes(&mut self, cpu: f64, memory: f64) -> Vec<ProcessSample> {
        let total: f64 = self.processes.iter().map(|p| p.weight).sum();
        let busy_cores = cpu * f64::from(self.cores);
        let used_bytes = memory / 100.0 * self.memory_gb * 1024.0 * 1024.0 * 1024.0;
        let mut out: Vec<ProcessSample> = Vec::with_capacity(self.processes.len());
        for p in &self.processes {
            let share = p.weight / total;
            let wobble = self.rng.random_range(0.7..1.3);
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let memory_bytes = (used_bytes * share * 0.8) as u64;
            out.push(ProcessSample {
                pid: p.pid,
                name: p.name.to_owned(),
                user: p.user.to_owned(),
                cpu_percent: round2(busy_cores * share * wobble),
                memory_bytes,
            });
        }
        out.sort_by(|a, b| b.cpu_percent.total_cmp(&a.cpu_percent));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_domain::protocol::{HeartbeatRequest, PROTOCOL_VERSION};

    fn at(h: u32) -> DateTime<Utc> {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
            .and_then(|d| d.and_hms_opt(h, 0, 0))
            .map(|t| t.and_utc())
            .expect("a valid time")
    }

    #[test]
    fn the_same_seed_gives_the_same_host_and_figures() {
        let mut a = NodeModel::new(7, "sim-1", at(0), None);
        let mut b = NodeModel::new(7, "sim-1", at(0), None);
        let mut c = NodeModel::new(8, "sim-1", at(0), None);
        let pa: Vec<_> = (0..20)
            .map(|i| {
                a.sample(
                    at(1) + chrono::Duration::seconds(i * 10),
                    10.0,
                    Pressure::default(),
                )
            })
            .collect();
        let pb: Vec<_> = (0..20)
            .map(|i| {
                b.sample(
                    at(1) + chrono::Duration::seconds(i * 10),
                    10.0,
                    Pressure::default(),
                )
            })
            .collect();
        let pc: Vec<_> = (0..20)
            .map(|i| {
                c.sample(
                    at(1) + chrono::Duration::seconds(i * 10),
                    10.0,
                    Pressure::default(),
                )
            })
            .collect();
        assert_eq!(pa, pb);
        assert_ne!(pa, pc, "another seed is another host");
    }

    #[test]
    fn samples_pass_the_servers_checks_and_stay_in_range() {
        for seed in 0..50 {
            let mut m = NodeModel::new(seed, &format!("sim-{seed}"), at(0), None);
            for i in 0..200 {
                let t = at(0) + chrono::Duration::minutes(i * 7);
                let (metrics, processes) = m.sample(t, 420.0, Pressure::default());
                for (name, v) in metrics.named() {
                    assert!(v.is_finite() && v >= 0.0, "{name} = {v}");
                }
                assert!(
                    metrics.cpu_usage_percent < 90.0,
                    "without a fault no host is critical: {metrics:?}"
                );
                assert!(metrics.disk_usage_percent <= 100.0);
                assert_eq!(processes.len(), MAX_PROCESSES);
                assert!(
                    processes
                        .windows(2)
                        .all(|w| w[0].cpu_percent >= w[1].cpu_percent),
                    "busiest first"
                );
                let hb = HeartbeatRequest {
                    protocol_version: PROTOCOL_VERSION,
                    seq: 1,
                    status: muster_domain::NodeStatus::Online,
                    metrics,
                    system: m.system(t),
                    processes,
                    sampled_at: None,
                };
                assert!(hb.validate().is_ok(), "{:?}", hb.validate());
            }
        }
    }

    #[test]
    fn the_day_has_a_wave_and_disks_fill() {
        let mut m = NodeModel::new(3, "sim", at(0), None);
        let mean_cpu = |m: &mut NodeModel, hour: f64| {
            #[allow(clippy::cast_possible_truncation)]
            let peak = at(0) + chrono::Duration::minutes((hour * 60.0) as i64);
            (0..200)
                .map(|_| m.sample(peak, 0.0, Pressure::default()).0.cpu_usage_percent)
                .sum::<f64>()
                / 200.0
        };
        let peak = m.peak_hour;
        let busy = mean_cpu(&mut m, peak);
        let quiet = mean_cpu(&mut m, (peak + 12.0) % 24.0);
        assert!(busy > quiet + 4.0, "peak {busy} vs night {quiet}");
        let before = m.disk_used;
        m.sample(at(5), 36_000.0, Pressure::default());
        assert!(m.disk_used > before, "ten hours fill the disk a little");
    }

    #[test]
    fn disks_fit_the_cap() {
        for seed in 0..40 {
            assert!(NodeModel::new(seed, "d", at(0), Some(33.0)).disk_gb <= 33.0);
            let m = NodeModel::new(seed, "d", at(0), Some(300.0));
            assert!([100.0, 250.0].contains(&m.disk_gb), "{}", m.disk_gb);
        }
    }

    #[test]
    fn pressure_holds_a_resource_high() {
        let mut m = NodeModel::new(11, "sim", at(0), None);
        let hot = Pressure {
            cpu: Some(97.0),
            memory: None,
            disk: Some(96.0),
        };
        for _ in 0..50 {
            let (metrics, _) = m.sample(at(3), 10.0, hot);
            assert!(metrics.cpu_usage_percent >= 94.0, "{metrics:?}");
            assert!(metrics.disk_usage_percent >= 96.0, "{metrics:?}");
            assert!(metrics.memory_usage_percent < 90.0, "{metrics:?}");
        }
    }
}
