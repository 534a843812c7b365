//! Faults a virtual node can suffer, the commands that inject and heal them,
//! and the one-line syntax scenarios, `--chaos` logs and the Simulation panel
//! share: `<action> <target> [key=value …]`, e.g. `fail primary for=60s`,
//! `degrade cluster:payments cpu=97`, `partition web-1,web-2`, `heal all`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::model::Pressure;

/// The usage a bare `degrade` holds a resource at: above every critical threshold.
pub const DEFAULT_PRESSURE: f64 = 97.0;

/// What goes wrong with a node.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum Fault {
    /// The host is down: no samples, no heartbeats; healing reboots it.
    Fail,
    /// The host runs but cannot reach the server: samples wait and are
    /// replayed, each with its own time, when the partition heals.
    Partition,
    /// Resource pressure: each named resource is held at least at its level.
    Degrade {
        cpu: Option<f64>,
        memory: Option<f64>,
        disk: Option<f64>,
    },
    /// Down for `period`, up for `period`, and so on.
    Flap { period_ms: u64 },
    /// Every heartbeat reaches the server this late.
    Delay { by_ms: u64 },
}

impl Fault {
    /// The fault's kind, as the command line names it.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Fail => "fail",
            Fault::Partition => "partition",
            Fault::Degrade { .. } => "degrade",
            Fault::Flap { .. } => "flap",
            Fault::Delay { .. } => "delay",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())?;
        match self {
            Fault::Fail | Fault::Partition => Ok(()),
            Fault::Degrade { cpu, memory, disk } => {
                for (name, level) in [("cpu", cpu), ("memory", memory), ("disk", disk)] {
                    if let Some(l) = level {
                        write!(f, " {name}={l}")?;
                    }
                }
                Ok(())
            }
            Fault::Flap { period_ms } => write!(f, " period={}", show_duration(*period_ms)),
            Fault::Delay { by_ms } => write!(f, " by={}", show_duration(*by_ms)),
        }
    }
}

/// Which nodes a command acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "target", content = "value", rename_all = "snake_case")]
pub enum Target {
    All,
    /// Each cluster's primary, or the named cluster's (by name or id).
    Primary(Option<String>),
    /// Every node of a cluster, by name or id.
    Cluster(String),
    /// This many nodes picked at random (from the fleet's seed).
    Random(usize),
    /// Nodes by name.
    Nodes(Vec<String>),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::All => f.write_str("all"),
            Target::Primary(None) => f.write_str("primary"),
            Target::Primary(Some(c)) => write!(f, "primary:{c}"),
            Target::Cluster(c) => write!(f, "cluster:{c}"),
            Target::Random(n) => write!(f, "random:{n}"),
            Target::Nodes(names) => f.write_str(&names.join(",")),
        }
    }
}

/// Inject a fault, or heal every fault.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Inject(Fault),
    Heal,
}

/// One command: what, to whom, and for how long (until healed when absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub action: Action,
    pub target: Target,
    pub for_ms: Option<u64>,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.action {
            Action::Heal => write!(f, "heal {}", self.target)?,
            Action::Inject(fault) => {
                let text = fault.to_string();
                let (kind, options) = text.split_once(' ').unwrap_or((&text, ""));
                write!(f, "{kind} {}", self.target)?;
                if !options.is_empty() {
                    write!(f, " {options}")?;
                }
            }
        }
        if let Some(ms) = self.for_ms {
            write!(f, " for={}", show_duration(ms))?;
        }
        Ok(())
    }
}

fn show_duration(ms: u64) -> String {
    if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Reads `250ms`, `30s`, `2m`, `1h`, or a sum like `1m30s`.
///
/// # Errors
/// A message naming the text.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err("a duration is missing (e.g. 30s)".into());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "{text:?} is not a duration (e.g. 500ms, 30s, 2m, 1h)"
            ));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{text:?} is too long a duration"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let part = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            "" => return Err(format!("{text:?} needs a unit: ms, s, m or h")),
            other => {
                return Err(format!(
                    "{text:?} has an unknown unit {other:?}: use ms, s, m or h"
                ));
            }
        };
        total = total.saturating_add(part);
        rest = &rest[unit_len..];
    }
    Ok(total)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn parse_target(text: &str) -> Result<Target, String> {
    let nonempty = |what: &str, v: &str| {
        if v.trim().is_empty() {
            Err(format!("{what} needs a name after the colon"))
        } else {
            Ok(v.trim().to_owned())
        }
    };
    Ok(match text.split_once(':') {
        None if text == "all" => Target::All,
        None if text == "primary" => Target::Primary(None),
        Some(("primary", c)) => Target::Primary(Some(nonempty("primary:", c)?)),
        Some(("cluster", c)) => Target::Cluster(nonempty("cluster:", c)?),
        Some(("random", n)) => match n.parse::<usize>() {
            Ok(n) if n > 0 => Target::Random(n),
            _ => return Err(format!("random:{n} needs a count of at least 1")),
        },
        Some(("node", n)) => Target::Nodes(vec![nonempty("node:", n)?]),
        Some((other, _)) => {
            return Err(format!(
                "unknown target {other:?}: use all, primary[:cluster], cluster:NAME, random:N or node names"
            ));
        }
        None => {
            let names: Vec<String> = text
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
            if names.is_empty() {
                return Err(
                    "a target is missing: all, primary, cluster:NAME, random:N or node names"
                        .into(),
                );
            }
            Target::Nodes(names)
        }
    })
}

