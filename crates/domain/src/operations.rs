//! The operations catalog (DESIGN.md §4, Operations): each operation's
//! parameters and their validation, the least role that may run it, its rate
//! limit class, the guards that demand `force`, and the dry-run impact.
//!
//! Decisions where the design is open:
//! * `force` and `dry_run` are flags of the request, not parameters.
//! * Operators run node operations that can be undone (cordon, drain,
//!   maintenance, promotion, coordinator choice, agent actions); decommissioning,
//!   removing, token rotation and cluster-wide operations need an admin.
//! * A draining node still runs: draining takes the primary or coordinator
//!   role away (failover treats it so) but not a node from the quorum.
//! * Cordoning only stops a node from being chosen; it guards nothing.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::coordination::{Leadership, Member, appoint_coordinator, promote, reconcile};
use crate::errors::FieldErrors;
use crate::health::{NodeCondition, QuorumStatus, health_breakdown, quorum};
use crate::ids::{ClusterId, NodeId};
use crate::node::NodeStatus;

text_enum!(
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    OperationName, "operation" {
        Cordon => "cordon",
        Uncordon => "uncordon",
        Drain => "drain",
        MaintenanceOn => "maintenance_on",
        MaintenanceOff => "maintenance_off",
        PromotePrimary => "promote_primary",
        SetCoordinator => "set_coordinator",
        DecommissionNode => "decommission_node",
        RemoveNode => "remove_node",
        RotateNodeToken => "rotate_node_token",
        ApplyTemplate => "apply_template",
        DecommissionCluster => "decommission_cluster",
        CollectNow => "collect_now",
        SignalProcess => "signal_process",
    }
);

text_enum!(
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    /// What a user may do, each role including the ones before it.
    Role, "role" {
        Viewer => "viewer",
        Operator => "operator",
        Admin => "admin",
    }
);

impl Role {
    fn rank(self) -> u8 {
        match self {
            Self::Viewer => 0,
            Self::Operator => 1,
            Self::Admin => 2,
        }
    }

    /// Whether this role includes `needed`.
    #[must_use]
    pub fn allows(self, needed: Role) -> bool {
        self.rank() >= needed.rank()
    }
}

text_enum!(
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    /// Rate limit classes: how often one user may run operations of a class.
    RateClass, "rate_class" {
        Routine => "routine",
        Disruptive => "disruptive",
        Destructive => "destructive",
    }
);

impl RateClass {
    /// Runs allowed per user per minute.
    #[must_use]
    pub fn per_minute(self) -> u32 {
        match self {
            Self::Routine => 30,
            Self::Disruptive => 10,
            Self::Destructive => 6,
        }
    }
}

text_enum!(
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    OperationTarget, "target" {
        Node => "node",
        Cluster => "cluster",
    }
);

/// Signals `signal_process` may send.
pub const SIGNALS: &[&str] = &["TERM", "INT", "HUP", "KILL", "USR1", "USR2"];
/// Longest a maintenance window may be set to last.
pub const MAX_MAINTENANCE_DAYS: i64 = 30;
pub const MAX_REASON_CHARS: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ParamKind {
    Text {
        max_chars: usize,
    },
    Integer {
        min: i64,
        max: i64,
    },
    Choice {
        values: &'static [&'static str],
    },
    /// RFC 3339, in the future, at most [`MAX_MAINTENANCE_DAYS`] ahead.
    FutureTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamKind,
    pub required: bool,
    /// The value used when the parameter is absent, as JSON text.
    pub default: Option<&'static str>,
    pub description: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OperationSpec {
    pub name: OperationName,
    pub title: &'static str,
    pub description: &'static str,
    pub target: OperationTarget,
    pub min_role: Role,
    pub rate_class: RateClass,
    /// Delivered to the node's agent in its next heartbeat response.
    pub agent_side: bool,
    pub params: &'static [ParamSpec],
}

const REASON: ParamSpec = ParamSpec {
    name: "reason",
    kind: ParamKind::Text {
        max_chars: MAX_REASON_CHARS,
    },
    required: false,
    default: None,
    description: "Why; recorded in the event log",
};

