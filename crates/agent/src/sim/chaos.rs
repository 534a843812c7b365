//! `--chaos`: random faults, reproducible from the seed. Every round it may
//! pick a fault, its victims and its length; the same seed and the same fleet
//! give the same faults in the same rounds.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

use super::fault::{Action, Command, Fault, Target};
use super::fleet::Fleet;

/// How often chaos considers striking.
pub const ROUND: Duration = Duration::from_secs(5);

/// Picks faults for a fleet of named nodes.
#[derive(Debug)]
pub struct Chaos {
    rng: StdRng,
}

impl Chaos {
    #[must_use]
    pub fn new(seed: u64) -> Self {
        // Apart from the seed's other uses, so chaos and the metrics differ.
        Self {
            rng: StdRng::seed_from_u64(seed ^ 0xC4A0_5C4A_05C4_A05C),
        }
    }

    /// This round's fault, if chaos strikes: on average every third round,
    /// on one to three nodes (or up to 1 % of a large fleet), healing itself
    /// after 20 s to 3 min.
    pub fn round(&mut self, names: &[String]) -> Option<Command> {
        if names.is_empty() || !self.rng.random_bool(1.0 / 3.0) {
            return None;
        }
        let most = (names.len() / 100).max(3).min(names.len());
        let count = self.rng.random_range(1..=most);
        let victims: Vec<String> = rand::seq::index::sample(&mut self.rng, names.len(), count)
            .into_iter()
            .map(|i| names[i].clone())
            .collect();
        let level = |rng: &mut StdRng| Some(f64::from(rng.random_range(91u8..=99)));
        let fault = match self.rng.random_range(0..100) {
            0..25 => Fault::Fail,
            25..40 => Fault::Partition,
            40..55 => Fault::Degrade {
                cpu: level(&mut self.rng),
                memory: None,
                disk: None,
            },
            55..65 => Fault::Degrade {
                cpu: None,
                memory: level(&mut self.rng),
                disk: None,
            },
            65..70 => Fault::Degrade {
                cpu: None,
                memory: None,
                disk: level(&mut self.rng),
            },
            70..80 => Fault::Flap {
                period_ms: self.rng.random_range(10..=40) * 1000,
            },
            _ => Fault::Delay {
                by_ms: self.rng.random_range(5..=60) * 1000,
            },
        };
        Some(Command {
            action: Action::Inject(fault),
            target: Target::Nodes(victims),
            for_ms: Some(self.rng.random_range(20..=180) * 1000),
        })
    }
}

/// Strikes the fleet every [`ROUND`] as [`Chaos::round`] decides, saying
/// what it did through `log`, until `stop` turns true.
pub async fn unleash(
    fleet: &Fleet,
    seed: u64,
    mut stop: tokio::sync::watch::Receiver<bool>,
    log: impl Fn(String),
) {
    let mut chaos = Chaos::new(seed);
    let names = fleet.names();
    let mut rounds = tokio::time::interval(ROUND);
    rounds.tick().await;
    loop {
        tokio::select! {
            _ = rounds.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        if let Some(command) = chaos.round(&names) {
            if let Err(why) = fleet.apply(&command) {
                log(format!("chaos: {command} did nothing: {why}"));
            } else {
                log(format!("chaos: {command}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("sim-{i}")).collect()
    }

    #[test]
    fn the_seed_replays_the_same_faults() {
        let fleet = names(40);
        let run = |seed| {
            let mut c = Chaos::new(seed);
            (0..200).map(|_| c.round(&fleet)).collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
        let faults = run(42).into_iter().flatten().count();
        assert!(
            (40..=95).contains(&faults),
            "about one round in three: {faults}"
        );
    }

    #[test]
    fn victims_are_fleet_members_and_faults_heal_themselves() {
        let fleet = names(1000);
        let mut c = Chaos::new(7);
        for _ in 0..300 {
            if let Some(cmd) = c.round(&fleet) {
                let Target::Nodes(v) = &cmd.target else {
                    panic!("chaos names its victims: {cmd}");
                };
                assert!((1..=10).contains(&v.len()), "{cmd}");
                assert!(v.iter().all(|n| fleet.contains(n)));
                assert!(
                    cmd.for_ms
                        .is_some_and(|ms| (20_000..=180_000).contains(&ms))
                );
                assert!(cmd.to_string().parse::<Command>().is_ok(), "{cmd}");
            }
        }
        assert_eq!(Chaos::new(1).round(&[]), None);
    }
}
