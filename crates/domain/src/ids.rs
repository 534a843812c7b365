//! Cluster and node identifiers (DESIGN.md §4, Identifiers).
//!
//! * cluster: `cluster-<r8>-<YYYY>-<MM>-<DD>-<HH>-<MM>-<SS>-<r8>`
//! * node: `node-<cluster r8>-<cluster YYYY-MM-DD>-<n>-<r8>`
//!
//! `r8` is eight characters of `[a-z0-9]`, the timestamp is the cluster's creation
//! time in UTC and `n` is the node's sequence in its cluster, from 1.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use rand_core::RngCore;
use serde::{Deserialize, Serialize};

/// Longest input the parsers look at; a cluster id is 45 characters and a node id
/// at most 44, so anything longer is rejected before it is split.
const MAX_ID_LEN: usize = 64;
const RANDOM_LEN: usize = 8;
const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("id must not be empty")]
    Empty,
    #[error("id is too long ({0} characters, at most {MAX_ID_LEN})")]
    TooLong(usize),
    #[error("id must start with \"{0}-\"")]
    WrongPrefix(&'static str),
    #[error("id must have {expected} dash-separated parts, found {found}")]
    WrongShape { expected: usize, found: usize },
    #[error("{part} must be 8 characters of a-z and 0-9")]
    BadRandom { part: &'static str },
    #[error("{part} is not a valid number")]
    BadNumber { part: &'static str },
    #[error("the timestamp in the id is not a real date and time")]
    BadTimestamp,
    #[error("the node sequence must be a number from 1 without leading zeros")]
    BadSequence,
    #[error("node {node} does not belong to cluster {cluster}")]
    ClusterMismatch { node: String, cluster: String },
}

fn random_part(rng: &mut impl RngCore) -> String {
    (0..RANDOM_LEN)
        .map(|_| {
            // Rejection sampling keeps every character equally likely.
            loop {
                let byte = (rng.next_u32() & 0xff) as u8;
                if byte < 252 {
                    return char::from(ALPHABET[usize::from(byte % 36)]);
                }
            }
        })
        .collect()
}

fn check_random(part: &str, name: &'static str) -> Result<(), IdError> {
    if part.len() == RANDOM_LEN
        && part
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        Ok(())
    } else {
        Err(IdError::BadRandom { part: name })
    }
}

/// Parses a fixed-width decimal field such as `YYYY` or `MM`.
fn fixed_number(part: &str, width: usize, name: &'static str) -> Result<u32, IdError> {
    if part.len() != width || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IdError::BadNumber { part: name });
    }
    part.parse().map_err(|_| IdError::BadNumber { part: name })
}

fn split_checked<'a>(
    input: &'a str,
    prefix: &'static str,
    expected: usize,
) -> Result<Vec<&'a str>, IdError> {
    if input.is_empty() {
        return Err(IdError::Empty);
    }
    let len = input.chars().count();
    if len > MAX_ID_LEN {
        return Err(IdError::TooLong(len));
    }
    let parts: Vec<&str> = input.split('-').collect();
    if parts[0] != prefix {
        return Err(IdError::WrongPrefix(prefix));
    }
    if parts.len() != expected {
        return Err(IdError::WrongShape {
            expected,
            found: parts.len(),
        });
    }
    Ok(parts)
}

fn parse_date(year: &str, month: &str, day: &str) -> Result<NaiveDate, IdError> {
    let y = fixed_number(year, 4, "year")?;
    let m = fixed_number(month, 2, "month")?;
    let d = fixed_number(day, 2, "day")?;
    let y = i32::try_from(y).map_err(|_| IdError::BadTimestamp)?;
    NaiveDate::from_ymd_opt(y, m, d).ok_or(IdError::BadTimestamp)
}

/// A validated cluster identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClusterId {
    text: String,
    created_at: DateTime<Utc>,
}