fn parse_level(key: &str, value: Option<&str>) -> Result<f64, String> {
    let Some(v) = value else {
        return Ok(DEFAULT_PRESSURE);
    };
    match v.parse::<f64>() {
        Ok(l) if (0.0..=100.0).contains(&l) => Ok(l),
        _ => Err(format!("{key}={v} must be a percentage between 0 and 100")),
    }
}

impl std::str::FromStr for Command {
    type Err = String;

    /// `<action> <target> [key=value …]`.
    fn from_str(line: &str) -> Result<Self, String> {
        let mut words = line.split_whitespace();
        let action = words
            .next()
            .ok_or("a command is empty: write e.g. `fail primary`")?;
        let target = parse_target(words.next().ok_or_else(|| {
            format!("{action} needs a target: all, primary, cluster:NAME, random:N or node names")
        })?)?;
        let mut for_ms = None;
        let mut pressure = Pressure::default();
        let mut period = None;
        let mut by = None;
        for word in words {
            let (key, value) = match word.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (word, None),
            };
            let need = || value.ok_or_else(|| format!("{key} needs a value: {key}=…"));
            match (action, key) {
                (_, "for") => for_ms = Some(millis(parse_duration(need()?)?)),
                ("degrade", "cpu") => pressure.cpu = Some(parse_level(key, value)?),
                ("degrade", "memory") => pressure.memory = Some(parse_level(key, value)?),
                ("degrade", "disk") => pressure.disk = Some(parse_level(key, value)?),
                ("flap", "period") => period = Some(parse_duration(need()?)?),
                ("delay", "by") => by = Some(parse_duration(need()?)?),
                _ => return Err(format!("{action} takes no option {key:?}")),
            }
        }
        if for_ms == Some(0) {
            return Err("for= must be longer than zero".into());
        }
        let fault = match action {
            "heal" => {
                return Ok(Command {
                    action: Action::Heal,
                    target,
                    for_ms: None,
                });
            }
            "fail" => Fault::Fail,
            "partition" => Fault::Partition,
            "degrade" => {
                if pressure == Pressure::default() {
                    pressure.cpu = Some(DEFAULT_PRESSURE);
                }
                Fault::Degrade {
                    cpu: pressure.cpu,
                    memory: pressure.memory,
                    disk: pressure.disk,
                }
            }
            "flap" => {
                let p = period.unwrap_or(Duration::from_secs(30));
                if p < Duration::from_secs(1) {
                    return Err("flap period= must be at least 1s".into());
                }
                Fault::Flap {
                    period_ms: millis(p),
                }
            }
            "delay" => Fault::Delay {
                by_ms: millis(by.ok_or("delay needs by=DURATION, e.g. delay web-1 by=40s")?),
            },
            other => {
                return Err(format!(
                    "unknown action {other:?}: use fail, partition, degrade, flap, delay or heal"
                ));
            }
        };
        Ok(Command {
            action: Action::Inject(fault),
            target,
            for_ms,
        })
    }
}

/// What a node is doing at a moment, given its faults.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Condition {
    /// The host is down: it takes no samples.
    pub down: bool,
    /// Samples wait instead of being sent.
    pub cut_off: bool,
    pub pressure: Pressure,
    pub delay: Duration,
}

/// One fault on one node, until a moment of the fleet's clock (or healed).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Active {
    fault: Fault,
    since: Duration,
    until: Option<Duration>,
}

/// The faults on one node; times are the fleet's clock (time since it started).
#[derive(Debug, Clone, Default)]
pub struct NodeFaults {
    active: Vec<Active>,
}

impl NodeFaults {
    /// Adds `fault` from `now`, replacing one of the same kind.
    pub fn inject(&mut self, fault: Fault, now: Duration, for_: Option<Duration>) {
        self.active.retain(|a| a.fault.kind() != fault.kind());
        self.active.push(Active {
            fault,
            since: now,
            until: for_.map(|d| now + d),
        });
    }

