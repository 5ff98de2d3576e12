//! The host side of the hub world's imports: `clients`, `groups`,
//! `presence` and `log`, all answered by the [`Cluster`].
//!
//! Everything a hub hands over is checked here (arguments must be JSON
//! arrays, names non-empty), because this is where guest data enters the
//! host. Time spent awaiting the cluster is not charged to the hub's
//! deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::value::RawValue;

use super::bindings::wasmhub::hub::{caller, clients, groups, log, presence, system, types};
use super::bindings::{ClientResult, Connection, ConnectionInfo, HubError, Selector, UserPresence};
use super::state::HostState;
use crate::cluster::{ClientAnswer, ClusterError, ConnectionRecord, Filter, Selection};

type Host<T> = wasmtime::Result<T>;

impl From<ClusterError> for HubError {
    fn from(error: ClusterError) -> Self {
        match error {
            ClusterError::NotFound(m) => HubError::NotFound(m),
            ClusterError::NoClientResponded(m) => HubError::NoClientResponded(m),
            ClusterError::Unavailable(m) => HubError::Unavailable(m),
        }
    }
}

fn check_args(args: &str) -> Result<(), HubError> {
    match serde_json::from_str::<&RawValue>(args) {
        Ok(raw) if raw.get().starts_with('[') => Ok(()),
        Ok(_) => Err(HubError::InvalidArgument(
            "arguments must be a JSON array".to_owned(),
        )),
        Err(e) => Err(HubError::InvalidArgument(format!(
            "arguments are not valid JSON: {e}"
        ))),
    }
}

fn check_name(what: &str, name: &str) -> Result<(), HubError> {
    if name.is_empty() {
        Err(HubError::InvalidArgument(format!(
            "{what} must not be empty"
        )))
    } else {
        Ok(())
    }
}

fn to_info(record: ConnectionRecord) -> ConnectionInfo {
    ConnectionInfo {
        id: record.id,
        user: record.user,
        node: record.node,
        groups: record.groups.into_iter().collect(),
        attributes: record.attributes.into_iter().collect(),
    }
}

fn to_result(answer: ClientAnswer) -> ClientResult {
    ClientResult {
        connection_id: answer.connection_id,
        user: answer.user,
        value: answer.value,
    }
}

impl HostState {
    /// Runs a host future, charging its time to the host, not the hub.
    pub(super) async fn waiting<T>(&mut self, future: impl Future<Output = T>) -> T {
        // A long call waiting on the host (a client, a sleep, an upload)
        // gives its CPU slot back; its next epoch tick takes one again.
        self.cpu_turn.release();
        let started = Instant::now();
        let out = future.await;
        self.add_host_wait(started.elapsed());
        out
    }

    fn all_of_hub(&self) -> Selection {
        Selection::all(self.env.hub.clone())
    }

    /// The host's view of a hub's selector: every condition, ANDed.
    fn selection(&self, to: Selector) -> Selection {
        let mut selection = self.all_of_hub();
        if let Some(id) = to.connection {
            selection = selection.with(Filter::Connection(id));
        }
        if let Some(user) = to.user {
            selection = selection.with(Filter::User(user));
        }
        for group in to.groups {
            selection = selection.with(Filter::Group(group));
        }
        for (key, value) in to.attributes {
            selection = selection.with(Filter::Attribute(key, value));
        }
        selection.except(to.excluding)
    }

    /// The wait for a client result: the hub's own, capped by the
    /// operator's `--invoke-timeout`, which is also the default.
    fn timeout(&self, timeout_ms: Option<u32>) -> Duration {
        timeout_ms
            .map(|ms| Duration::from_millis(ms.into()).min(self.env.invoke_timeout))
            .unwrap_or(self.env.invoke_timeout)
    }