impl ClusterId {
    /// A new id for a cluster created at `now` (truncated to the second).
    pub fn generate(now: DateTime<Utc>, rng: &mut impl RngCore) -> Self {
        let text = format!(
            "cluster-{}-{}-{}",
            random_part(rng),
            now.format("%Y-%m-%d-%H-%M-%S"),
            random_part(rng)
        );
        // The text was built from valid parts, so parsing it cannot fail; parse
        // anyway so there is one constructor and no second source of truth.
        match Self::parse(&text) {
            Ok(id) => id,
            Err(e) => unreachable!("generated cluster id {text} failed to parse: {e}"),
        }
    }

    /// Parses and validates every part of a cluster id.
    ///
    /// # Errors
    /// A specific [`IdError`] naming the first part that is wrong.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let p = split_checked(input, "cluster", 9)?;
        check_random(p[1], "the first random part")?;
        let date = parse_date(p[2], p[3], p[4])?;
        let h = fixed_number(p[5], 2, "hour")?;
        let mi = fixed_number(p[6], 2, "minute")?;
        let s = fixed_number(p[7], 2, "second")?;
        let time = NaiveTime::from_hms_opt(h, mi, s).ok_or(IdError::BadTimestamp)?;
        check_random(p[8], "the last random part")?;
        Ok(Self {
            text: input.to_owned(),
            created_at: NaiveDateTime::new(date, time).and_utc(),
        })
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first random part, which every node id of this cluster repeats.
    #[must_use]
    pub fn random_prefix(&self) -> &str {
        &self.text[8..16]
    }

    #[must_use]
    pub fn random_suffix(&self) -> &str {
        &self.text[self.text.len() - RANDOM_LEN..]
    }

    /// The creation time encoded in the id (UTC, whole seconds).
    #[must_use]
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for ClusterId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for ClusterId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ClusterId> for String {
    fn from(id: ClusterId) -> Self {
        id.text
    }
}

/// A validated node identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeId {
    text: String,
    cluster_date: NaiveDate,
    sequence: u32,
}

impl NodeId {
    /// A new id for the `sequence`-th node of `cluster` (sequences start at 1).
    ///
    /// # Panics
    /// If `sequence` is 0; the store hands out sequences from 1.
    pub fn generate(cluster: &ClusterId, sequence: u32, rng: &mut impl RngCore) -> Self {
        assert!(sequence >= 1, "node sequences start at 1");
        let text = format!(
            "node-{}-{}-{}-{}",
            cluster.random_prefix(),
            cluster.created_at().format("%Y-%m-%d"),
            sequence,
            random_part(rng)
        );
        match Self::parse(&text) {
            Ok(id) => id,
            Err(e) => unreachable!("generated node id {text} failed to parse: {e}"),
        }
    }