    /// Heals everything; `true` when the node was down (it reboots).
    pub fn heal(&mut self) -> bool {
        let was_down = self
            .active
            .iter()
            .any(|a| matches!(a.fault, Fault::Fail | Fault::Flap { .. }));
        self.active.clear();
        was_down
    }

    /// Drops faults whose time is over; `true` when a failure ended.
    pub fn expire(&mut self, now: Duration) -> bool {
        let before = self.active.iter().any(|a| a.fault == Fault::Fail);
        self.active.retain(|a| a.until.is_none_or(|u| now < u));
        before && !self.active.iter().any(|a| a.fault == Fault::Fail)
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// The faults, as the command line writes them.
    #[must_use]
    pub fn describe(&self) -> Vec<String> {
        self.active.iter().map(|a| a.fault.to_string()).collect()
    }

    /// What the node does at `now`.
    #[must_use]
    pub fn condition(&self, now: Duration) -> Condition {
        let mut c = Condition::default();
        for a in &self.active {
            match a.fault {
                Fault::Fail => c.down = true,
                Fault::Partition => c.cut_off = true,
                Fault::Degrade { cpu, memory, disk } => {
                    c.pressure = Pressure {
                        cpu: cpu.or(c.pressure.cpu),
                        memory: memory.or(c.pressure.memory),
                        disk: disk.or(c.pressure.disk),
                    };
                }
                Fault::Flap { period_ms } => {
                    let phase = millis(now.saturating_sub(a.since)) / period_ms.max(1);
                    if phase.is_multiple_of(2) {
                        c.down = true;
                    }
                }
                Fault::Delay { by_ms } => c.delay = Duration::from_millis(by_ms),
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(s: &str) -> Result<Command, String> {
        s.parse()
    }

    #[test]
    fn commands_read_and_write_the_same_text() {
        for line in [
            "fail primary",
            "fail primary:payments for=1m",
            "partition web-1,web-2 for=90s",
            "degrade cluster:edge cpu=97 disk=96",
            "flap random:3 period=20s",
            "delay node-7 by=40s for=2m",
            "heal all",
        ] {
            let c = cmd(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(c.to_string(), line);
        }
        assert_eq!(
            cmd("degrade web-1").map(|c| c.to_string()),
            Ok("degrade web-1 cpu=97".into())
        );
        assert_eq!(
            cmd("fail node:web-1").map(|c| c.target),
            Ok(Target::Nodes(vec!["web-1".into()]))
        );
    }

    #[test]
    fn bad_commands_say_what_is_wrong() {
        let err = |s: &str| cmd(s).expect_err(s);
        assert!(err("").contains("empty"));
        assert!(err("explode all").contains("unknown action"));
        assert!(err("fail").contains("needs a target"));
        assert!(err("fail galaxy:x").contains("unknown target"));
        assert!(err("fail random:0").contains("at least 1"));
        assert!(err("fail cluster:").contains("needs a name"));
        assert!(err("degrade all cpu=140").contains("between 0 and 100"));
        assert!(err("delay all").contains("by="));
        assert!(err("delay all by=soon").contains("not a duration"));
        assert!(err("fail all for=10").contains("needs a unit"));
        assert!(err("fail all for=0s").contains("longer than zero"));
        assert!(err("fail all cpu=90").contains("takes no option"));
        assert!(err("flap all period=10ms").contains("at least 1s"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_hours(2)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("5 s").is_err());
        assert!(parse_duration("99999999999999999999999s").is_err());
    }

    #[test]
    fn faults_combine_expire_and_heal() {
        let s = Duration::from_secs;
        let mut f = NodeFaults::default();
        f.inject(Fault::Fail, s(10), Some(s(30)));
        f.inject(
            Fault::Degrade {
                cpu: Some(97.0),
                memory: None,
                disk: None,
            },
            s(10),
            None,
        );
        let c = f.condition(s(20));
        assert!(c.down && !c.cut_off);
        assert_eq!(c.pressure.cpu, Some(97.0));
        assert!(!f.expire(s(39)));
        assert!(f.expire(s(40)), "the failure is over: the host reboots");
        assert!(!f.condition(s(40)).down);
        assert_eq!(f.describe(), vec!["degrade cpu=97".to_owned()]);
        assert!(!f.heal());
        assert!(f.is_empty());

        f.inject(Fault::Flap { period_ms: 10_000 }, s(0), None);
        assert!(f.condition(s(5)).down);
        assert!(!f.condition(s(15)).down);
        assert!(f.condition(s(25)).down);
        f.inject(Fault::Delay { by_ms: 40_000 }, s(0), None);
        f.inject(Fault::Delay { by_ms: 5_000 }, s(1), None);
        assert_eq!(
            f.condition(s(15)).delay,
            s(5),
            "a newer delay replaces the older"
        );
        assert!(f.heal(), "a flapping node was down");
    }
}