    /// Checks what a hub hands over for clients: a method name, a JSON
    /// array of arguments, and no more bytes than one connection may have
    /// waiting (a larger message could never be delivered).
    fn check_message(&self, method: &str, args: &str) -> Result<(), HubError> {
        check_name("method", method)?;
        check_args(args)?;
        let size = crate::connection::handle::invocation_size(method, args);
        if size > self.env.max_outbound_message {
            return Err(HubError::InvalidArgument(format!(
                "the message is {size} bytes, more than the {} a connection may have waiting (--outbound-buffer)",
                crate::config::format_bytes(self.env.max_outbound_message)
            )));
        }
        Ok(())
    }
}

impl types::Host for HostState {}

impl clients::Host for HostState {
    async fn send(
        &mut self,
        to: Selector,
        method: String,
        args: String,
    ) -> Host<Result<(), HubError>> {
        if let Err(e) = self.check_message(&method, &args) {
            return Ok(Err(e));
        }
        let selection = self.selection(to);
        let cluster = self.env.cluster.clone();
        let sent = self.waiting(cluster.send(&selection, &method, &args)).await;
        Ok(sent.map(|_| ()).map_err(HubError::from))
    }

    async fn invoke_one(
        &mut self,
        to: Selector,
        method: String,
        args: String,
        timeout_ms: Option<u32>,
    ) -> Host<Result<ClientResult, HubError>> {
        if let Err(e) = self.check_message(&method, &args) {
            return Ok(Err(e));
        }
        let selection = self.selection(to);
        let timeout = self.timeout(timeout_ms);
        let cluster = self.env.cluster.clone();
        let answer = self
            .waiting(cluster.invoke_one(&selection, &method, &args, timeout))
            .await;
        Ok(answer.map(to_result).map_err(HubError::from))
    }

    async fn invoke_all(
        &mut self,
        to: Selector,
        method: String,
        args: String,
        timeout_ms: Option<u32>,
    ) -> Host<Result<Vec<ClientResult>, HubError>> {
        if let Err(e) = self.check_message(&method, &args) {
            return Ok(Err(e));
        }
        let selection = self.selection(to);
        let timeout = self.timeout(timeout_ms);
        let cluster = self.env.cluster.clone();
        let answers = self
            .waiting(cluster.invoke_all(&selection, &method, &args, timeout))
            .await;
        Ok(answers
            .map(|a| a.into_iter().map(to_result).collect())
            .map_err(HubError::from))
    }

    async fn connection_ids(&mut self, to: Selector) -> Host<Result<Vec<String>, HubError>> {
        let selection = self.selection(to);
        let cluster = self.env.cluster.clone();
        let records = self.waiting(cluster.connections(&selection)).await;
        Ok(records
            .map(|r| r.into_iter().map(|r| r.id).collect())
            .map_err(HubError::from))
    }
}

impl caller::Host for HostState {
    async fn details(&mut self) -> Host<Option<Connection>> {
        let Some(context) = self.caller().cloned() else {
            return Ok(None);
        };
        let cluster = self.env.cluster.clone();
        let record = self.waiting(cluster.record(&context.id)).await;
        Ok(record.map(|r| super::Runtime::connection_view(&context, Some(&r))))
    }
}

/// Most bytes one `random-bytes` call returns.
const MAX_RANDOM: u32 = 65_536;

impl system::Host for HostState {
    async fn now(&mut self) -> Host<u64> {
        Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default())
    }

    async fn random_bytes(&mut self, len: u32) -> Host<Vec<u8>> {
        let mut bytes = vec![0; len.min(MAX_RANDOM) as usize];
        rand::fill(&mut bytes[..]);
        Ok(bytes)
    }
}

impl groups::Host for HostState {
    async fn add(&mut self, connection_id: String, group: String) -> Host<Result<(), HubError>> {
        if let Err(e) = check_name("group", &group) {
            return Ok(Err(e));
        }
        let cluster = self.env.cluster.clone();
        let hub = self.env.hub.clone();
        let added = self
            .waiting(cluster.add_to_group(&hub, &connection_id, &group))
            .await;
        Ok(added.map_err(HubError::from))
    }