const CATALOG: &[OperationSpec] = &[
    OperationSpec {
        name: OperationName::Cordon,
        title: "Cordon",
        description: "Stop choosing this node as primary or coordinator",
        target: OperationTarget::Node,
        min_role: Role::Operator,
        rate_class: RateClass::Routine,
        agent_side: false,
        params: &[REASON],
    },
    OperationSpec {
        name: OperationName::Uncordon,
        title: "Uncordon",
        description: "Let this node be chosen again (also ends a drain)",
        target: OperationTarget::Node,
        min_role: Role::Operator,
        rate_class: RateClass::Routine,
        agent_side: false,
        params: &[],
    },
    OperationSpec {
        name: OperationName::Drain,
        title: "Drain",
        description: "Move leadership away from this node before taking it down",
        target: OperationTarget::Node,
        min_role: Role::Operator,
        rate_class: RateClass::Disruptive,
        agent_side: false,
        params: &[REASON],
    },
    OperationSpec {
        name: OperationName::MaintenanceOn,
        title: "Start maintenance",
        description: "Take this node out of health scoring and leadership",
        target: OperationTarget::Node,
        min_role: Role::Operator,
        rate_class: RateClass::Disruptive,
        agent_side: false,
        params: &[
            ParamSpec {
                name: "reason",
                kind: ParamKind::Text {
                    max_chars: MAX_REASON_CHARS,
                },
                required: true,
                default: None,
                description: "Why the node is in maintenance",
            },
            ParamSpec {
                name: "expires_at",
                kind: ParamKind::FutureTime,
                required: false,
                default: None,
                description: "When maintenance ends by itself (RFC 3339)",
            },
        ],
    },
    OperationSpec {
        name: OperationName::MaintenanceOff,
        title: "End maintenance",
        description: "Return this node to service",
        target: OperationTarget::Node,
        min_role: Role::Operator,
        rate_class: RateClass::Routine,
        agent_side: false,
        params: &[],
    },
    OperationSpec {
        name: OperationName::PromotePrimary,
        title: "Promote to primary",
        description: "Make this node the cluster's primary (raises its priority to 100)",
        target: OperationTarget::Node,
        min_role: Role::Operator,
        rate_class: RateClass::Disruptive,
        agent_side: false,
        params: &[],
    },
    OperationSpec {
        name: OperationName::SetCoordinator,
        title: "Set coordinator",
        description: "Make this node the cluster's coordinator",
        target: OperationTarget::Node,
        min_role: Role::Operator,
        rate_class: RateClass::Disruptive,
        agent_side: false,
        params: &[],
    },
    OperationSpec {
        name: OperationName::DecommissionNode,
        title: "Decommission node",
        description: "Retire this node for good; its history is kept",
        target: OperationTarget::Node,
        min_role: Role::Admin,
        rate_class: RateClass::Destructive,
        agent_side: false,
        params: &[REASON],
    },
    OperationSpec {
        name: OperationName::RemoveNode,
        title: "Remove node",
        description: "Delete this node from the inventory; its events are kept",
        target: OperationTarget::Node,
        min_role: Role::Admin,
        rate_class: RateClass::Destructive,
        agent_side: false,
        params: &[REASON],
    },
    OperationSpec {
        name: OperationName::RotateNodeToken,
        title: "Rotate node token",
        description: "Issue a new node token; the old one stops working at once",
        target: OperationTarget::Node,
        min_role: Role::Admin,
        rate_class: RateClass::Disruptive,
        agent_side: false,
        params: &[],
    },
    OperationSpec {
        name: OperationName::ApplyTemplate,
        title: "Apply template",
        description: "Replace the cluster's limits and settings with a template's",
        target: OperationTarget::Cluster,
        min_role: Role::Admin,
        rate_class: RateClass::Destructive,
        agent_side: false,
        params: &[ParamSpec {
            name: "template",
            kind: ParamKind::Text { max_chars: 100 },
            required: true,
            default: None,
            description: "Name of the template to apply",
        }],
    },
    OperationSpec {
        name: OperationName::DecommissionCluster,
        title: "Decommission cluster",
        description: "Retire the cluster; refused while it has live nodes or tenants",
        target: OperationTarget::Cluster,
        min_role: Role::Admin,
        rate_class: RateClass::Destructive,
        agent_side: false,
        params: &[REASON],
    },
    OperationSpec {
        name: OperationName::CollectNow,
        title: "Collect now",
        description: "Ask the node's agent for a heartbeat right away",
        target: OperationTarget::Node,
        min_role: Role::Operator,
        rate_class: RateClass::Routine,
        agent_side: true,
        params: &[],
    },
    OperationSpec {
        name: OperationName::SignalProcess,
        title: "Signal process",
        description: "Send a signal to a process on the node (agents started with --allow-process-control)",
        target: OperationTarget::Node,
        min_role: Role::Operator,
        rate_class: RateClass::Disruptive,
        agent_side: true,
        params: &[
            ParamSpec {
                name: "pid",
                kind: ParamKind::Integer {
                    min: 1,
                    max: 4_194_304,
                },
                required: true,
                default: None,
                description: "Process id",
            },
            ParamSpec {
                name: "signal",
                kind: ParamKind::Choice { values: SIGNALS },
                required: false,
                default: Some("\"TERM\""),
                description: "Signal to send",
            },
        ],
    },
];

/// Every operation, in catalog order.
#[must_use]
pub fn catalog() -> &'static [OperationSpec] {
    CATALOG
}

impl OperationName {
    /// This operation's entry in the catalog.
    ///
    /// # Panics
    /// Never: the catalog has an entry for every name (a test checks it).
    #[must_use]
    pub fn spec(self) -> &'static OperationSpec {
        CATALOG
            .iter()
            .find(|s| s.name == self)
            .unwrap_or_else(|| unreachable!("{self} is missing from the catalog"))
    }
}

