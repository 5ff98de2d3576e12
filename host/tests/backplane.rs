//! The cluster API over a real Redis: two nodes in one process, each
//! with its own local connections, sharing a private `redis-server`.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wasmhub::cluster::redis::BackplaneOptions;
use wasmhub::cluster::{
    Attributes, Cluster, ClusterError, ConnectionEnds, ConnectionHandle, ConnectionRecord, Filter,
    Selection,
};

/// A private redis-server on a free port, stopped on drop.
struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Redis { port, child: None };
        redis.restart();
        redis
    }

    fn restart(&mut self) {
        // WASMHUB_REDIS_SERVER: another Redis-compatible server (Valkey).
        let server =
            std::env::var("WASMHUB_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        let child = Command::new(server)
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn node(redis: &Redis, id: &str) -> Cluster {
    Cluster::with_backplane(BackplaneOptions {
        url: redis.url(),
        prefix: "test".into(),
        node_id: id.into(),
        heartbeat_interval: Duration::from_millis(100),
        node_timeout: Duration::from_millis(500),
        metrics: wasmhub::metrics::Metrics::new(),
    })
    .await
    .unwrap()
}

struct Client {
    handle: ConnectionHandle,
    ends: ConnectionEnds,
}

async fn connect(cluster: &Cluster, id: &str, user: &str, attributes: &[(&str, &str)]) -> Client {
    let (handle, ends) =
        ConnectionHandle::new(1 << 20, wasmhub::protocol::handshake::HubProtocol::Json);
    let mut attrs = Attributes::new();
    for (k, v) in attributes {
        attrs.entry(k.to_string()).or_default().push(v.to_string());
    }
    let record = ConnectionRecord {
        id: id.into(),
        hub: "chat".into(),
        user: Some(user.into()),
        node: cluster.node_id().into(),
        groups: BTreeSet::new(),
        attributes: attrs,
    };
    cluster.register(record, handle.clone()).await;
    Client { handle, ends }
}

/// Polls `check` until it holds, for at most 10 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn ids(cluster: &Cluster, selection: &Selection) -> Result<Vec<String>, ClusterError> {
    Ok(cluster
        .connections(selection)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect())
}

async fn next_text(client: &mut Client) -> String {
    let frame = tokio::time::timeout(Duration::from_secs(10), client.ends.outbound.recv())
        .await
        .expect("a frame in time")
        .bytes;
    client.handle.written(frame.len());
    String::from_utf8(frame[..frame.len() - 1].to_vec()).unwrap()
}

/// Answers the next invocation a client gets with `answer`.
async fn answer_next(client: &mut Client, answer: Result<&str, &str>) {
    let text = next_text(client).await;
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let id = value["invocationId"]
        .as_str()
        .expect("an invocation with an id");
    client
        .handle
        .complete(id, answer.map(str::to_owned).map_err(str::to_owned));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_act_as_one() {
    let redis = Redis::start();
    let a = node(&redis, "a").await;
    let b = node(&redis, "b").await;
    let mut alice = connect(&a, "c-alice", "alice", &[("role", "admin")]).await;
    let mut bob = connect(&b, "c-bob", "bob", &[("role", "user")]).await;
    let all = Selection::all("chat");

    // Presence is cluster-wide, from either node.
    for cluster in [&a, &b] {
        assert_eq!(ids(cluster, &all).await.unwrap(), ["c-alice", "c-bob"]);
        let users: Vec<String> = cluster
            .online_users("chat")
            .await
            .unwrap()
            .into_iter()
            .map(|u| format!("{}@{}", u.user, u.nodes.join(",")))
            .collect();
        assert_eq!(users, ["alice@a", "bob@b"]);
        assert!(cluster.is_user_online("chat", "bob").await.unwrap());
        assert!(!cluster.is_user_online("chat", "carol").await.unwrap());
    }
    let admins = all.with(Filter::Attribute("role".into(), Some("ADM*".into())));
    assert_eq!(ids(&b, &admins).await.unwrap(), ["c-alice"]);

    // A group change of a connection on the other node goes to its owner.
    a.add_to_group("chat", "c-bob", "room").await.unwrap();
    let room = all.with(Filter::Group("room".into()));
    assert_eq!(ids(&a, &room).await.unwrap(), ["c-bob"]);
    assert_eq!(b.record("c-bob").await.unwrap().groups.len(), 1);
    assert!(matches!(
        a.add_to_group("chat", "nobody", "room").await,
        Err(ClusterError::NotFound(_))
    ));

    // Sends reach the other node: by group (broadcast) and by id (inbox).
    a.send(&room, "Message", "[\"to the room\"]").await.unwrap();
    assert_eq!(
        next_text(&mut bob).await,
        r#"{"type":1,"target":"Message","arguments":["to the room"]}"#
    );
    a.send(
        &all.with(Filter::Connection("c-bob".into())),
        "Message",
        "[\"direct\"]",
    )
    .await
    .unwrap();
    assert!(next_text(&mut bob).await.contains("direct"));

    // invoke-all spans both nodes; invoke-one asks local clients first.
    let poll = tokio::spawn(async move {
        let answers = a
            .invoke_all(
                &Selection::all("chat"),
                "Question",
                "[\"q\"]",
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        (a, answers)
    });
    answer_next(&mut alice, Ok("\"yes\"")).await;
    answer_next(&mut bob, Err("Error: no")).await;
    let (a, answers) = poll.await.unwrap();
    let summary: Vec<String> = answers
        .iter()
        .map(|x| format!("{}={:?}", x.connection_id, x.value))
        .collect();
    assert_eq!(
        summary,
        [r#"c-alice=Ok("\"yes\"")"#, r#"c-bob=Err("Error: no")"#]
    );

    let bob_only = all.with(Filter::User("bob".into()));
    let ask = tokio::spawn(async move {
        let answer = a
            .invoke_one(&bob_only, "Question", "[]", Duration::from_secs(5))
            .await;
        (a, answer)
    });
    answer_next(&mut bob, Ok("42")).await;
    let (a, answer) = ask.await.unwrap();
    assert_eq!(answer.unwrap().value, Ok("42".into()));

    // Leaving removes the registration everywhere at once.
    b.unregister("c-bob").await;
    assert_eq!(ids(&a, &all).await.unwrap(), ["c-alice"]);
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_survives_redis_restarting_and_registers_again() {
    let mut redis = Redis::start();
    let a = node(&redis, "a").await;
    let b = node(&redis, "b").await;
    let mut alice = connect(&a, "c-alice", "alice", &[]).await;
    let _bob = connect(&b, "c-bob", "bob", &[]).await;
    a.add_to_group("chat", "c-alice", "room").await.unwrap();
    let all = Selection::all("chat");
    assert_eq!(ids(&a, &all).await.unwrap(), ["c-alice", "c-bob"]);

    redis.stop();
    // Local delivery goes on; presence says why it cannot answer.
    let room = all.with(Filter::Group("room".into()));
    assert_eq!(a.send(&room, "Message", "[\"local\"]").await.unwrap(), 1);
    assert!(next_text(&mut alice).await.contains("local"));
    assert!(matches!(
        ids(&a, &all).await,
        Err(ClusterError::Unavailable(_))
    ));
    assert!(
        a.is_user_online("chat", "alice").await.unwrap(),
        "local users are known"
    );
    // A connection that arrives during the outage is accepted.
    let _carol = connect(&a, "c-carol", "carol", &[]).await;

    // Redis comes back empty: both nodes register everything again.
    redis.restart();
    eventually("every connection registered again", || async {
        ids(&b, &all).await.ok() == Some(vec!["c-alice".into(), "c-bob".into(), "c-carol".into()])
    })
    .await;
    assert_eq!(
        ids(&b, &room).await.unwrap(),
        ["c-alice"],
        "groups come back too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_cleans_up_after_its_predecessor() {
    let redis = Redis::start();
    let a = node(&redis, "a").await;
    let old_b = node(&redis, "b").await;
    let _ghost = connect(&old_b, "c-ghost", "ghost", &[]).await;
    let all = Selection::all("chat");
    assert_eq!(ids(&a, &all).await.unwrap(), ["c-ghost"]);
    // The old process crashes: it stops beating, its registrations stay.
    old_b.abandon();
    // A new process with the same id takes over once the old heartbeat
    // stops changing, and removes what the predecessor left.
    let _new_b = node(&redis, "b").await;
    eventually("the predecessor's connections to vanish", || async {
        ids(&a, &all).await.map(|v| v.is_empty()).unwrap_or(false)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_live_process_with_the_same_node_id_is_refused() {
    let redis = Redis::start();
    let b = node(&redis, "b").await;
    let _kept = connect(&b, "c-kept", "kept", &[]).await;
    let error = Cluster::with_backplane(BackplaneOptions {
        url: redis.url(),
        prefix: "test".into(),
        node_id: "b".into(),
        heartbeat_interval: Duration::from_millis(100),
        node_timeout: Duration::from_millis(500),
        metrics: wasmhub::metrics::Metrics::new(),
    })
    .await
    .err()
    .expect("a second live 'b' must be refused");
    assert!(
        error
            .to_string()
            .contains("another live process is node 'b'"),
        "{error}"
    );
    // The first one's registrations were not touched.
    assert_eq!(ids(&b, &Selection::all("chat")).await.unwrap(), ["c-kept"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_change_racing_the_unregister_leaves_no_ghost() {
    let redis = Redis::start();
    let a = std::sync::Arc::new(node(&redis, "a").await);
    let observer = node(&redis, "o").await;
    let all = Selection::all("chat");
    for round in 0..50 {
        let id = format!("c-{round}");
        let _client = connect(&a, &id, "u", &[]).await;
        // Group changes and the unregister race on the same connection.
        let changes: Vec<_> = (0..4)
            .map(|g| {
                let (a, id) = (a.clone(), id.clone());
                tokio::spawn(async move {
                    let _ = a.add_to_group("chat", &id, &format!("g{g}")).await;
                })
            })
            .collect();
        let gone = {
            let (a, id) = (a.clone(), id.clone());
            tokio::spawn(async move { a.unregister(&id).await })
        };
        for change in changes {
            change.await.unwrap();
        }
        gone.await.unwrap();
    }
    // Nothing is left of any of them, on any node's view.
    assert_eq!(ids(&observer, &all).await.unwrap(), Vec::<String>::new());
    for g in 0..4 {
        let group = all.with(Filter::Group(format!("g{g}")));
        assert_eq!(ids(&observer, &group).await.unwrap(), Vec::<String>::new());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphaned_registration_of_a_gone_node_is_removed() {
    let redis = Redis::start();
    let a = node(&redis, "a").await;
    // What a registration that landed after its node was swept leaves: a
    // record, its index, its node's set, and no heartbeat or node entry.
    let orphan = ConnectionRecord {
        id: "c-orphan".into(),
        hub: "chat".into(),
        user: Some("ghost".into()),
        node: "gone".into(),
        groups: BTreeSet::new(),
        attributes: Attributes::new(),
    };
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::pipe()
        .set(
            "test:connection:c-orphan",
            serde_json::to_string(&orphan).unwrap(),
        )
        .sadd("test:hub:chat:connections", "c-orphan")
        .sadd("test:node:gone:connections", "c-orphan")
        // A beat, for now, so that the janitor (every 100 ms) leaves it be
        // until it has been seen.
        .set("test:node:gone:heartbeat", "1")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let all = Selection::all("chat");
    assert_eq!(ids(&a, &all).await.unwrap(), ["c-orphan"]);
    redis::cmd("DEL")
        .arg("test:node:gone:heartbeat")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    // The janitor finds the set of a node with no heartbeat and sweeps it.
    eventually("the orphan to be removed", || async {
        ids(&a, &all).await.map(|v| v.is_empty()).unwrap_or(false)
    })
    .await;
    a.shutdown().await;
}