    async fn remove(&mut self, connection_id: String, group: String) -> Host<Result<(), HubError>> {
        let cluster = self.env.cluster.clone();
        let hub = self.env.hub.clone();
        let removed = self
            .waiting(cluster.remove_from_group(&hub, &connection_id, &group))
            .await;
        Ok(removed.map_err(HubError::from))
    }
}

impl HostState {
    async fn snapshot(
        &mut self,
        selection: Selection,
    ) -> Host<Result<Vec<ConnectionInfo>, HubError>> {
        let cluster = self.env.cluster.clone();
        let records = self.waiting(cluster.connections(&selection)).await;
        Ok(records
            .map(|r| r.into_iter().map(to_info).collect())
            .map_err(HubError::from))
    }
}

impl presence::Host for HostState {
    async fn connections(&mut self) -> Host<Result<Vec<ConnectionInfo>, HubError>> {
        let all = self.all_of_hub();
        self.snapshot(all).await
    }

    async fn connections_by_user(
        &mut self,
        user: String,
    ) -> Host<Result<Vec<ConnectionInfo>, HubError>> {
        let selection = self.all_of_hub().with(Filter::User(user));
        self.snapshot(selection).await
    }

    async fn connections_in_group(
        &mut self,
        group: String,
    ) -> Host<Result<Vec<ConnectionInfo>, HubError>> {
        let selection = self.all_of_hub().with(Filter::Group(group));
        self.snapshot(selection).await
    }

    async fn connections_by_attribute(
        &mut self,
        key: String,
        value: Option<String>,
    ) -> Host<Result<Vec<ConnectionInfo>, HubError>> {
        let selection = self.all_of_hub().with(Filter::Attribute(key, value));
        self.snapshot(selection).await
    }

    async fn online_users(&mut self) -> Host<Result<Vec<UserPresence>, HubError>> {
        let cluster = self.env.cluster.clone();
        let hub = self.env.hub.clone();
        let users = self.waiting(cluster.online_users(&hub)).await;
        Ok(users
            .map(|users| {
                users
                    .into_iter()
                    .map(|u| UserPresence {
                        user: u.user,
                        connections: u.connections,
                        nodes: u.nodes,
                    })
                    .collect()
            })
            .map_err(HubError::from))
    }

    async fn is_user_online(&mut self, user: String) -> Host<Result<bool, HubError>> {
        let cluster = self.env.cluster.clone();
        let hub = self.env.hub.clone();
        let online = self.waiting(cluster.is_user_online(&hub, &user)).await;
        Ok(online.map_err(HubError::from))
    }
}

impl log::Host for HostState {
    async fn log(
        &mut self,
        level: log::Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> Host<()> {
        let hub = &self.env.hub;
        if !self.env.log_budget.admit(hub) {
            return Ok(());
        }
        // One line per call: a hub cannot forge the host's log lines.
        let message = message.replace('\n', "\\n").replace('\r', "\\r");
        let call = self.call.as_ref().map(|c| c.what.as_str()).unwrap_or("");
        let method = call
            .strip_prefix("invoke:")
            .or_else(|| call.strip_prefix("stream:"))
            .unwrap_or("");
        let connection = self.caller().map(|c| c.id.as_str()).unwrap_or("");
        let fields = fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
            .replace('\n', "\\n")
            .replace('\r', "\\r");
        match level {
            log::Level::Trace => {
                tracing::trace!(target: "hub", hub, connection, method, call, fields, "{message}")
            }
            log::Level::Debug => {
                tracing::debug!(target: "hub", hub, connection, method, call, fields, "{message}")
            }
            log::Level::Info => {
                tracing::info!(target: "hub", hub, connection, method, call, fields, "{message}")
            }
            log::Level::Warn => {
                tracing::warn!(target: "hub", hub, connection, method, call, fields, "{message}")
            }
            log::Level::Error => {
                tracing::error!(target: "hub", hub, connection, method, call, fields, "{message}")
            }
        }
        Ok(())
    }
}
