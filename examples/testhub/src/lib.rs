//! The test hub: ASP.NET Core SignalR's functional-test `TestHub` (with
//! its streaming methods; PascalCase payloads), plus small methods that
//! let the host's tests reach every import and misbehave on purpose.
//!
//! On connect, `?refuse=<reason>` refuses the client (`Unauthorized`) and
//! `?user=<u>` makes it user `u`.

use std::collections::BTreeMap;
use std::hint::black_box;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use wasmhub_guest::{
    Accepted, Context, Hub, HubError, Router, clients, groups, http, kv, presence, streams,
};

/// The hub type; all behaviour is in the functions below.
struct TestHub;

impl Hub for TestHub {
    fn router() -> Router {
        Router::new()
            // ASP.NET Core's TestHub.
            .method("Echo", echo)
            .method("GetCallerConnectionId", get_caller_connection_id)
            .method("ThrowException", throw_exception)
            .method("InvokeWithString", invoke_with_string)
            .method("SendCustomObject", send_custom_object)
            .method("EchoComplexObject", echo_complex_object)
            .method("SendComplexObject", send_complex_object)
            .method("GetActiveTransportName", get_active_transport_name)
            .method("GetHeader", get_header)
            .method("GetNumRedirects", get_num_redirects)
            .method("ClientResult", client_result)
            .method("ClientResultWithin", client_result_within)
            .method("LogMany", log_many)
            .method("Print", print)
            .stream("Stream", stream)
            .stream("InfiniteStream", infinite_stream)
            .method("StreamingConcat", streaming_concat)
            .stream("EmptyStream", empty_stream)
            .stream("StreamThrowException", stream_throw_exception)
            // Misbehaving on purpose, for the host's isolation tests.
            .method("Panic", panic)
            .method("SpinForever", spin_forever)
            .method("AllocateForever", allocate_forever)
            // One small method per import.
            .method("GetUser", get_user)
            .method("GetAttributes", get_attributes)
            .method("GetQuery", get_query)
            .method("AddToGroup", add_to_group)
            .method("RemoveFromGroup", remove_from_group)
            .method("SendToGroup", send_to_group)
            .method("SendToConnection", send_to_connection)
            .method("GroupMembers", group_members)
            .method("ConnectionsByAttribute", connections_by_attribute)
            .method("SendToAttribute", send_to_attribute)
            .method("InvokeAllGroup", invoke_all_group)
            .method("KvSet", kv_set)
            .method("KvGet", kv_get)
            .method("KvDelete", kv_delete)
            .method("KvIncrement", kv_increment)
            .method("KvKeys", kv_keys)
            .method("HttpSend", http_send)
            .method("OnlineUsers", online_users)
    }

    fn on_connected(ctx: &Context) -> Result<Accepted, HubError> {
        if let Some(reason) = ctx.query("refuse") {
            return Err(HubError::unauthorized(reason));
        }
        Ok(match ctx.query("user") {
            Some(user) => Accepted::user(user),
            None => Accepted::default(),
        })
    }

    /// Tells the group `disconnects` who left and why (the host's text).
    fn on_disconnected(ctx: &Context, error: Option<&str>) {
        let _ =
            clients::with_group("disconnects").send("Disconnected", (ctx.connection_id(), error));
    }
}

wasmhub_guest::export_hub!(TestHub);

/// TestHub's `CustomObject`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CustomObject {
    name: String,
    value: i32,
}

/// TestHub's `ComplexObject`, with the values its tests expect.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ComplexObject {
    string: &'static str,
    int_array: [i32; 3],
    /// .NET serializes `byte[]` as base64.
    byte_array: &'static str,
    guid: &'static str,
    date_time: &'static str,
}

/// One client's answer to `InvokeAllGroup`: `value` or `error`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupAnswer {
    connection_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// One entry of `OnlineUsers`.
#[derive(Serialize)]
struct OnlineUser {
    user: String,
    connections: Vec<String>,
}

fn echo(_: &Context, (message,): (String,)) -> Result<String, HubError> {
    Ok(message)
}

fn get_caller_connection_id(ctx: &Context, (): ()) -> Result<String, HubError> {
    Ok(ctx.connection_id().to_string())
}

fn throw_exception(_: &Context, (message,): (String,)) -> Result<(), HubError> {
    Err(HubError::internal(format!(
        "InvalidOperationException: {message}"
    )))
}

/// `stream()`: "a", "b", "c", then the end.
fn stream(_: &Context, (): ()) -> Result<[&'static str; 3], HubError> {
    Ok(["a", "b", "c"])
}