/// Checks `params` against the operation's schema: unknown names are rejected,
/// required ones must be present, types and ranges hold; defaults are filled in.
///
/// # Errors
/// One message per wrong parameter, keyed `params.<name>`.
pub fn validate_params(
    op: OperationName,
    params: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<Map<String, Value>, FieldErrors> {
    let spec = op.spec();
    let mut errors = FieldErrors::new();
    for name in params.keys() {
        if !spec.params.iter().any(|p| p.name == name) {
            let known: Vec<&str> = spec.params.iter().map(|p| p.name).collect();
            let field = format!("params.{}", name.chars().take(64).collect::<String>());
            errors.add(
                field.clone(),
                if known.is_empty() {
                    format!("{field} is not a parameter of {op} (it takes none)")
                } else {
                    format!(
                        "{field} is not a parameter of {op} (it takes {})",
                        known.join(", ")
                    )
                },
            );
        }
    }
    let mut out = Map::new();
    for p in spec.params {
        let field = format!("params.{}", p.name);
        let value = match params.get(p.name) {
            Some(Value::Null) | None => {
                if p.required {
                    errors.add(field.clone(), format!("{field} is required"));
                }
                if let Some(default) = p.default.and_then(|d| serde_json::from_str(d).ok()) {
                    out.insert(p.name.to_owned(), default);
                }
                continue;
            }
            Some(v) => v,
        };
        match check_value(p.kind, value, now) {
            Ok(v) => {
                out.insert(p.name.to_owned(), v);
            }
            Err(why) => errors.add(field.clone(), format!("{field} {why}")),
        }
    }
    errors.into_result().map(|()| out)
}

fn check_value(kind: ParamKind, value: &Value, now: DateTime<Utc>) -> Result<Value, String> {
    match kind {
        ParamKind::Text { max_chars } => {
            let s = value.as_str().ok_or("must be a string")?;
            let n = s.trim().chars().count();
            if n == 0 {
                Err("must not be empty".into())
            } else if s.chars().count() > max_chars {
                Err(format!("must be at most {max_chars} characters"))
            } else if s.chars().any(|c| c.is_control() && c != '\n') {
                Err("must not contain control characters".into())
            } else {
                Ok(Value::String(s.trim().to_owned()))
            }
        }
        ParamKind::Integer { min, max } => {
            let n = value.as_i64().ok_or("must be a whole number")?;
            if (min..=max).contains(&n) {
                Ok(Value::from(n))
            } else {
                Err(format!("must be between {min} and {max}"))
            }
        }
        ParamKind::Choice { values } => {
            let s = value.as_str().ok_or("must be a string")?;
            if values.contains(&s) {
                Ok(Value::String(s.to_owned()))
            } else {
                Err(format!("must be one of {}", values.join(", ")))
            }
        }
        ParamKind::FutureTime => {
            let s = value.as_str().ok_or("must be an RFC 3339 time")?;
            let t = DateTime::parse_from_rfc3339(s)
                .map_err(|_| "must be an RFC 3339 time such as 2026-01-31T18:00:00Z".to_owned())?
                .with_timezone(&Utc);
            if t <= now {
                Err("must be in the future".into())
            } else if t - now > Duration::days(MAX_MAINTENANCE_DAYS) {
                Err(format!("must be at most {MAX_MAINTENANCE_DAYS} days ahead"))
            } else {
                Ok(Value::String(t.to_rfc3339()))
            }
        }
    }
}

text_enum!(
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    /// A reason an operation needs `force`.
    Guard, "guard" {
        Primary => "primary",
        Coordinator => "coordinator",
        LastOnlineNode => "last_online_node",
        Quorum => "quorum",
        LiveNodes => "live_nodes",
        HostsTenants => "hosts_tenants",
        NotCandidate => "not_candidate",
    }
);

/// What an operation would do, shown before it runs (the dry run) and in the
/// 409 answer when a guard stops it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Impact {
    pub summary: String,
    pub effects: Vec<String>,
    pub guards: Vec<Guard>,
    pub leadership_after: Leadership,
    pub quorum_before: QuorumStatus,
    pub quorum_after: QuorumStatus,
}

impl Impact {
    #[must_use]
    pub fn needs_force(&self) -> bool {
        !self.guards.is_empty()
    }
}

/// The cluster as the guards see it.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardContext<'a> {
    pub members: &'a [Member],
    pub leadership: &'a Leadership,
    pub auto_failover: bool,
    pub hosted_tenants: u32,
}

fn quorum_of(members: &[Member]) -> (QuorumStatus, u32) {
    let conditions: Vec<NodeCondition> = members
        .iter()
        .map(|m| NodeCondition {
            status: m.status,
            health: m.health,
        })
        .collect();
    let b = health_breakdown(&conditions);
    (quorum(b.counted, b.online), b.online)
}

