//! The cluster API on its own, against the in-memory backend.

use super::*;
use crate::connection::handle::{CloseReason, DISCONNECTED};
use crate::protocol::handshake::HubProtocol;

struct Client {
    handle: ConnectionHandle,
    ends: ConnectionEnds,
}

async fn connect(
    cluster: &Cluster,
    hub: &str,
    id: &str,
    user: Option<&str>,
    attributes: &[(&str, &str)],
) -> Client {
    connect_speaking(cluster, HubProtocol::Json, hub, id, user, attributes).await
}

async fn connect_speaking(
    cluster: &Cluster,
    protocol: HubProtocol,
    hub: &str,
    id: &str,
    user: Option<&str>,
    attributes: &[(&str, &str)],
) -> Client {
    let (handle, ends) = ConnectionHandle::new(1 << 20, protocol);
    let mut attrs = Attributes::new();
    for (k, v) in attributes {
        attrs.entry(k.to_string()).or_default().push(v.to_string());
    }
    cluster
        .register(
            ConnectionRecord {
                id: id.into(),
                hub: hub.into(),
                user: user.map(Into::into),
                node: cluster.node_id().into(),
                groups: BTreeSet::new(),
                attributes: attrs,
            },
            handle.clone(),
        )
        .await;
    Client { handle, ends }
}

fn ids(records: &[ConnectionRecord]) -> Vec<&str> {
    records.iter().map(|r| r.id.as_str()).collect()
}

async fn selected(cluster: &Cluster, sel: &Selection) -> Vec<String> {
    cluster
        .connections(sel)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect()
}

#[tokio::test]
async fn selections_narrow_step_by_step() {
    let cluster = Cluster::in_memory("n1");
    let _a = connect(&cluster, "chat", "a", Some("alice"), &[("role", "Admin")]).await;
    let _b1 = connect(&cluster, "chat", "b1", Some("bob"), &[("role", "user")]).await;
    let _b2 = connect(&cluster, "chat", "b2", Some("bob"), &[]).await;
    let _other = connect(&cluster, "other", "x", Some("bob"), &[]).await;
    cluster.add_to_group("chat", "a", "room").await.unwrap();
    cluster.add_to_group("chat", "b1", "room").await.unwrap();

    let all = Selection::all("chat");
    assert_eq!(selected(&cluster, &all).await, ["a", "b1", "b2"]);
    let bob = all.with(Filter::User("bob".into()));
    assert_eq!(selected(&cluster, &bob).await, ["b1", "b2"]);
    assert_eq!(
        selected(&cluster, &bob.with(Filter::Group("room".into()))).await,
        ["b1"]
    );
    assert_eq!(
        selected(&cluster, &all.with(Filter::Attribute("ROLE".into(), None))).await,
        ["a", "b1"]
    );
    assert_eq!(
        selected(
            &cluster,
            &all.with(Filter::Attribute("role".into(), Some("adm*".into())))
        )
        .await,
        ["a"]
    );
    assert_eq!(
        selected(
            &cluster,
            &all.with(Filter::Group("room".into())).except(["a".into()])
        )
        .await,
        ["b1"]
    );
    assert_eq!(
        selected(&cluster, &all.with(Filter::Connection("x".into()))).await,
        Vec::<String>::new(),
        "a connection of another hub is not selected"
    );
    assert!(
        selected(&cluster, &all.with(Filter::Nothing))
            .await
            .is_empty()
    );
    assert_eq!(
        selected(&cluster, &all.with(Filter::Group("Room".into()))).await,
        Vec::<String>::new(),
        "group names are case-sensitive"
    );
}

#[tokio::test]
async fn groups_users_and_presence_follow_changes() {
    let cluster = Cluster::in_memory("n1");
    let _a = connect(&cluster, "chat", "a", None, &[]).await;
    let _b = connect(&cluster, "chat", "b", Some("bob"), &[]).await;
    assert_eq!(
        cluster.online_users("chat").await.unwrap(),
        vec![UserPresence {
            user: "bob".into(),
            connections: vec!["b".into()],
            nodes: vec!["n1".into()]
        }]
    );
    cluster.set_user("a", Some("alice".into())).await.unwrap();
    let users: Vec<String> = cluster
        .online_users("chat")
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.user)
        .collect();
    assert_eq!(users, ["alice", "bob"]);

    cluster.add_to_group("chat", "a", "g").await.unwrap();
    cluster.add_to_group("chat", "b", "g").await.unwrap();
    let in_g = Selection::all("chat").with(Filter::Group("g".into()));
    assert_eq!(ids(&cluster.connections(&in_g).await.unwrap()), ["a", "b"]);
    cluster.remove_from_group("chat", "a", "g").await.unwrap();
    cluster.remove_from_group("chat", "a", "g").await.unwrap();
    assert_eq!(ids(&cluster.connections(&in_g).await.unwrap()), ["b"]);

    assert!(matches!(
        cluster.add_to_group("chat", "nope", "g").await,
        Err(ClusterError::NotFound(_))
    ));
    assert!(matches!(
        cluster.add_to_group("other", "a", "g").await,
        Err(ClusterError::NotFound(_))
    ));

    let gone = cluster.unregister("b").await.unwrap();
    assert!(gone.groups.contains("g"));
    assert!(cluster.connections(&in_g).await.unwrap().is_empty());
    let users: Vec<String> = cluster
        .online_users("chat")
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.user)
        .collect();
    assert_eq!(users, ["alice"]);
}