/// `stream()` that never yields; when the caller cancels, it tells the
/// caller with `StreamCanceled()` and ends.
fn infinite_stream(_: &Context, (): ()) -> Result<std::iter::Empty<String>, HubError> {
    while streams::sleep(std::time::Duration::from_millis(200)) {}
    clients::caller().send("StreamCanceled", ())?;
    Ok(std::iter::empty())
}

/// Concatenates the strings of the caller's one upload stream.
fn streaming_concat(ctx: &Context, (): ()) -> Result<String, HubError> {
    ctx.upload::<String>(0).collect()
}

/// `stream()` that ends at once.
fn empty_stream(_: &Context, (): ()) -> Result<std::iter::Empty<i32>, HubError> {
    Ok(std::iter::empty())
}

/// `stream()` that fails before its first item.
fn stream_throw_exception(
    _: &Context,
    (message,): (String,),
) -> Result<std::iter::Empty<String>, HubError> {
    Err(HubError::internal(format!(
        "InvalidOperationException: {message}"
    )))
}

fn invoke_with_string(_: &Context, (message,): (String,)) -> Result<(), HubError> {
    clients::caller().send("Message", (message,))
}

fn send_custom_object(_: &Context, (object,): (CustomObject,)) -> Result<(), HubError> {
    clients::caller().send("CustomObject", (object,))
}

fn echo_complex_object(_: &Context, (object,): (Value,)) -> Result<Value, HubError> {
    Ok(object)
}

fn send_complex_object(_: &Context, (): ()) -> Result<ComplexObject, HubError> {
    Ok(ComplexObject {
        string: "hello world",
        int_array: [1, 2, 3],
        byte_array: "AQID",
        guid: "00010203-0405-0607-0706-050403020100",
        date_time: "2000-01-01T00:00:00Z",
    })
}

fn get_active_transport_name(ctx: &Context, (): ()) -> Result<String, HubError> {
    Ok(ctx.transport().to_string())
}

fn get_header(ctx: &Context, (name,): (String,)) -> Result<Option<String>, HubError> {
    Ok(ctx.header(&name).map(str::to_string))
}

fn get_num_redirects(ctx: &Context, (): ()) -> Result<i64, HubError> {
    match ctx.query("numRedirects") {
        None => Ok(0),
        Some(text) => text.parse().map_err(|_| {
            HubError::invalid_argument(format!("numRedirects is not a number: '{text}'"))
        }),
    }
}

fn client_result(_: &Context, (method,): (String,)) -> Result<Value, HubError> {
    let result = clients::caller().invoke_one::<Value>(&method, ())?;
    result.value.map_err(HubError::no_client_responded)
}

/// `ClientResult` with the hub's own timeout (the host caps it).
fn client_result_within(
    _: &Context,
    (method, timeout_ms): (String, u64),
) -> Result<Value, HubError> {
    let result = clients::caller()
        .timeout(std::time::Duration::from_millis(timeout_ms))
        .invoke_one::<Value>(&method, ())?;
    result.value.map_err(HubError::no_client_responded)
}

/// Writes `count` log lines (the host rate-limits them).
fn log_many(_: &Context, (count,): (u32,)) -> Result<(), HubError> {
    for i in 0..count {
        wasmhub_guest::log::info(&format!("log-many line {i}"));
    }
    Ok(())
}

/// Prints `text` to stdout and, prefixed, to stderr (the host logs both).
fn print(_: &Context, (text,): (String,)) -> Result<(), HubError> {
    println!("{text}");
    eprintln!("to stderr: {text}");
    Ok(())
}

fn panic(_: &Context, (message,): (String,)) -> Result<(), HubError> {
    panic!("{message}");
}

fn spin_forever(_: &Context, (): ()) -> Result<(), HubError> {
    let mut turns: u64 = 0;
    loop {
        turns = black_box(turns.wrapping_add(1));
    }
}

fn allocate_forever(_: &Context, (): ()) -> Result<(), HubError> {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        // Filled with ones so that every page is really touched.
        chunks.push(black_box(vec![1u8; 1 << 20]));
    }
}

fn get_user(ctx: &Context, (): ()) -> Result<Option<String>, HubError> {
    Ok(ctx.user().map(str::to_string))
}

fn get_attributes(ctx: &Context, (): ()) -> Result<BTreeMap<String, Vec<String>>, HubError> {
    Ok(ctx.all_attributes().iter().cloned().collect())
}