    /// Parses and validates every part of a node id.
    ///
    /// # Errors
    /// A specific [`IdError`] naming the first part that is wrong.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let p = split_checked(input, "node", 7)?;
        check_random(p[1], "the cluster part")?;
        let cluster_date = parse_date(p[2], p[3], p[4])?;
        let seq = p[5];
        if seq.is_empty() || seq.starts_with('0') || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::BadSequence);
        }
        let sequence: u32 = seq.parse().map_err(|_| IdError::BadSequence)?;
        check_random(p[6], "the random part")?;
        Ok(Self {
            text: input.to_owned(),
            cluster_date,
            sequence,
        })
    }

    /// Parses `input` and checks that it names a node of `cluster`.
    ///
    /// # Errors
    /// As [`NodeId::parse`], or [`IdError::ClusterMismatch`].
    pub fn parse_for_cluster(input: &str, cluster: &ClusterId) -> Result<Self, IdError> {
        let id = Self::parse(input)?;
        if id.belongs_to(cluster) {
            Ok(id)
        } else {
            Err(IdError::ClusterMismatch {
                node: input.to_owned(),
                cluster: cluster.to_string(),
            })
        }
    }

    /// Whether this id carries `cluster`'s random prefix and creation date.
    #[must_use]
    pub fn belongs_to(&self, cluster: &ClusterId) -> bool {
        self.cluster_random() == cluster.random_prefix()
            && self.cluster_date == cluster.created_at().date_naive()
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    #[must_use]
    pub fn cluster_random(&self) -> &str {
        &self.text[5..5 + RANDOM_LEN]
    }

    #[must_use]
    pub fn cluster_date(&self) -> NaiveDate {
        self.cluster_date
    }

    /// The node's sequence in its cluster (from 1, never reused).
    #[must_use]
    pub fn sequence(&self) -> u32 {
        self.sequence
    }

    #[must_use]
    pub fn random_suffix(&self) -> &str {
        &self.text[self.text.len() - RANDOM_LEN..]
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for NodeId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for NodeId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<NodeId> for String {
    fn from(id: NodeId) -> Self {
        id.text
    }
}

#[cfg(feature = "openapi")]
mod schema {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

    fn id_schema(pattern: &str, example: &str, description: &str) -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(pattern))
            .description(Some(description))
            .examples([example])
            .into()
    }

    impl utoipa::PartialSchema for super::ClusterId {
        fn schema() -> RefOr<Schema> {
            id_schema(
                "^cluster-[a-z0-9]{8}-[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[a-z0-9]{8}$",
                "cluster-a1b2c3d4-2026-01-21-12-00-00-e5f6g7h8",
                "Cluster id: random part, creation time (UTC), random part",
            )
        }
    }
    impl utoipa::ToSchema for super::ClusterId {}

    impl utoipa::PartialSchema for super::NodeId {
        fn schema() -> RefOr<Schema> {
            id_schema(
                "^node-[a-z0-9]{8}-[0-9]{4}-[0-9]{2}-[0-9]{2}-[1-9][0-9]*-[a-z0-9]{8}$",
                "node-a1b2c3d4-2026-01-21-1-1i2j3k4l",
                "Node id: its cluster's random part and date, its sequence, a random part",
            )
        }
    }
    impl utoipa::ToSchema for super::NodeId {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .expect("valid test time")
    }

    #[test]
    fn design_examples_parse_into_their_parts() {
        let c = ClusterId::parse("cluster-a1b2c3d4-2026-01-21-12-00-00-e5f6g7h8").expect("valid");
        assert_eq!(c.random_prefix(), "a1b2c3d4");
        assert_eq!(c.random_suffix(), "e5f6g7h8");
        assert_eq!(c.created_at(), at(2026, 1, 21, 12, 0, 0));

        let n = NodeId::parse("node-a1b2c3d4-2026-01-21-1-1i2j3k4l").expect("valid");
        assert_eq!(n.cluster_random(), "a1b2c3d4");
        assert_eq!(
            n.cluster_date(),
            NaiveDate::from_ymd_opt(2026, 1, 21).expect("date")
        );
        assert_eq!(n.sequence(), 1);
        assert_eq!(n.random_suffix(), "1i2j3k4l");
        assert!(n.belongs_to(&c));
    }

    #[test]
    fn generated_ids_have_the_documented_shape() {
        let mut rng = StdRng::seed_from_u64(7);
        let now = at(2026, 11, 22, 8, 5, 9);
        let c = ClusterId::generate(now, &mut rng);
        assert!(c.as_str().starts_with("cluster-"));
        assert!(c.as_str().contains("-2026-11-22-08-05-09-"));
        assert_eq!(c.as_str().len(), 45);
        let n = NodeId::generate(&c, 12, &mut rng);
        assert_eq!(n.sequence(), 12);
        assert!(
            n.as_str()
                .starts_with(&format!("node-{}-2026-11-22-12-", c.random_prefix()))
        );
        assert!(n.belongs_to(&c));
    }

    #[test]
    fn specific_errors_for_each_wrong_part() {
        use IdError::*;
        let cases: &[(&str, IdError)] = &[
            ("", Empty),
            (
                "node-a1b2c3d4-2026-01-21-12-00-00-e5f6g7h8",
                WrongPrefix("cluster"),
            ),
            (
                "cluster-a1b2c3d4-2026-01-21-12-00-e5f6g7h8",
                WrongShape {
                    expected: 9,
                    found: 8,
                },
            ),
            (
                "cluster-A1B2C3D4-2026-01-21-12-00-00-e5f6g7h8",
                BadRandom {
                    part: "the first random part",
                },
            ),
            (
                "cluster-a1b2c3d4-2026-02-30-12-00-00-e5f6g7h8",
                BadTimestamp,
            ),
            (
                "cluster-a1b2c3d4-2026-01-21-24-00-00-e5f6g7h8",
                BadTimestamp,
            ),
            (
                "cluster-a1b2c3d4-2026-1-21-12-00-00-e5f6g7h8",
                BadNumber { part: "month" },
            ),
            (
                "cluster-a1b2c3d4-2026-01-21-12-00-00-e5f6g7h",
                BadRandom {
                    part: "the last random part",
                },
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                ClusterId::parse(input).as_ref().err(),
                Some(expected),
                "{input}"
            );
        }
        let long = format!("cluster-{}", "a".repeat(80));
        assert_eq!(ClusterId::parse(&long).err(), Some(TooLong(88)));

        let node_cases: &[(&str, IdError)] = &[
            ("node-a1b2c3d4-2026-01-21-0-1i2j3k4l", BadSequence),
            ("node-a1b2c3d4-2026-01-21-01-1i2j3k4l", BadSequence),
            ("node-a1b2c3d4-2026-01-21-99999999999-1i2j3k4l", BadSequence),
            ("node-a1b2c3d4-2026-13-21-1-1i2j3k4l", BadTimestamp),
            (
                "node-a1b2c3d4-2026-01-21-1",
                WrongShape {
                    expected: 7,
                    found: 6,
                },
            ),
        ];
        for (input, expected) in node_cases {
            assert_eq!(
                NodeId::parse(input).as_ref().err(),
                Some(expected),
                "{input}"
            );
        }
    }

    #[test]
    fn node_must_match_the_cluster_it_claims() {
        let c = ClusterId::parse("cluster-a1b2c3d4-2026-01-21-12-00-00-e5f6g7h8").expect("valid");
        assert!(NodeId::parse_for_cluster("node-a1b2c3d4-2026-01-21-3-zzzzzzzz", &c).is_ok());
        for other in [
            "node-b1b2c3d4-2026-01-21-3-zzzzzzzz",
            "node-a1b2c3d4-2026-01-22-3-zzzzzzzz",
        ] {
            assert!(matches!(
                NodeId::parse_for_cluster(other, &c),
                Err(IdError::ClusterMismatch { .. })
            ));
        }
    }

    #[test]
    fn serde_round_trips_and_rejects_bad_text() {
        let c: ClusterId =
            serde_json::from_str("\"cluster-a1b2c3d4-2026-01-21-12-00-00-e5f6g7h8\"").expect("ok");
        assert_eq!(
            serde_json::to_string(&c).expect("ser"),
            "\"cluster-a1b2c3d4-2026-01-21-12-00-00-e5f6g7h8\""
        );
        assert!(serde_json::from_str::<NodeId>("\"node-x\"").is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic(s in "\\PC{0,80}") {
            let _ = ClusterId::parse(&s);
            let _ = NodeId::parse(&s);
        }

        #[test]
        fn near_miss_strings_never_panic(s in "(cluster|node)-[a-z0-9-]{0,50}") {
            let _ = ClusterId::parse(&s);
            let _ = NodeId::parse(&s);
        }

        #[test]
        fn generated_ids_round_trip(seed in any::<u64>(), secs in 0i64..4_102_444_800, seq in 1u32..1_000_000) {
            let mut rng = StdRng::seed_from_u64(seed);
            let now = DateTime::<Utc>::from_timestamp(secs, 0).expect("in range");
            let c = ClusterId::generate(now, &mut rng);
            prop_assert_eq!(ClusterId::parse(c.as_str()), Ok(c.clone()));
            prop_assert_eq!(c.created_at(), now);
            let n = NodeId::generate(&c, seq, &mut rng);
            prop_assert_eq!(NodeId::parse_for_cluster(n.as_str(), &c), Ok(n.clone()));
            prop_assert_eq!(n.sequence(), seq);
        }
    }
}
