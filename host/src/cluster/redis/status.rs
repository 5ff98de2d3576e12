//! Node statuses: each node keeps a JSON summary of itself under
//! `P:node:{node}:status` (expiring with the node timeout), so any node
//! can show the whole cluster (the dashboard) with three reads.

use redis::AsyncCommands;

use super::Backplane;
use crate::cluster::backend::NodeReport;

/// Writes this node's status; it expires unless renewed.
pub(super) async fn put(backplane: &Backplane, status: &str) -> redis::RedisResult<()> {
    let ttl = backplane.options.node_timeout.as_millis() as u64;
    backplane
        .conn()
        .set_options(
            backplane.keys.status(backplane.node_id()),
            status,
            redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(ttl)),
        )
        .await
}

/// Every other listed node: whether its heartbeat is live, and its status.
pub(super) async fn read_all(backplane: &Backplane) -> redis::RedisResult<Vec<NodeReport>> {
    let keys = &backplane.keys;
    let mut nodes: Vec<String> = backplane.conn().smembers(keys.nodes()).await?;
    nodes.retain(|node| node != backplane.node_id());
    nodes.sort();
    if nodes.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    pipe.mget(nodes.iter().map(|n| keys.heartbeat(n)).collect::<Vec<_>>())
        .mget(nodes.iter().map(|n| keys.status(n)).collect::<Vec<_>>());
    let (beats, statuses): (Vec<Option<String>>, Vec<Option<String>>) =
        pipe.query_async(&mut backplane.conn()).await?;
    Ok(nodes
        .into_iter()
        .zip(beats.into_iter().zip(statuses))
        .map(|(node, (beat, status))| NodeReport {
            node,
            alive: beat.is_some(),
            status,
        })
        .collect())
}