fn get_query(ctx: &Context, (name,): (String,)) -> Result<Option<String>, HubError> {
    Ok(ctx.query(&name).map(str::to_string))
}

fn add_to_group(_: &Context, (connection_id, group): (String, String)) -> Result<(), HubError> {
    groups::add(&connection_id, &group)
}

fn remove_from_group(
    _: &Context,
    (connection_id, group): (String, String),
) -> Result<(), HubError> {
    groups::remove(&connection_id, &group)
}

fn send_to_group(
    _: &Context,
    (group, method, arg): (String, String, Value),
) -> Result<(), HubError> {
    clients::with_group(&group).send(&method, (arg,))
}

/// One connection anywhere in the cluster: the load tool's whisper.
fn send_to_connection(
    _: &Context,
    (connection_id, method, arg): (String, String, Value),
) -> Result<(), HubError> {
    clients::connection(&connection_id).send(&method, (arg,))
}

fn group_members(_: &Context, (group,): (String,)) -> Result<Vec<String>, HubError> {
    let connections = presence::connections_in_group(&group)?;
    Ok(sorted_ids(connections.into_iter().map(|conn| conn.id)))
}

fn connections_by_attribute(
    _: &Context,
    (key, value): (String, Option<String>),
) -> Result<Vec<String>, HubError> {
    let connections = presence::connections_by_attribute(&key, value.as_deref())?;
    Ok(sorted_ids(connections.into_iter().map(|conn| conn.id)))
}

fn send_to_attribute(
    _: &Context,
    (key, value, method, arg): (String, Option<String>, String, Value),
) -> Result<(), HubError> {
    clients::with_attribute(&key, value.as_deref()).send(&method, (arg,))
}

fn invoke_all_group(
    _: &Context,
    (group, method): (String, String),
) -> Result<Vec<GroupAnswer>, HubError> {
    let results = clients::with_group(&group).invoke_all::<Value>(&method, ())?;
    Ok(results
        .into_iter()
        .map(|result| {
            let (value, error) = match result.value {
                Ok(value) => (Some(value), None),
                Err(error) => (None, Some(error)),
            };
            GroupAnswer {
                connection_id: result.connection_id,
                value,
                error,
            }
        })
        .collect())
}

/// `KvSet(key, value, ttlMs)`: the store's `set`, `ttlMs` null for none.
fn kv_set(
    _: &Context,
    (key, value, ttl_ms): (String, String, Option<u64>),
) -> Result<(), HubError> {
    match ttl_ms {
        Some(ms) => kv::set_with_ttl(&key, &value, std::time::Duration::from_millis(ms)),
        None => kv::set(&key, &value),
    }
}

fn kv_get(_: &Context, (key,): (String,)) -> Result<Option<String>, HubError> {
    kv::get(&key)
}

fn kv_delete(_: &Context, (key,): (String,)) -> Result<bool, HubError> {
    kv::delete(&key)
}

fn kv_increment(_: &Context, (key, by): (String, i64)) -> Result<i64, HubError> {
    kv::increment(&key, by)
}

fn kv_keys(_: &Context, (prefix, limit): (String, u32)) -> Result<Vec<String>, HubError> {
    kv::keys(&prefix, limit)
}

/// What `HttpSend` answers: the response, its body as text.
#[derive(Serialize)]
struct HttpAnswer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

/// `HttpSend(method, url, headers, body, timeoutMs)`: one outbound
/// request (the `http` import), `headers` a list of [name, value].
fn http_send(
    _: &Context,
    (method, url, headers, body, timeout_ms): (
        String,
        String,
        Vec<(String, String)>,
        String,
        Option<u64>,
    ),
) -> Result<HttpAnswer, HubError> {
    let mut request = http::Request::new(&method, &url).body(body);
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    if let Some(ms) = timeout_ms {
        request = request.timeout(std::time::Duration::from_millis(ms));
    }
    let response = request.send()?;
    Ok(HttpAnswer {
        status: response.status,
        body: response.text()?.to_owned(),
        headers: response.headers,
    })
}

fn online_users(_: &Context, (): ()) -> Result<Vec<OnlineUser>, HubError> {
    Ok(presence::online_users()?
        .into_iter()
        .map(|presence| OnlineUser {
            user: presence.user,
            connections: presence.connections,
        })
        .collect())
}

/// Connection ids, sorted, so that tests compare them as lists.
fn sorted_ids(ids: impl Iterator<Item = String>) -> Vec<String> {
    let mut ids: Vec<String> = ids.collect();
    ids.sort();
    ids
}