/// The members after `op` on `node`, or `None` when the operation does not
/// change which nodes run or may lead.
fn members_after(op: OperationName, members: &[Member], node: &NodeId) -> Option<Vec<Member>> {
    let status = match op {
        OperationName::Drain => NodeStatus::Draining,
        OperationName::MaintenanceOn => NodeStatus::Maintenance,
        OperationName::DecommissionNode => NodeStatus::Decommissioned,
        OperationName::RemoveNode => {
            return Some(members.iter().filter(|m| &m.id != node).cloned().collect());
        }
        _ => return None,
    };
    Some(
        members
            .iter()
            .map(|m| {
                let mut m = m.clone();
                if &m.id == node {
                    m.status = status;
                }
                m
            })
            .collect(),
    )
}

/// The impact of running `op` on `node` (node operations) or on the cluster.
#[must_use]
pub fn assess(op: OperationName, node: Option<&NodeId>, ctx: &GuardContext<'_>) -> Impact {
    let (quorum_before, online_before) = quorum_of(ctx.members);
    let mut impact = Impact {
        summary: String::new(),
        effects: Vec::new(),
        guards: Vec::new(),
        leadership_after: ctx.leadership.clone(),
        quorum_before,
        quorum_after: quorum_before,
    };
    if op == OperationName::DecommissionCluster {
        assess_cluster_decommission(ctx, &mut impact);
        return impact;
    }
    let Some(node) = node else {
        impact.summary = format!(
            "{} would change the cluster's configuration",
            op.spec().title
        );
        return impact;
    };
    if matches!(
        op,
        OperationName::PromotePrimary | OperationName::SetCoordinator
    ) {
        assess_appointment(op, node, ctx, &mut impact);
        return impact;
    }
    if op.spec().agent_side {
        impact.summary = format!(
            "{} {node}: sent to the node's agent with its next heartbeat",
            op.spec().title
        );
        return impact;
    }
    let Some(after) = members_after(op, ctx.members, node) else {
        impact.summary = format!(
            "{} {node}: leadership and quorum stay as they are",
            op.spec().title
        );
        return impact;
    };
    let (quorum_after, online_after) = quorum_of(&after);
    impact.quorum_after = quorum_after;
    let is_primary = ctx.leadership.primary.as_ref() == Some(node);
    let is_coordinator = ctx.leadership.coordinator.as_ref() == Some(node);
    let mut after_leadership = ctx.leadership.clone();
    if let Some(change) = reconcile(ctx.leadership, 0, &after, ctx.auto_failover) {
        after_leadership = change.leadership;
    }
    if is_primary {
        impact.guards.push(Guard::Primary);
        impact
            .effects
            .push(match (&after_leadership.primary, ctx.auto_failover) {
                (Some(p), true) if p != node => {
                    format!("{p} would become primary (automatic failover)")
                }
                (_, false) => {
                    "the cluster would have no working primary (automatic failover is off)".into()
                }
                _ => "no other node could become primary".into(),
            });
    }
    if is_coordinator {
        impact.guards.push(Guard::Coordinator);
        impact.effects.push(match &after_leadership.coordinator {
            Some(c) if c != node && ctx.auto_failover => format!("{c} would become coordinator"),
            _ => "the cluster would have no working coordinator".into(),
        });
    }
    if online_before >= 1 && online_after == 0 {
        impact.guards.push(Guard::LastOnlineNode);
        impact.effects.push("no node would be online".into());
    }
    if quorum_before != QuorumStatus::MinorityPartition
        && quorum_after == QuorumStatus::MinorityPartition
    {
        impact.guards.push(Guard::Quorum);
        impact.effects.push("the cluster would lose quorum".into());
    }
    impact.leadership_after = after_leadership;
    impact.summary = if impact.effects.is_empty() {
        format!(
            "{} {node}: no leader, quorum or last online node is affected",
            op.spec().title
        )
    } else {
        format!("{} {node}: {}", op.spec().title, impact.effects.join("; "))
    };
    impact
}

/// Promotion and coordinator choice: who would lead afterwards, and whether
/// the node is a candidate at all.
fn assess_appointment(
    op: OperationName,
    node: &NodeId,
    ctx: &GuardContext<'_>,
    impact: &mut Impact,
) {
    let title = op.spec().title;
    let change = if op == OperationName::PromotePrimary {
        promote(ctx.members, ctx.leadership, 0, node, true).map(|p| p.change)
    } else {
        appoint_coordinator(ctx.members, ctx.leadership, 0, node, true)
    };
    match change {
        Ok(change) => {
            if let Some(reason) = ctx
                .members
                .iter()
                .find(|m| &m.id == node)
                .and_then(Member::exclusion)
            {
                impact.guards.push(Guard::NotCandidate);
                impact
                    .effects
                    .push(format!("{node} is not a candidate ({reason})"));
            }
            let before = &ctx.leadership;
            let after = &change.leadership;
            if after.primary != before.primary {
                impact.effects.push(format!(
                    "{} would hand the primary role to {node}",
                    before
                        .primary
                        .as_ref()
                        .map_or("nobody".into(), ToString::to_string)
                ));
            }
            if after.coordinator != before.coordinator {
                impact.effects.push(format!(
                    "{} would become coordinator in place of {}",
                    after
                        .coordinator
                        .as_ref()
                        .map_or("nobody".into(), ToString::to_string),
                    before
                        .coordinator
                        .as_ref()
                        .map_or("nobody".into(), ToString::to_string)
                ));
            }
            impact.effects.push("the term would increase by one".into());
            impact.leadership_after = change.leadership;
            impact.summary = format!("{title} {node}: {}", impact.effects.join("; "));
        }
        Err(e) => impact.summary = format!("{title} {node}: {e}"),
    }
}

