//! `muster-agent`: runs on each node and reports its host to a Muster server.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use muster_domain::NodeStatus;
use muster_domain::protocol::{HeartbeatRequest, PROTOCOL_VERSION};

mod collector;

use collector::Collector;

#[derive(Debug, Parser)]
#[command(name = "muster-agent", version, about = "Muster's node agent")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure this host once and print the heartbeat the agent would send, as JSON.
    Sample {
        /// How long to measure CPU and network rates over, e.g. 1s or 500ms.
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        over: Duration,
    },
}

/// Parses `250ms`, `1s`, `2m`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} needs a unit: ms, s or m"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a whole number"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_mins(n),
        other => return Err(format!("unknown unit {other:?}: use ms, s or m")),
    };
    if d < collector::MIN_WINDOW || d > Duration::from_mins(10) {
        return Err(format!(
            "{text} is out of range: between {} ms and 10 m",
            collector::MIN_WINDOW.as_millis()
        ));
    }
    Ok(d)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Sample { over } => match sample(over) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("muster-agent: {message}");
                ExitCode::FAILURE
            }
        },
    }
}

fn sample(over: Duration) -> Result<String, String> {
    let mut collector = Collector::new().map_err(|e| format!("cannot read this host: {e}"))?;
    std::thread::sleep(over);
    let sample = collector.sample();
    let heartbeat = HeartbeatRequest {
        protocol_version: PROTOCOL_VERSION,
        seq: 0,
        status: NodeStatus::Online,
        metrics: sample.metrics,
        system: sample.system,
        processes: sample.processes,
    };
    serde_json::to_string_pretty(&heartbeat).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_need_a_unit_and_a_sane_range() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_mins(2)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("1h").is_err());
        assert!(parse_duration("10ms").is_err());
        assert!(parse_duration("11m").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("99999999999999999999s").is_err());
    }
}
