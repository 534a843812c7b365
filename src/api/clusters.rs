//! What the cluster pages and the REST API show about a cluster: the cluster,
//! its nodes, its health with the breakdown, recommendations and failover plan.

use muster_domain::coordination::FailoverPlan;
use muster_domain::health::{HealthBreakdown, QuorumStatus};
use muster_domain::recommendations::Recommendation;
use muster_domain::{Cluster, ClusterId, ClusterStatus, Node, Tenant};
use serde::{Deserialize, Serialize};

/// A cluster's health: score with its breakdown, status and quorum.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterHealth {
    pub cluster_id: ClusterId,
    pub name: String,
    pub status: ClusterStatus,
    pub health_score: f64,
    pub breakdown: HealthBreakdown,
    pub quorum: QuorumStatus,
    pub recommendations: Vec<Recommendation>,
}

/// `get_cluster_info`: everything about one cluster.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterInfo {
    pub cluster: Cluster,
    pub nodes: Vec<Node>,
    pub health: ClusterHealth,
    pub failover_plan: FailoverPlan,
    pub tenants: Vec<Tenant>,
}

#[cfg(feature = "ssr")]
pub use server::{cluster_health, cluster_info};

#[cfg(feature = "ssr")]
mod server {
    use muster_domain::coordination::failover_plan;
    use muster_domain::health::{NodeCondition, health_breakdown, quorum};
    use muster_domain::recommendations::{ClusterSnapshot, NodeSnapshot, recommendations};
    use muster_domain::{Cluster, ClusterId, Node};
    use muster_store::Store;

    use super::{ClusterHealth, ClusterInfo};
    use crate::api::AppError;

    /// Health of `cluster` judged from `nodes` as they are now.
    #[must_use]
    pub fn cluster_health(cluster: &Cluster, nodes: &[Node]) -> ClusterHealth {
        let conditions: Vec<NodeCondition> = nodes
            .iter()
            .map(|n| NodeCondition {
                status: n.status,
                health: n.health_status,
            })
            .collect();
        let breakdown = health_breakdown(&conditions);
        let snapshots: Vec<NodeSnapshot> = nodes
            .iter()
            .map(|n| NodeSnapshot {
                id: n.id.clone(),
                status: n.status,
                health: n.health_status,
                is_primary: n.is_primary,
                is_coordinator: n.is_coordinator,
                usage: n.usage,
            })
            .collect();
        let recommendations = recommendations(&ClusterSnapshot {
            nodes: &snapshots,
            max_nodes: cluster.max_nodes,
            now: muster_store::now(),
            interval_s: cluster.config.health_check_interval_s,
            disk_history: &[],
        });
        ClusterHealth {
            cluster_id: cluster.id.clone(),
            name: cluster.name.clone(),
            status: cluster.status,
            health_score: cluster.health_score,
            breakdown,
            quorum: quorum(breakdown.counted, breakdown.online),
            recommendations,
        }
    }

    /// Loads and assembles [`ClusterInfo`].
    ///
    /// # Errors
    /// 404 when the cluster does not exist; store errors otherwise.
    pub async fn cluster_info(store: &dyn Store, id: &ClusterId) -> Result<ClusterInfo, AppError> {
        let (cluster, nodes, tenants) = tokio::try_join!(
            store.get_cluster(id),
            store.list_nodes(id),
            store.cluster_tenants(id)
        )?;
        let members: Vec<_> = nodes
            .iter()
            .map(muster_domain::cluster_state::member)
            .collect();
        Ok(ClusterInfo {
            health: cluster_health(&cluster, &nodes),
            failover_plan: failover_plan(&members),
            cluster,
            nodes,
            tenants,
        })
    }
}