fn assess_cluster_decommission(ctx: &GuardContext<'_>, impact: &mut Impact) {
    let live = ctx
        .members
        .iter()
        .filter(|m| m.status != NodeStatus::Decommissioned)
        .count();
    if live > 0 {
        impact.guards.push(Guard::LiveNodes);
        impact
            .effects
            .push(format!("{live} node(s) are not decommissioned"));
    }
    if ctx.hosted_tenants > 0 {
        impact.guards.push(Guard::HostsTenants);
        impact.effects.push(format!(
            "the cluster hosts {} tenant(s)",
            ctx.hosted_tenants
        ));
    }
    impact.summary = if impact.guards.is_empty() {
        "The cluster would be decommissioned".into()
    } else {
        format!(
            "The cluster would be decommissioned although {}",
            impact.effects.join(" and ")
        )
    };
}

/// Whether an agent may send a signal to a process: never to pid 1, the agent
/// itself or a kernel thread unless forced.
///
/// # Errors
/// Why the signal is refused.
pub fn check_signal_target(
    pid: u32,
    agent_pid: u32,
    is_kernel_thread: bool,
    force: bool,
) -> Result<(), String> {
    if force {
        return Ok(());
    }
    if pid == 1 {
        Err("pid 1 is the init process; signalling it needs force".into())
    } else if pid == agent_pid {
        Err("that is the agent itself; signalling it needs force".into())
    } else if is_kernel_thread {
        Err(format!(
            "pid {pid} is a kernel thread; signalling it needs force"
        ))
    } else {
        Ok(())
    }
}

/// A request to run one operation (`POST /api/v1/operations`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationRequest {
    pub operation: OperationName,
    /// The cluster, for cluster operations; for node operations optional, and
    /// then it must be the node's.
    #[serde(default)]
    pub cluster_id: Option<ClusterId>,
    /// The node, for node operations.
    #[serde(default)]
    pub node_id: Option<NodeId>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub params: Map<String, Value>,
    /// Run although a guard objects (the impact says which).
    #[serde(default)]
    pub force: bool,
    /// Return the impact without acting.
    #[serde(default)]
    pub dry_run: bool,
}

/// What an operation acts on, once the request names it properly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationSubject {
    Node(NodeId),
    Cluster(ClusterId),
}

impl OperationRequest {
    /// The operation's subject: a node operation needs `node_id` (and a
    /// `cluster_id`, if given, must be the one in the node id); a cluster
    /// operation needs `cluster_id` and takes no `node_id`.
    ///
    /// # Errors
    /// The field that is missing or does not belong.
    pub fn subject(&self) -> Result<OperationSubject, FieldErrors> {
        let op = self.operation;
        match op.spec().target {
            OperationTarget::Node => {
                let Some(node) = &self.node_id else {
                    return Err(FieldErrors::single(
                        "node_id",
                        format!("node_id is required: {op} acts on a node"),
                    ));
                };
                if let Some(cluster) = &self.cluster_id
                    && !node.belongs_to(cluster)
                {
                    return Err(FieldErrors::single(
                        "cluster_id",
                        "cluster_id is not the cluster of node_id",
                    ));
                }
                Ok(OperationSubject::Node(node.clone()))
            }
            OperationTarget::Cluster => {
                if self.node_id.is_some() {
                    return Err(FieldErrors::single(
                        "node_id",
                        format!("node_id does not belong here: {op} acts on a cluster"),
                    ));
                }
                self.cluster_id
                    .clone()
                    .map(OperationSubject::Cluster)
                    .ok_or_else(|| {
                        FieldErrors::single(
                            "cluster_id",
                            format!("cluster_id is required: {op} acts on a cluster"),
                        )
                    })
            }
        }
    }
}

text_enum!(
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    /// Where a run stands. Operations the server carries out finish at once
    /// (`succeeded` / `failed`); agent-side ones wait (`pending`), go out in a
    /// heartbeat answer (`delivered`) and finish when the agent reports, or
    /// time out.
    OperationStatus, "status" {
        Pending => "pending",
        Delivered => "delivered",
        Succeeded => "succeeded",
        Failed => "failed",
        TimedOut => "timed_out",
    }
);

impl OperationStatus {
    #[must_use]
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::TimedOut)
    }
}

/// One run in the operations history: who, what, parameters, result, duration.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationRecord {
    pub id: i64,
    pub operation: OperationName,
    pub cluster_id: ClusterId,
    pub node_id: Option<NodeId>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub params: Map<String, Value>,
    pub forced: bool,
    /// `user:<name>`.
    pub actor: String,
    pub status: OperationStatus,
    /// What happened, in a sentence.
    pub result: String,
    /// Details of the result (what the agent reported, who leads now, …).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub output: Value,
    /// The cluster's term when an agent-side operation was queued.
    pub term: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// When an agent-side operation times out unless its agent reports.
    pub expires_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
}

