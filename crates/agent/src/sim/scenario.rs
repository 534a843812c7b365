//! Scripted scenarios: a small text file, one step per line, `<when> <command>`,
//! where `<when>` is the time since the scenario started (`30s`) or since the
//! previous step (`+10s`); `#` starts a comment.
//!
//! ```text
//! # the primary dies and comes back two minutes later
//! 10s  fail primary for=2m
//! +30s degrade random:2 cpu=97 for=1m
//! ```

use std::time::Duration;

use super::fault::{Command, parse_duration};
use super::fleet::Fleet;

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Since the scenario started.
    pub at: Duration,
    pub command: Command,
}

/// Reads a scenario.
///
/// # Errors
/// The first bad line, by number, with what is wrong with it.
pub fn parse(text: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let mut previous = Duration::ZERO;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let at_line = |e: String| format!("line {}: {e}", i + 1);
        let (when, command) = line.split_once(char::is_whitespace).ok_or_else(|| {
            at_line(format!(
                "{line:?} needs a time and a command, e.g. `10s fail primary`"
            ))
        })?;
        let at = if let Some(rel) = when.strip_prefix('+') {
            previous + parse_duration(rel).map_err(at_line)?
        } else {
            let at = parse_duration(when).map_err(at_line)?;
            if at < previous {
                return Err(at_line(format!(
                    "{when} comes before the previous step; use +{when} for a time after it"
                )));
            }
            at
        };
        let command = command.trim().parse::<Command>().map_err(at_line)?;
        previous = at;
        steps.push(Step { at, command });
    }
    if steps.is_empty() {
        return Err("the scenario has no steps".into());
    }
    Ok(steps)
}

/// Carries out the steps at their times, saying what each did through `log`;
/// returns after the last step, or when `stop` turns true.
pub async fn play(
    fleet: &Fleet,
    steps: &[Step],
    mut stop: tokio::sync::watch::Receiver<bool>,
    log: impl Fn(String),
) {
    let start = tokio::time::Instant::now();
    for step in steps {
        tokio::select! {
            () = tokio::time::sleep_until(start + step.at) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        match fleet.apply(&step.command) {
            Ok(names) => log(format!(
                "scenario at {} s: {} -> {}",
                step.at.as_secs(),
                step.command,
                names.join(", ")
            )),
            Err(why) => log(format!(
                "scenario at {} s: {} did nothing: {why}",
                step.at.as_secs(),
                step.command
            )),
        }
    }
    log("scenario: last step done".into());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::fault::{Action, Fault, Target};

    #[test]
    fn steps_are_read_in_order_with_relative_times() {
        let steps = parse(
            "# fail the primary\n\n10s fail primary for=2m\n+30s   degrade random:2 cpu=97 # hot\n1m heal all\n",
        )
        .expect("a scenario");
        let at: Vec<u64> = steps.iter().map(|s| s.at.as_secs()).collect();
        assert_eq!(at, [10, 40, 60]);
        assert_eq!(steps[0].command.action, Action::Inject(Fault::Fail));
        assert_eq!(steps[0].command.target, Target::Primary(None));
        assert_eq!(steps[0].command.for_ms, Some(120_000));
        assert_eq!(steps[2].command.action, Action::Heal);
    }

    #[test]
    fn a_bad_line_is_named() {
        assert_eq!(
            parse("10s fail primary\n5s heal all"),
            Err("line 2: 5s comes before the previous step; use +5s for a time after it".into())
        );
        assert!(parse("10s").expect_err("no command").starts_with("line 1:"));
        assert!(
            parse("soon fail all")
                .expect_err("bad time")
                .starts_with("line 1:")
        );
        assert!(
            parse("1s melt all")
                .expect_err("bad action")
                .contains("unknown action")
        );
        assert_eq!(
            parse("# nothing\n"),
            Err("the scenario has no steps".into())
        );
    }
}