#[tokio::test]
async fn a_fan_out_serializes_once_per_protocol() {
    let cluster = Cluster::in_memory("n1");
    let mut a = connect(&cluster, "chat", "a", None, &[]).await;
    let mut b = connect(&cluster, "chat", "b", None, &[]).await;
    let mut c = connect_speaking(&cluster, HubProtocol::MessagePack, "chat", "c", None, &[]).await;
    let mut d = connect_speaking(&cluster, HubProtocol::MessagePack, "chat", "d", None, &[]).await;
    let all = Selection::all("chat");
    let sent = cluster.send(&all, "Message", "[\"hi\"]").await.unwrap();
    assert_eq!(sent, 4);
    let fa = a.ends.outbound.recv().await.bytes;
    let fb = b.ends.outbound.recv().await.bytes;
    let fc = c.ends.outbound.recv().await.bytes;
    let fd = d.ends.outbound.recv().await.bytes;
    assert_eq!(
        &fa[..],
        b"{\"type\":1,\"target\":\"Message\",\"arguments\":[\"hi\"]}\x1e"
    );
    // [1, {}, nil, "Message", ["hi"], []] with its length prefix.
    assert_eq!(&fc[..], b"\x11\x96\x01\x80\xc0\xa7Message\x91\xa2hi\x90");
    assert_eq!(fa.as_ptr(), fb.as_ptr(), "one JSON encoding, shared");
    assert_eq!(fc.as_ptr(), fd.as_ptr(), "one MessagePack encoding, shared");
}

/// Answers every invocation a client gets with `answer(target, id)`.
fn answer_with(
    client: Client,
    answer: impl Fn(usize) -> Option<Result<String, String>> + Send + 'static,
) -> tokio::task::JoinHandle<usize> {
    let Client { handle, mut ends } = client;
    tokio::spawn(async move {
        let mut calls = 0;
        loop {
            let frame = ends.outbound.recv().await;
            let frame = frame.bytes;
            let text = std::str::from_utf8(&frame[..frame.len() - 1])
                .unwrap()
                .to_owned();
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            let id = value["invocationId"].as_str().unwrap().to_owned();
            calls += 1;
            match answer(calls) {
                Some(result) => {
                    handle.complete(&id, result);
                }
                None => {
                    handle.disconnected();
                    return calls;
                }
            }
        }
    })
}

#[tokio::test]
async fn invoke_one_asks_one_client_at_a_time_until_one_answers() {
    let cluster = Cluster::in_memory("n1");
    let a = connect(&cluster, "chat", "a", Some("bob"), &[]).await;
    let b = connect(&cluster, "chat", "b", Some("bob"), &[]).await;
    let mut c = connect(&cluster, "chat", "c", Some("bob"), &[]).await;
    let _ta = answer_with(a, |_| Some(Err("Error: busy".into())));
    let _tb = answer_with(b, |_| Some(Ok("42".into())));
    let bob = Selection::all("chat").with(Filter::User("bob".into()));
    let answer = cluster
        .invoke_one(&bob, "Question", "[]", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(answer.connection_id, "b");
    assert_eq!(answer.value, Ok("42".into()));
    assert!(
        c.ends.outbound.try_recv().is_none(),
        "c was never asked: b answered first"
    );
}

#[tokio::test]
async fn invoke_one_reports_why_nobody_answered() {
    let cluster = Cluster::in_memory("n1");
    let none = cluster
        .invoke_one(&Selection::all("chat"), "Q", "[]", Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(
        none,
        ClusterError::NoClientResponded("no connection is selected".into())
    );

    let a = connect(&cluster, "chat", "a", None, &[]).await;
    let b = connect(&cluster, "chat", "b", None, &[]).await;
    let _ta = answer_with(a, |_| Some(Err("Error: from callback".into())));
    let _tb = answer_with(b, |_| None);
    let err = cluster
        .invoke_one(&Selection::all("chat"), "Q", "[]", Duration::from_secs(30))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("a: Error: from callback"), "{err}");
    assert!(err.contains(&format!("b: {DISCONNECTED}")), "{err}");
}

#[tokio::test]
async fn invoke_all_returns_every_answer_and_error() {
    let cluster = Cluster::in_memory("n1");
    let a = connect(&cluster, "chat", "a", Some("alice"), &[]).await;
    let b = connect(&cluster, "chat", "b", Some("bob"), &[]).await;
    let _ta = answer_with(a, |_| Some(Ok("\"yes\"".into())));
    let _tb = answer_with(b, |_| Some(Err("Error: no".into())));
    let answers = cluster
        .invoke_all(&Selection::all("chat"), "Q", "[]", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        answers,
        vec![
            ClientAnswer {
                connection_id: "a".into(),
                user: Some("alice".into()),
                value: Ok("\"yes\"".into())
            },
            ClientAnswer {
                connection_id: "b".into(),
                user: Some("bob".into()),
                value: Err("Error: no".into())
            },
        ]
    );
}

#[tokio::test]
async fn close_all_tells_every_connection() {
    let cluster = Cluster::in_memory("n1");
    let mut a = connect(&cluster, "chat", "a", None, &[]).await;
    let reason = CloseReason {
        error: None,
        allow_reconnect: true,
    };
    cluster.close_all(reason.clone()).await;
    a.ends.close.changed().await.unwrap();
    assert_eq!(*a.ends.close.borrow(), Some(reason));
    let _ = &mut a.handle;
}