/// How long an agent-side operation waits for its node: three heartbeat
/// intervals and ten seconds (a node that is merely late still makes it; one
/// that is unreachable does not), but at least 30 s.
#[must_use]
pub fn agent_timeout(interval_s: u32) -> Duration {
    Duration::seconds((3 * i64::from(interval_s) + 10).max(30))
}

/// What an agent reports after acting on an operation
/// (`POST /api/v1/agent/operations/{id}/result`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationReport {
    pub ok: bool,
    pub message: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub output: Value,
}

impl OperationReport {
    pub const MAX_MESSAGE_CHARS: usize = 1000;
    pub const MAX_OUTPUT_BYTES: usize = 16 * 1024;

    /// # Errors
    /// `message` too long or `output` too large.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        if self.message.chars().count() > Self::MAX_MESSAGE_CHARS {
            errors.add(
                "message",
                format!(
                    "message must be at most {} characters",
                    Self::MAX_MESSAGE_CHARS
                ),
            );
        }
        if self.output.to_string().len() > Self::MAX_OUTPUT_BYTES {
            errors.add(
                "output",
                format!(
                    "output must be at most {} KiB of JSON",
                    Self::MAX_OUTPUT_BYTES / 1024
                ),
            );
        }
        errors.into_result()
    }
}

