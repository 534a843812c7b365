//! Demo mode (`muster serve --demo`): three demo clusters, one per
//! environment template, kept alive by a simulated fleet that runs in this
//! process and reports through the real agent API over loopback HTTP. Admins
//! inject faults from the Simulation page and watch the cluster react.

use std::path::PathBuf;
use std::sync::Arc;

use muster_agent::sim::{Command, Enrolment, Fleet, FleetOptions, NodeView, saved_names};
use muster_domain::config::builtin_templates;
use muster_domain::{ClusterId, Environment, NewCluster, SettingsPatch};
use muster_store::{ClusterQuery, Store};

use super::tokens::{hash_token, new_token};

/// Who creates the demo's clusters and tokens, in the audit log.
const ACTOR: &str = "demo";
/// The name of each demo cluster's join token.
const JOIN_TOKEN_NAME: &str = "demo fleet";
/// Demo clusters report every 5 s (the shortest interval) so that faults
/// show within seconds.
const DEMO_INTERVAL_S: u32 = 5;

/// One demo cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoCluster {
    pub id: ClusterId,
    pub name: String,
    pub environment: Environment,
}

/// The running demo: its clusters and the fleet that keeps them alive.
pub struct Demo {
    pub clusters: Vec<DemoCluster>,
    fleet: Fleet,
}

/// Each environment's demo cluster: name, region and node names.
fn plan(environment: Environment) -> (&'static str, &'static str, Vec<String>) {
    let names = |prefix: &str, n: u32| (1..=n).map(|i| format!("{prefix}-{i}")).collect();
    match environment {
        Environment::Production => ("demo-production", "eu-west-1", names("prod", 6)),
        Environment::Staging => ("demo-staging", "us-east-1", names("stage", 4)),
        Environment::Development => ("demo-development", "ap-south-1", names("dev", 3)),
    }
}

/// The demo cluster of `environment`, created from its template the first
/// time, and its storage limit.
async fn ensure_cluster(
    store: &dyn Store,
    environment: Environment,
) -> Result<(DemoCluster, u64), String> {
    let (name, region, _) = plan(environment);
    let existing = store
        .list_clusters(&ClusterQuery {
            name: Some(name.to_owned()),
            limit: 100,
            ..ClusterQuery::default()
        })
        .await
        .map_err(|e| format!("cannot list clusters: {e}"))?;
    if let Some(c) = existing.items.into_iter().find(|c| c.name == name) {
        let limit = c.max_storage_gb;
        return Ok((
            DemoCluster {
                id: c.id,
                name: c.name,
                environment,
            },
            limit,
        ));
    }
    let template = builtin_templates()
        .into_iter()
        .find(|t| t.environment == environment)
        .ok_or("a template is missing")?;
    let settings = SettingsPatch {
        health_check_interval_s: Some(DEMO_INTERVAL_S),
        ..SettingsPatch::default()
    }
    .apply(template.settings);
    let cluster = store
        .create_cluster(
            &NewCluster {
                name: name.to_owned(),
                description: format!(
                    "Demo: a simulated {} cluster. Inject faults from the Simulation page.",
                    environment.as_str()
                ),
                region: region.to_owned(),
                environment,
                limits: template.limits,
                settings,
                template_name: Some(template.name.clone()),
            },
            ACTOR,
        )
        .await
        .map_err(|e| format!("cannot create the demo cluster {name}: {e}"))?;
    let limit = cluster.max_storage_gb;
    Ok((
        DemoCluster {
            id: cluster.id,
            name: cluster.name,
            environment,
        },
        limit,
    ))
}

/// A fresh secret for the cluster's demo join token (rotated, so that
/// restarts do not pile up tokens).
async fn join_secret(store: &dyn Store, cluster: &ClusterId) -> Result<String, String> {
    let secret = new_token("mjt");
    let hash = hash_token(&secret);
    let tokens = store
        .list_join_tokens(cluster)
        .await
        .map_err(|e| format!("cannot list join tokens: {e}"))?;
    let live = tokens
        .iter()
        .find(|t| t.name == JOIN_TOKEN_NAME && t.revoked_at.is_none() && t.expires_at.is_none());
    match live {
        Some(t) => store
            .rotate_join_token(cluster, &t.id, &hash, ACTOR)
            .await
            .map(|_| ()),
        None => store
            .create_join_token(cluster, JOIN_TOKEN_NAME, &hash, None, ACTOR)
            .await
            .map(|_| ()),
    }
    .map_err(|e| format!("cannot make the demo join token: {e}"))?;
    Ok(secret)
}

impl Demo {
    /// Makes sure the demo clusters exist and starts their fleet against
    /// `server` (this process's own address). Node identities are kept under
    /// `state_dir`, per production cluster id, so a restart reuses the nodes
    /// and a new database starts afresh.
    ///
    /// # Errors
    /// A one-line reason the demo cannot start.
    pub async fn start(
        store: &dyn Store,
        server: String,
        state_dir: PathBuf,
    ) -> Result<Arc<Self>, String> {
        let mut clusters = Vec::new();
        let mut enrolments = Vec::new();
        let mut dir = None;
        for environment in [
            Environment::Production,
            Environment::Staging,
            Environment::Development,
        ] {
            let (cluster, max_storage_gb) = ensure_cluster(store, environment).await?;
            let (_, _, names) = plan(environment);
            // Identities are kept per database (by its production cluster).
            let dir = dir.get_or_insert_with(|| state_dir.join(cluster.id.as_str()));
            let saved = saved_names(dir, &server);
            // A restart whose nodes are all saved needs no join token.
            let join_token = if names.iter().all(|n| saved.contains(n)) {
                String::new()
            } else {
                join_secret(store, &cluster.id).await?
            };
            // Each node's disk fits its share of the cluster's storage limit.
            #[allow(clippy::cast_precision_loss)] // a handful of nodes, a few TB
            let share = (max_storage_gb as f64 / names.len() as f64).floor();
            enrolments.push(Enrolment {
                join_token,
                cluster_name: Some(cluster.name.clone()),
                names,
                max_disk_gb: Some(share),
            });
            clusters.push(cluster);
        }
        let fleet = Fleet::start(
            FleetOptions {
                server,
                seed: 2026,
                state_dir: dir,
                max_in_flight: 16,
            },
            enrolments,
        )
        .await?;
        tracing::info!(
            "demo mode: {} simulated nodes report to {} demo clusters",
            fleet.names().len(),
            clusters.len()
        );
        Ok(Arc::new(Self { clusters, fleet }))
    }

    /// Carries out a fault command; the names of the nodes it touched.
    ///
    /// # Errors
    /// When its target names no simulated node.
    pub fn apply(&self, command: &Command) -> Result<Vec<String>, String> {
        let names = self.fleet.apply(command)?;
        tracing::info!("simulation: {command} -> {}", names.join(", "));
        Ok(names)
    }

    /// Every simulated node as it stands.
    #[must_use]
    pub fn nodes(&self) -> Vec<NodeView> {
        self.fleet.nodes()
    }

    /// Stops the fleet (without reporting offline: the next start carries on).
    pub async fn stop(&self) {
        self.fleet.stop(false).await;
    }
}
