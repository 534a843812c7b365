//! Agent-side operations delivered in heartbeat answers: `collect_now` (a
//! heartbeat at once) and `signal_process` (only with
//! `--allow-process-control`, never to pid 1, the agent or a kernel thread
//! unless forced). Operations stamped with a term older than the newest the
//! agent has seen are refused. Each result is reported to the server, and
//! kept to try again while the server cannot be reached.

use muster_domain::operations::{OperationName, OperationReport, SIGNALS, check_signal_target};
use muster_domain::protocol::PendingOperation;
use serde_json::json;

use muster_agent::http::{Answer, post};

/// Reports waiting to be sent at most; the oldest go beyond it.
const MAX_WAITING_REPORTS: usize = 1000;

#[derive(Debug, Default)]
pub struct Operations {
    allow_process_control: bool,
    /// The newest coordination term any answer carried.
    newest_term: u64,
    /// `collect_now` runs waiting for the next heartbeat to be acknowledged.
    collecting: Vec<String>,
    /// Results not yet taken by the server: (operation id, report).
    reports: std::collections::VecDeque<(String, OperationReport)>,
}

impl Operations {
    #[must_use]
    pub fn new(allow_process_control: bool) -> Self {
        Self {
            allow_process_control,
            ..Self::default()
        }
    }

    /// Acts on the operations of one heartbeat answer (whose term is
    /// `term`); `true` when a heartbeat should be sent at once.
    pub fn receive(&mut self, term: u64, ops: &[PendingOperation]) -> bool {
        self.newest_term = self.newest_term.max(term);
        let mut collect = false;
        for op in ops {
            if let Some(refused) = muster_agent::refuse_stale(self.newest_term, op) {
                self.finish(op, refused.ok, refused.message, refused.output);
                continue;
            }
            match op.operation {
                OperationName::CollectNow => {
                    self.collecting.push(op.id.clone());
                    collect = true;
                }
                OperationName::SignalProcess => {
                    let (ok, message, output) = self.signal(op);
                    self.finish(op, ok, message, output);
                }
                other => self.finish(
                    op,
                    false,
                    format!("{other} is not carried out by agents"),
                    json!({}),
                ),
            }
        }
        collect
    }

    /// Whether a `collect_now` waits for its heartbeat.
    #[must_use]
    pub fn is_collecting(&self) -> bool {
        !self.collecting.is_empty()
    }

    /// A heartbeat taken after `collect_now` arrived was acknowledged.
    pub fn collected(&mut self, seq: u64) {
        for id in std::mem::take(&mut self.collecting) {
            self.keep(
                id,
                OperationReport {
                    ok: true,
                    message: format!("collected and sent a sample at once (sequence {seq})"),
                    output: json!({"seq": seq}),
                },
            );
        }
    }

    /// Keeps a report to send, the oldest going beyond [`MAX_WAITING_REPORTS`].
    fn keep(&mut self, id: String, report: OperationReport) {
        if self.reports.len() >= MAX_WAITING_REPORTS {
            self.reports.pop_front();
        }
        self.reports.push_back((id, report));
    }

    fn finish(
        &mut self,
        op: &PendingOperation,
        ok: bool,
        message: String,
        output: serde_json::Value,
    ) {
        if ok {
            eprintln!(
                "muster-agent: operation {} ({}): {message}",
                op.id, op.operation
            );
        } else {
            eprintln!(
                "muster-agent: operation {} ({}) failed: {message}",
                op.id, op.operation
            );
        }
        self.keep(
            op.id.clone(),
            OperationReport {
                ok,
                message,
                output,
            },
        );
    }

    fn signal(&self, op: &PendingOperation) -> (bool, String, serde_json::Value) {
        if !self.allow_process_control {
            return (
                false,
                "process control is off on this node (start the agent with --allow-process-control)"
                    .into(),
                json!({}),
            );
        }
        let pid = op.params.get("pid").and_then(serde_json::Value::as_u64);
        let signal = op
            .params
            .get("signal")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("TERM");
        let (Some(pid), Some(number)) = (
            pid.and_then(|p| u32::try_from(p).ok()),
            signal_number(signal),
        ) else {
            return (
                false,
                format!(
                    "bad parameters: pid must be a process id and signal one of {}",
                    SIGNALS.join(", ")
                ),
                json!({}),
            );
        };
        let output = json!({"pid": pid, "signal": signal});
        let kernel_thread = match process_flags(pid) {
            Some(flags) => flags & PF_KTHREAD != 0,
            None => return (false, format!("there is no process {pid}"), output),
        };
        if let Err(why) = check_signal_target(pid, std::process::id(), kernel_thread, op.force) {
            return (false, why, output);
        }
        match send_signal(pid, number) {
            Ok(()) => (true, format!("sent SIG{signal} to process {pid}"), output),
            Err(e) => (
                false,
                format!("could not signal process {pid}: {e}"),
                output,
            ),
        }
    }

