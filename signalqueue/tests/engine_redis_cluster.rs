//! The Redis engines over a real local Redis Cluster: three `redis-server --cluster-enabled yes`
//! processes joined with `redis-cli --cluster create`, started privately by this test.

// The checks are called one by one here (one cluster for all of them), so the suite's
// test-generating macro goes unused.
#[allow(unused_macros, unused_imports)]
#[path = "support/contract.rs"]
mod contract;
#[path = "support/redis_server.rs"]
mod redis_server;

use signalqueue::engine::{EngineOptions, SharedEngine};
use signalqueue::EnvelopeId;

use crate::contract::{claim_all, claim_one, counts, items, texts, tokens, LONG_LEASE};
use crate::redis_server::{RedisCluster, RedisServer};

/// Opens queues of one engine kind on the cluster.
struct Fixture<'a> {
    cluster: &'a RedisCluster,
    scheme: &'static str,
}

impl contract::Fixture for Fixture<'_> {
    async fn open(&self, options: EngineOptions) -> SharedEngine {
        signalqueue::engine::open(&self.cluster.url(self.scheme), options)
            .await
            .expect("open the redis cluster engine")
    }
}

/// Whether `node` serves the slot of queue `queue`: other nodes answer `MOVED`.
fn owns(node: &RedisServer, queue: &str) -> bool {
    let reply = node.command(&["EXISTS", &format!("{{sq:{queue}}}:pending")]);
    !reply.starts_with("-MOVED")
}

/// One queue name per node, so the checks below cover every node.
fn queue_per_node(cluster: &RedisCluster) -> Vec<String> {
    let run = EnvelopeId::new();
    let mut names: Vec<Option<String>> = vec![None; cluster.nodes().len()];
    for i in 0.. {
        let name = format!("cluster-{run}-{i}");
        for (slot, node) in cluster.nodes().iter().enumerate() {
            if names[slot].is_none() && owns(node, &name) {
                names[slot] = Some(name.clone());
            }
        }
        if names.iter().all(Option::is_some) {
            break;
        }
    }
    names.into_iter().flatten().collect()
}

/// Enqueue, claim, ack, retry, dead-letter and replay work on queues that live on different
/// nodes, for both engine kinds; each queue's keys sit together on the node that owns its slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_on_every_node_work_and_keep_their_keys_together() {
    let cluster = RedisCluster::start();
    for scheme in ["redis-cluster", "redis-set-cluster"] {
        let names = queue_per_node(&cluster);
        assert_eq!(names.len(), 3);
        for (node, queue) in names.into_iter().enumerate() {
            let engine =
                signalqueue::engine::open(&cluster.url(scheme), EngineOptions::new(queue.clone()))
                    .await
                    .expect("open");
            engine.ping().await.expect("ping");

            engine.enqueue(&items("c", 4)).await.expect("enqueue");
            assert_eq!(engine.counts().await.expect("counts"), counts(4, 0, 0, 0));
            let claimed = claim_all(&engine, 10).await;
            assert_eq!(texts(&claimed), ["c-0", "c-1", "c-2", "c-3"]);
            assert_eq!(
                engine.ack(&tokens(&claimed[..2])).await.expect("ack"),
                [true, true]
            );
            assert!(engine
                .retry(
                    &claimed[2].token,
                    b"c-2-again",
                    std::time::SystemTime::now()
                )
                .await
                .expect("retry"));
            assert!(engine
                .dead_letter(&claimed[3].token, &claimed[3].payload, "poison")
                .await
                .expect("dead_letter"));

            // The blocking wait works on the owning node too.
            let again = claim_one(&engine, LONG_LEASE).await;
            assert_eq!(again.payload, b"c-2-again");
            assert_eq!(again.deliveries, 2);
            assert_eq!(engine.ack(&[again.token]).await.expect("ack"), [true]);

            let dead = engine.dead(10).await.expect("dead");
            assert_eq!(dead.len(), 1);
            assert_eq!(dead[0].payload, b"c-3");
            assert_eq!(dead[0].reason, "poison");

            // The dead letter's keys are on the node that owns the queue's slot, and only there.
            let dead_key = format!("{{sq:{queue}}}:dead");
            for (i, other) in cluster.nodes().iter().enumerate() {
                let reply = other.command(&["EXISTS", &dead_key]);
                if i == node {
                    assert_eq!(reply.trim(), ":1", "{dead_key} on its node");
                } else {
                    assert!(reply.starts_with("-MOVED"), "{dead_key} elsewhere: {reply}");
                }
            }

            assert_eq!(engine.replay_dead(None).await.expect("replay"), 1);
            let replayed = claim_one(&engine, LONG_LEASE).await;
            assert_eq!(replayed.payload, b"c-3");
            assert_eq!(engine.ack(&[replayed.token]).await.expect("ack"), [true]);
            assert_eq!(engine.counts().await.expect("counts"), counts(0, 0, 0, 0));
        }
    }
}

/// The whole engine contract, check after check, on one cluster (a cluster per check would
/// start 120 servers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_contract_holds_on_a_cluster() {
    let cluster = RedisCluster::start();
    for scheme in ["redis-cluster", "redis-set-cluster"] {
        let f = Fixture {
            cluster: &cluster,
            scheme,
        };
        contract::engine_contract_tests!(in_sequence: (&f));
    }
}