/// Filters of the operations history, newest first.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct OperationQuery {
    pub cluster_id: Option<ClusterId>,
    pub node_id: Option<NodeId>,
    pub operation: Option<OperationName>,
    pub status: Option<OperationStatus>,
    /// `user:<name>`, exactly.
    pub actor: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub cursor: Option<String>,
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ClusterId;
    use crate::node::HealthStatus;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0)
            .single()
            .expect("time")
    }

    fn params(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn every_operation_is_in_the_catalog_once() {
        for op in OperationName::ALL {
            assert_eq!(op.spec().name, *op);
        }
        assert_eq!(catalog().len(), OperationName::ALL.len());
    }

    #[test]
    fn roles_and_rate_classes() {
        use OperationName::*;
        let admin_only = [
            DecommissionNode,
            RemoveNode,
            RotateNodeToken,
            ApplyTemplate,
            DecommissionCluster,
        ];
        for op in OperationName::ALL {
            let expected = if admin_only.contains(op) {
                Role::Admin
            } else {
                Role::Operator
            };
            assert_eq!(op.spec().min_role, expected, "{op}");
        }
        assert!(Role::Admin.allows(Role::Operator) && Role::Operator.allows(Role::Operator));
        assert!(!Role::Viewer.allows(Role::Operator) && !Role::Operator.allows(Role::Admin));
        assert_eq!(
            (
                RateClass::Routine.per_minute(),
                RateClass::Disruptive.per_minute(),
                RateClass::Destructive.per_minute()
            ),
            (30, 10, 6)
        );
        assert_eq!(RemoveNode.spec().rate_class, RateClass::Destructive);
        assert!(
            CollectNow.spec().agent_side
                && SignalProcess.spec().agent_side
                && !Drain.spec().agent_side
        );
    }

    #[test]
    fn unknown_and_missing_parameters_are_named() {
        let e = validate_params(OperationName::Cordon, &params(json!({"reasn": "x"})), now())
            .expect_err("typo");
        assert_eq!(
            e.get("params.reasn"),
            Some("params.reasn is not a parameter of cordon (it takes reason)")
        );
        let e = validate_params(
            OperationName::Uncordon,
            &params(json!({"force": true})),
            now(),
        )
        .expect_err("none");
        assert_eq!(
            e.get("params.force"),
            Some("params.force is not a parameter of uncordon (it takes none)")
        );
        let e =
            validate_params(OperationName::MaintenanceOn, &Map::new(), now()).expect_err("reason");
        assert_eq!(e.get("params.reason"), Some("params.reason is required"));
    }

    #[test]
    fn types_ranges_and_defaults() {
        let ok = validate_params(
            OperationName::SignalProcess,
            &params(json!({"pid": 4242})),
            now(),
        )
        .expect("ok");
        assert_eq!(ok.get("signal"), Some(&json!("TERM")), "default filled in");
        for (p, field, message) in [
            (
                json!({"pid": "42"}),
                "params.pid",
                "params.pid must be a whole number",
            ),
            (
                json!({"pid": 0}),
                "params.pid",
                "params.pid must be between 1 and 4194304",
            ),
            (
                json!({"pid": 1.5}),
                "params.pid",
                "params.pid must be a whole number",
            ),
            (
                json!({"pid": 7, "signal": "STOP"}),
                "params.signal",
                "params.signal must be one of TERM, INT, HUP, KILL, USR1, USR2",
            ),
        ] {
            let e =
                validate_params(OperationName::SignalProcess, &params(p), now()).expect_err("bad");
            assert_eq!(e.get(field), Some(message));
        }
        let long = "x".repeat(501);
        let e = validate_params(
            OperationName::Drain,
            &params(json!({"reason": long})),
            now(),
        )
        .expect_err("long");
        assert_eq!(
            e.get("params.reason"),
            Some("params.reason must be at most 500 characters")
        );
    }

    #[test]
    fn maintenance_expiry_must_be_in_the_near_future() {
        let check = |t: &str| {
            validate_params(
                OperationName::MaintenanceOn,
                &params(json!({"reason": "kernel upgrade", "expires_at": t})),
                now(),
            )
        };
        assert!(check("2026-05-01T09:00:00Z").is_ok());
        assert_eq!(
            check("2026-05-01T07:00:00Z")
                .expect_err("past")
                .get("params.expires_at"),
            Some("params.expires_at must be in the future")
        );
        assert!(check("2026-06-15T00:00:00Z").is_err(), "beyond 30 days");
        assert!(check("tomorrow").is_err());
    }

    fn id(seq: u32) -> NodeId {
        let c = ClusterId::parse("cluster-a1b2c3d4-2026-01-21-12-00-00-e5f6g7h8").expect("id");
        NodeId::generate(&c, seq, &mut StdRng::seed_from_u64(u64::from(seq)))
    }

    fn members(n: u32) -> Vec<Member> {
        (1..=n)
            .map(|s| Member {
                id: id(s),
                status: NodeStatus::Online,
                health: HealthStatus::Healthy,
                cordoned: false,
                priority: 100 - i32::try_from(s).unwrap_or(0),
                roles: vec![],
            })
            .collect()
    }

    fn led() -> Leadership {
        Leadership {
            primary: Some(id(1)),
            coordinator: Some(id(2)),
        }
    }

    fn ctx<'a>(m: &'a [Member], l: &'a Leadership) -> GuardContext<'a> {
        GuardContext {
            members: m,
            leadership: l,
            auto_failover: true,
            hosted_tenants: 0,
        }
    }

    #[test]
    fn taking_the_primary_away_is_guarded_and_explained() {
        let m = members(3);
        let l = led();
        let i = assess(OperationName::MaintenanceOn, Some(&id(1)), &ctx(&m, &l));
        assert_eq!(i.guards, [Guard::Primary]);
        assert_eq!(i.leadership_after.primary, Some(id(2)));
        assert_eq!(
            i.effects,
            [format!(
                "{} would become primary (automatic failover)",
                id(2)
            )]
        );
        assert!(i.needs_force());
        let drain = assess(OperationName::Drain, Some(&id(2)), &ctx(&m, &l));
        assert_eq!(drain.guards, [Guard::Coordinator]);
        let plain = assess(OperationName::Drain, Some(&id(3)), &ctx(&m, &l));
        assert!(!plain.needs_force(), "{plain:?}");
        let cordon = assess(OperationName::Cordon, Some(&id(1)), &ctx(&m, &l));
        assert!(!cordon.needs_force(), "cordoning guards nothing");
    }

    #[test]
    fn quorum_and_last_node_guards() {
        let mut m = members(3);
        m[2].status = NodeStatus::Offline;
        let l = led();
        // 2 of 3 online; removing node 2 leaves 1 of 2: minority.
        let i = assess(OperationName::RemoveNode, Some(&id(2)), &ctx(&m, &l));
        assert!(i.guards.contains(&Guard::Quorum), "{i:?}");
        assert_eq!(
            (i.quorum_before, i.quorum_after),
            (
                QuorumStatus::PartialPartition,
                QuorumStatus::MinorityPartition
            )
        );
        let single = members(1);
        let l1 = Leadership {
            primary: Some(id(1)),
            coordinator: Some(id(1)),
        };
        let i = assess(
            OperationName::DecommissionNode,
            Some(&id(1)),
            &ctx(&single, &l1),
        );
        assert_eq!(
            i.guards,
            [
                Guard::Primary,
                Guard::Coordinator,
                Guard::LastOnlineNode,
                Guard::Quorum
            ],
            "a cluster with no counted node has no quorum"
        );
        assert!(
            i.effects
                .contains(&"no other node could become primary".to_owned()),
            "{:?}",
            i.effects
        );
    }

    #[test]
    fn without_auto_failover_the_impact_says_so() {
        let m = members(3);
        let l = led();
        let c = GuardContext {
            auto_failover: false,
            ..ctx(&m, &l)
        };
        let i = assess(OperationName::MaintenanceOn, Some(&id(1)), &c);
        assert_eq!(
            i.effects[0],
            "the cluster would have no working primary (automatic failover is off)"
        );
    }

    #[test]
    fn decommissioning_a_cluster_is_guarded_by_nodes_and_tenants() {
        let m = members(2);
        let l = led();
        let c = GuardContext {
            hosted_tenants: 4,
            ..ctx(&m, &l)
        };
        let i = assess(OperationName::DecommissionCluster, None, &c);
        assert_eq!(i.guards, [Guard::LiveNodes, Guard::HostsTenants]);
        assert_eq!(
            i.summary,
            "The cluster would be decommissioned although 2 node(s) are not decommissioned and the cluster hosts 4 tenant(s)"
        );
        let gone: Vec<Member> = m
            .into_iter()
            .map(|mut n| {
                n.status = NodeStatus::Decommissioned;
                n
            })
            .collect();
        let empty = Leadership::default();
        assert!(
            !assess(
                OperationName::DecommissionCluster,
                None,
                &ctx(&gone, &empty)
            )
            .needs_force()
        );
    }

    #[test]
    fn promotion_and_coordinator_show_who_leads_after() {
        let mut m = members(3);
        let l = led();
        let i = assess(OperationName::PromotePrimary, Some(&id(3)), &ctx(&m, &l));
        assert!(!i.needs_force(), "{i:?}");
        assert_eq!(i.leadership_after.primary, Some(id(3)));
        assert_eq!(i.leadership_after.coordinator, Some(id(2)));
        let c = assess(OperationName::SetCoordinator, Some(&id(3)), &ctx(&m, &l));
        assert_eq!(c.leadership_after.coordinator, Some(id(3)));
        assert_eq!(c.leadership_after.primary, Some(id(1)));
        m[2].cordoned = true;
        let i = assess(OperationName::PromotePrimary, Some(&id(3)), &ctx(&m, &l));
        assert_eq!(i.guards, [Guard::NotCandidate]);
        assert!(
            i.summary.contains("is not a candidate (cordoned)"),
            "{}",
            i.summary
        );
        let same = assess(OperationName::PromotePrimary, Some(&id(1)), &ctx(&m, &l));
        assert!(
            same.summary.ends_with("is already the primary"),
            "{}",
            same.summary
        );
        assert_eq!(same.leadership_after, l);
        let agent = assess(OperationName::CollectNow, Some(&id(1)), &ctx(&m, &l));
        assert!(!agent.needs_force() && agent.summary.contains("next heartbeat"));
    }

    #[test]
    fn requests_name_their_subject() {
        let cluster =
            ClusterId::parse("cluster-a1b2c3d4-2026-01-21-12-00-00-e5f6g7h8").expect("id");
        let other = ClusterId::parse("cluster-zzzzzzzz-2026-01-21-12-00-00-e5f6g7h8").expect("id");
        let req = |op, c: Option<&ClusterId>, n: Option<NodeId>| OperationRequest {
            operation: op,
            cluster_id: c.cloned(),
            node_id: n,
            params: Map::new(),
            force: false,
            dry_run: false,
        };
        assert_eq!(
            req(OperationName::Drain, None, Some(id(1))).subject(),
            Ok(OperationSubject::Node(id(1)))
        );
        assert_eq!(
            req(OperationName::Drain, Some(&cluster), None)
                .subject()
                .expect_err("no node")
                .get("node_id"),
            Some("node_id is required: drain acts on a node")
        );
        assert!(
            req(OperationName::Drain, Some(&other), Some(id(1)))
                .subject()
                .expect_err("wrong cluster")
                .get("cluster_id")
                .is_some()
        );
        assert_eq!(
            req(OperationName::ApplyTemplate, Some(&cluster), None).subject(),
            Ok(OperationSubject::Cluster(cluster.clone()))
        );
        assert!(
            req(OperationName::ApplyTemplate, Some(&cluster), Some(id(1)))
                .subject()
                .expect_err("node on a cluster operation")
                .get("node_id")
                .is_some()
        );
        let parsed: Result<OperationRequest, _> =
            serde_json::from_value(json!({"operation": "drain", "node_id": id(1), "colour": 1}));
        assert!(parsed.is_err(), "unknown fields are refused");
    }

    #[test]
    fn agent_operations_wait_three_intervals() {
        assert_eq!(agent_timeout(5), Duration::seconds(30));
        assert_eq!(agent_timeout(15), Duration::seconds(55));
        assert_eq!(agent_timeout(60), Duration::seconds(190));
        let report = OperationReport {
            ok: true,
            message: "x".repeat(1001),
            output: json!({}),
        };
        assert!(
            report
                .validate()
                .expect_err("long")
                .get("message")
                .is_some()
        );
    }

    #[test]
    fn signal_targets() {
        assert!(check_signal_target(1, 99, false, false).is_err());
        assert!(check_signal_target(99, 99, false, false).is_err());
        assert!(check_signal_target(2, 99, true, false).is_err());
        assert!(check_signal_target(1234, 99, false, false).is_ok());
        assert!(check_signal_target(1, 99, true, true).is_ok());
    }

    proptest! {
        #[test]
        fn arbitrary_params_never_panic(key in "\\PC{0,20}", n in any::<i64>(), s in "\\PC{0,40}", b in any::<bool>()) {
            for op in OperationName::ALL {
                let mut p = Map::new();
                p.insert(key.clone(), json!(n));
                p.insert("pid".into(), json!(s));
                p.insert("reason".into(), json!(b));
                let _ = validate_params(*op, &p, now());
            }
        }
    }
}
