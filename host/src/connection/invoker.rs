//! Runs one connection's invocations one at a time, in arrival order,
//! as ASP.NET Core does by default. It is a task of its own so that the
//! reader keeps reading while a hub waits for this very client's answer
//! to a client-result call (which would deadlock a single loop).

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::cluster::{Cluster, ConnectionHandle};
use crate::protocol::json;
use crate::runtime::{CallError, ConnectionContext, Runtime};

/// One invocation waiting to run.
pub struct Invocation {
    pub invocation_id: Option<String>,
    pub target: String,
    pub arguments: String,
}

/// Invocations a connection may have queued before its reader waits.
pub const QUEUE: usize = 64;

/// Runs invocations until the queue closes.
pub async fn run(
    mut queue: mpsc::Receiver<Invocation>,
    runtime: Arc<Runtime>,
    cluster: Arc<Cluster>,
    context: Arc<ConnectionContext>,
    handle: ConnectionHandle,
) {
    while let Some(invocation) = queue.recv().await {
        let outcome = invoke(&runtime, &cluster, &context, &invocation).await;
        let Some(id) = invocation.invocation_id else {
            if let Err(error) = outcome {
                tracing::debug!(connection = %context.id, target = %invocation.target, %error, "non-blocking invocation failed");
            }
            continue;
        };
        let frame = match outcome {
            Ok(result) => json::completion_result(&id, &result),
            Err(error) => json::completion_error(&id, &error.completion_text(&invocation.target)),
        };
        handle.push(frame.into());
    }
}

async fn invoke(
    runtime: &Runtime,
    cluster: &Cluster,
    context: &Arc<ConnectionContext>,
    invocation: &Invocation,
) -> Result<String, CallError> {
    // The version serving now: a swapped hub takes the next call.
    let Some(hub) = runtime.hub(&context.hub) else {
        return Err(CallError::Trap(format!(
            "the hub '{}' is not served any more",
            context.hub
        )));
    };
    let user = cluster.user_of(&context.id).await;
    hub.invoke(context, user, &invocation.target, &invocation.arguments)
        .await
}
