//! The agent's bounded on-disk spool: every sample is appended before it is
//! sent and forgotten once the server acknowledges it, so samples taken while
//! the server is unreachable survive until it returns (and an agent restart).
//! Beyond its capacity the oldest samples are dropped and counted.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};

use muster_domain::protocol::HeartbeatRequest;

pub struct Spool {
    path: PathBuf,
    seq_path: PathBuf,
    file: File,
    /// Lines in the file, acknowledged ones included (compacted past twice
    /// the capacity).
    lines: usize,
    pending: VecDeque<HeartbeatRequest>,
    capacity: usize,
    last_seq: u64,
    acked: u64,
    dropped: u64,
}

impl Spool {
    /// Opens (or creates) the spool at `path`, keeping what an earlier run
    /// left unsent (at most `capacity` samples, the newest).
    ///
    /// # Errors
    /// When the file cannot be read or written.
    pub fn open(path: &Path, capacity: usize) -> std::io::Result<Self> {
        let capacity = capacity.max(1);
        let seq_path = path.with_extension("seq");
        // "<last seq> <acknowledged seq>": samples up to the second are on
        // the server even if the file still holds them.
        let (mut last_seq, acked) = match std::fs::read_to_string(&seq_path) {
            Ok(text) => {
                let mut parts = text
                    .split_whitespace()
                    .map(|p| p.parse::<u64>().unwrap_or(0));
                (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (0, 0),
            Err(e) => return Err(e),
        };
        let mut pending = VecDeque::new();
        let mut dropped = 0;
        if path.exists() {
            for line in BufReader::new(File::open(path)?).lines() {
                // A line cut short by a crash is skipped.
                if let Ok(hb) = serde_json::from_str::<HeartbeatRequest>(&line?) {
                    last_seq = last_seq.max(hb.seq);
                    if hb.seq <= acked {
                        continue;
                    }
                    pending.push_back(hb);
                    if pending.len() > capacity {
                        pending.pop_front();
                        dropped += 1;
                    }
                }
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let mut spool = Self {
            path: path.to_owned(),
            seq_path,
            file,
            lines: 0,
            pending,
            capacity,
            last_seq,
            acked,
            dropped,
        };
        spool.rewrite()?;
        Ok(spool)
    }

    /// The sequence number the next sample takes.
    #[must_use]
    pub fn next_seq(&self) -> u64 {
        self.last_seq + 1
    }

    /// Takes the next sequence number for a message that is not spooled (the
    /// goodbye), so a later sample never reuses it.
    ///
    /// # Errors
    /// When the sequence file cannot be written.
    pub fn reserve_seq(&mut self) -> std::io::Result<u64> {
        self.last_seq += 1;
        self.save_seq()?;
        Ok(self.last_seq)
    }

    /// Appends a sample; how many old ones were dropped to make room.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn push(&mut self, hb: HeartbeatRequest) -> std::io::Result<u64> {
        self.last_seq = self.last_seq.max(hb.seq);
        self.save_seq()?;
        let mut line = serde_json::to_string(&hb).map_err(std::io::Error::other)?;
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.file.flush()?;
        self.lines += 1;
        self.pending.push_back(hb);
        let mut dropped = 0;
        while self.pending.len() > self.capacity {
            self.pending.pop_front();
            dropped += 1;
        }
        self.dropped += dropped;
        if self.lines > 2 * self.capacity {
            self.rewrite()?;
        }
        Ok(dropped)
    }

    /// The oldest unsent sample.
    #[must_use]
    pub fn front(&self) -> Option<&HeartbeatRequest> {
        self.pending.front()
    }

    /// Forgets every sample up to `seq`, which the server has committed.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn ack(&mut self, seq: u64) -> std::io::Result<()> {
        while self.pending.front().is_some_and(|hb| hb.seq <= seq) {
            self.pending.pop_front();
        }
        if seq > self.acked {
            self.acked = seq;
            self.save_seq()?;
        }
        if self.pending.is_empty() && self.lines > 0 {
            self.file.set_len(0)?;
            self.lines = 0;
        }
        Ok(())
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Samples dropped because the spool was full, since it was opened.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn save_seq(&self) -> std::io::Result<()> {
        std::fs::write(&self.seq_path, format!("{} {}", self.last_seq, self.acked))
    }

    /// Rewrites the file with the unsent samples only.
    fn rewrite(&mut self) -> std::io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        let mut out = File::create(&tmp)?;
        for hb in &self.pending {
            let mut line = serde_json::to_string(hb).map_err(std::io::Error::other)?;
            line.push('\n');
            out.write_all(line.as_bytes())?;
        }
        out.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.lines = self.pending.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_domain::NodeStatus;
    use muster_domain::protocol::{HostMetrics, PROTOCOL_VERSION, SystemInfo};

    fn sample(seq: u64) -> HeartbeatRequest {
        HeartbeatRequest {
            protocol_version: PROTOCOL_VERSION,
            seq,
            status: NodeStatus::Online,
            metrics: HostMetrics {
                cpu_usage_percent: 1.0,
                memory_usage_percent: 2.0,
                disk_usage_percent: 3.0,
                load_average: 0.1,
                network_rx_mbps: 0.0,
                network_tx_mbps: 0.0,
                process_count: 10,
            },
            system: SystemInfo {
                hostname: "h".into(),
                os: "linux".into(),
                kernel: "6".into(),
                uptime_s: 1,
                cpu_cores: 1,
                memory_total_gb: 1.0,
                disk_total_gb: 1.0,
            },
            processes: Vec::new(),
            sampled_at: None,
        }
    }

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "muster-spool-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&d).expect("dir");
        d
    }

    #[test]
    fn unsent_samples_survive_a_restart_in_order() {
        let path = dir().join("spool.jsonl");
        let mut s = Spool::open(&path, 100).expect("open");
        for _ in 0..5 {
            let seq = s.next_seq();
            s.push(sample(seq)).expect("push");
        }
        s.ack(2).expect("ack");
        drop(s);
        let s = Spool::open(&path, 100).expect("reopen");
        assert_eq!(s.len(), 3);
        assert_eq!(s.front().map(|h| h.seq), Some(3));
        assert_eq!(s.next_seq(), 6);
    }

    #[test]
    fn a_full_spool_drops_the_oldest_and_counts_them() {
        let path = dir().join("spool.jsonl");
        let mut s = Spool::open(&path, 3).expect("open");
        let mut dropped = 0;
        for _ in 0..10 {
            let seq = s.next_seq();
            dropped += s.push(sample(seq)).expect("push");
        }
        assert_eq!((s.len(), dropped, s.dropped()), (3, 7, 7));
        assert_eq!(s.front().map(|h| h.seq), Some(8));
        // The file is compacted, never more than twice the capacity.
        let lines = std::fs::read_to_string(&path)
            .expect("read")
            .lines()
            .count();
        assert!(lines <= 6, "{lines}");
        drop(s);
        let s = Spool::open(&path, 3).expect("reopen");
        assert_eq!((s.len(), s.front().map(|h| h.seq)), (3, Some(8)));
    }

    #[test]
    fn an_empty_spool_keeps_its_sequence_and_an_empty_file() {
        let path = dir().join("spool.jsonl");
        let mut s = Spool::open(&path, 10).expect("open");
        let seq = s.next_seq();
        s.push(sample(seq)).expect("push");
        s.ack(seq).expect("ack");
        assert!(s.is_empty());
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), 0);
        drop(s);
        let mut s = Spool::open(&path, 10).expect("reopen");
        assert_eq!(s.next_seq(), 2);
        assert_eq!(s.reserve_seq().expect("reserve"), 2);
        drop(s);
        assert_eq!(Spool::open(&path, 10).expect("reopen").next_seq(), 3);
    }
}