    /// Sends the waiting reports, oldest first, until the server stops
    /// answering (those left wait for the next try).
    pub async fn send_reports(&mut self, http: &reqwest::Client, server: &str, token: &str) {
        while let Some((id, report)) = self.reports.front() {
            let url = format!("{server}/api/v1/agent/operations/{id}/result");
            match post::<_, serde_json::Value>(http, &url, Some(token), report).await {
                Answer::Ok(_) => {}
                Answer::Refused(status, message) => {
                    eprintln!(
                        "muster-agent: the server did not take the result of operation {id} ({status}): {message}"
                    );
                }
                Answer::Retry(why) => {
                    eprintln!("muster-agent: {why}; the result of operation {id} waits");
                    return;
                }
            }
            self.reports.pop_front();
        }
    }
}

/// The kernel-thread bit of a process's flags (`PF_KTHREAD`).
const PF_KTHREAD: u64 = 0x0020_0000;

/// A process's flags from `/proc/<pid>/stat` (the ninth field); `None` when
/// there is no such process.
fn process_flags(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(6)?.parse().ok()
}

fn signal_number(name: &str) -> Option<i32> {
    Some(match name {
        "TERM" => libc::SIGTERM,
        "INT" => libc::SIGINT,
        "HUP" => libc::SIGHUP,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        _ => return None,
    })
}

#[allow(unsafe_code)]
fn send_signal(pid: u32, signal: i32) -> std::io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| std::io::Error::other("pid out of range"))?;
    // SAFETY: kill(2) takes two integers and touches no memory of ours.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(
        id: &str,
        operation: OperationName,
        term: u64,
        params: serde_json::Value,
    ) -> PendingOperation {
        PendingOperation {
            id: id.into(),
            operation,
            params: match params {
                serde_json::Value::Object(m) => m,
                _ => serde_json::Map::new(),
            },
            force: false,
            term,
        }
    }

    #[test]
    fn older_terms_are_refused_and_collect_waits_for_its_heartbeat() {
        let mut ops = Operations::new(false);
        assert!(ops.receive(5, &[op("1", OperationName::CollectNow, 5, json!({}))]));
        assert!(
            ops.reports.is_empty(),
            "reported once its heartbeat is taken"
        );
        ops.collected(42);
        assert_eq!(ops.reports.len(), 1);
        assert!(ops.reports[0].1.ok && ops.reports[0].1.output["seq"] == 42);
        assert!(!ops.receive(6, &[op("2", OperationName::CollectNow, 5, json!({}))]));
        let (id, stale) = &ops.reports[1];
        assert_eq!(id, "2");
        assert!(!stale.ok && stale.message.contains("term 5") && stale.message.contains("term 6"));
    }

    #[test]
    fn signals_need_process_control_and_spare_the_untouchable() {
        let mut off = Operations::new(false);
        off.receive(
            1,
            &[op(
                "1",
                OperationName::SignalProcess,
                1,
                json!({"pid": 12345, "signal": "TERM"}),
            )],
        );
        assert!(off.reports[0].1.message.contains("--allow-process-control"));
        let mut on = Operations::new(true);
        let me = std::process::id();
        on.receive(
            1,
            &[
                op(
                    "2",
                    OperationName::SignalProcess,
                    1,
                    json!({"pid": 1, "signal": "TERM"}),
                ),
                op(
                    "3",
                    OperationName::SignalProcess,
                    1,
                    json!({"pid": me, "signal": "KILL"}),
                ),
                op(
                    "4",
                    OperationName::SignalProcess,
                    1,
                    json!({"pid": 4_000_000, "signal": "TERM"}),
                ),
            ],
        );
        let messages: Vec<&str> = on.reports.iter().map(|(_, r)| r.message.as_str()).collect();
        assert!(on.reports.iter().all(|(_, r)| !r.ok), "{messages:?}");
        assert!(
            messages[0].contains("init process") || messages[0].contains("no process 1"),
            "{messages:?}"
        );
        assert!(messages[1].contains("agent itself"), "{messages:?}");
        assert!(messages[2].contains("no process"), "{messages:?}");
    }

    #[test]
    fn a_child_is_signalled() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let mut on = Operations::new(true);
        on.receive(
            1,
            &[op(
                "1",
                OperationName::SignalProcess,
                1,
                json!({"pid": child.id(), "signal": "KILL"}),
            )],
        );
        assert!(on.reports[0].1.ok, "{:?}", on.reports[0].1);
        let status = child.wait().expect("wait");
        assert!(!status.success(), "killed");
    }

    #[test]
    fn kernel_threads_are_recognised() {
        // kthreadd is pid 2 on Linux; inside a container it may not be visible.
        if let Some(flags) = process_flags(2)
            && std::fs::read_to_string("/proc/2/comm").is_ok_and(|c| c.trim() == "kthreadd")
        {
            assert_ne!(flags & PF_KTHREAD, 0);
        }
        let mine = process_flags(std::process::id()).expect("own flags");
        assert_eq!(mine & PF_KTHREAD, 0);
    }
}
