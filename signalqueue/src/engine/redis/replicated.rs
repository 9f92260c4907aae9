//! Sends that return only once replicas hold them (`?replicas=N&replica_timeout_ms=T`).
//!
//! Redis replicates asynchronously: a primary answers a write before any replica has it, and a
//! failover to a replica that had not received it loses a send that already returned `Ok`.
//! `WAIT N T` blocks until N replicas acknowledged every write the connection made so far (or T
//! passed) and says how many did, so a write followed by `WAIT` on the same connection is held
//! by N replicas when the answer says N.
//!
//! How the writes reach Redis follows from that:
//!
//! - **One pipeline per group, ending in one `WAIT`.** Writes of concurrent callers queue up
//!   while a group is on its way; the next group takes them all, so however many tasks send at
//!   once, a group costs one round trip plus the replicas' acknowledgement. `WAIT` counts every
//!   earlier write of the connection, which covers the whole group (and is conservative for
//!   writes that changed nothing).
//! - **The write and its `WAIT` travel together.** A pipeline goes out on one socket, so a
//!   reconnection can never fall between them; a `WAIT` on a fresh connection would count none
//!   of the writes and confirm at once. On a cluster the `redis` crate routes a pipeline by its
//!   first command with a key, so the `WAIT` runs on the primary that holds the queue's slot
//!   (a `WAIT` alone would go to every primary).
//! - **A connection of its own.** A client blocked in `WAIT` runs nothing else until it returns,
//!   so on the shared connection it would hold up the claims and acks of a worker; here it
//!   holds up only other sends, which wait for replicas anyway.
//! - **A task leads each burst.** The group's pipeline is sent by a spawned task, not by one of
//!   the callers, so a caller whose future is dropped cannot leave the others of its group
//!   without an answer.
//!
//! Only writes that create entries go this way (sends, batches, delayed sends, ticks). A lost
//! claim, ack, retry or dead letter loses no signal: the state before it comes back with the
//! failover, and a claim whose end was lost runs again when its lease runs out.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::{Cmd, ErrorKind, RedisError, Script, ServerErrorKind, Value};
use tokio::sync::oneshot;

use super::connection::{Connection, Replication};

/// The most writes one pipeline carries; more wait for the next group.
const MAX_GROUP: usize = 256;

/// How one replicated write ended.
#[derive(Debug)]
pub(crate) enum Replicated {
    /// Written, and held by at least the replicas asked for: the reply of the write.
    Held(Value),
    /// The primary applied the write, but only `confirmed` replicas acknowledged it in time;
    /// `refused` is the error `WAIT` itself answered, if it did.
    NotHeld {
        confirmed: i64,
        refused: Option<String>,
    },
    /// The request failed: Redis refused the write (not applied), or the connection failed
    /// under it (applied or not, nobody knows).
    Failed(RedisError),
}

/// The queue of replicated writes of one engine, on a connection of their own.
pub(crate) struct ReplicatedWrites {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Connection,
    want: Replication,
    /// The bound on one group's round trip, reconnection and the wait for replicas included.
    limit: Duration,
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    /// A task is sending groups; it takes every job queued before it looks again.
    leading: bool,
}

struct Job {
    write: Cmd,
    /// The script an `EVALSHA` write runs, to load it when Redis answers `NOSCRIPT`.
    script: Option<&'static Script>,
    done: oneshot::Sender<Replicated>,
}

impl ReplicatedWrites {
    pub(crate) fn new(conn: Connection, want: Replication, limit: Duration) -> ReplicatedWrites {
        ReplicatedWrites {
            inner: Arc::new(Inner {
                conn,
                want,
                limit,
                queue: Mutex::new(Queue::default()),
            }),
        }
    }

    /// What the URL asked for.
    pub(crate) fn want(&self) -> Replication {
        self.inner.want
    }

    /// Sends `write` (an `EVALSHA` of `script`, or a plain command) with the next group and
    /// returns once its `WAIT` answered.
    pub(crate) async fn write(&self, write: Cmd, script: Option<&'static Script>) -> Replicated {
        let (done, answer) = oneshot::channel();
        let lead = {
            let mut queue = self.inner.lock();
            queue.jobs.push(Job {
                write,
                script,
                done,
            });
            !std::mem::replace(&mut queue.leading, true)
        };
        if lead {
            tokio::spawn(Arc::clone(&self.inner).lead());
        }
        // The group before ours, then ours: each bounded by `limit`.
        match tokio::time::timeout(self.inner.limit * 2, answer).await {
            Ok(Ok(outcome)) => outcome,
            // Only a runtime shutting down drops the leading task with our job in it.
            Ok(Err(_)) => Replicated::Failed(RedisError::from((
                ErrorKind::Io,
                "the task sending replicated writes stopped (is the async runtime shutting down?)",
            ))),
            Err(_) => Replicated::Failed(RedisError::from((
                ErrorKind::Io,
                "no answer in time",
                format!("{} ms", (self.inner.limit * 2).as_millis()),
            ))),
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A panic under this lock leaves a plain list: still usable.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends groups until no write is waiting.
    async fn lead(self: Arc<Self>) {
        let mut leading = Leading {
            inner: &self,
            done: false,
        };
        loop {
            let group: Vec<Job> = {
                let mut queue = self.lock();
                if queue.jobs.is_empty() {
                    queue.leading = false;
                    leading.done = true;
                    return;
                }
                let take = queue.jobs.len().min(MAX_GROUP);
                queue.jobs.drain(..take).collect()
            };
            self.send_group(group).await;
        }
    }

    /// One pipeline of the group's writes and a `WAIT`; writes refused with `NOSCRIPT` (not
    /// applied) go again, once their scripts are loaded.
    async fn send_group(&self, mut group: Vec<Job>) {
        for attempt in 0..2 {
            let answers = match tokio::time::timeout(self.limit, self.pipeline(&group)).await {
                Ok(Ok(answers)) => answers,
                Ok(Err(e)) => return fail_all(group, &e),
                Err(_) => {
                    let e = RedisError::from((
                        ErrorKind::Io,
                        "no answer in time",
                        format!("{} ms", self.limit.as_millis()),
                    ));
                    return fail_all(group, &e);
                }
            };
            let confirmed = match answers.last() {
                Some(Value::Int(n)) => Ok(*n),
                Some(Value::ServerError(e)) => Err(RedisError::from(e.clone()).to_string()),
                other => Err(format!("an unexpected answer: {other:?}")),
            };
            let mut again = Vec::new();
            for (job, answer) in group.into_iter().zip(answers) {
                let outcome = match answer {
                    Value::ServerError(e) => {
                        let e = RedisError::from(e);
                        if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript)
                            && job.script.is_some()
                            && attempt == 0
                        {
                            again.push(job);
                            continue;
                        }
                        Replicated::Failed(e)
                    }
                    reply => match &confirmed {
                        Ok(n) if *n >= i64::from(self.want.replicas) => Replicated::Held(reply),
                        Ok(n) => Replicated::NotHeld {
                            confirmed: *n,
                            refused: None,
                        },
                        // `WAIT` itself failed: nothing confirmed the write.
                        Err(e) => Replicated::NotHeld {
                            confirmed: 0,
                            refused: Some(e.clone()),
                        },
                    },
                };
                let _ = job.done.send(outcome);
            }
            if again.is_empty() {
                return;
            }
            let mut conn = self.conn.clone();
            for job in &again {
                if let Some(script) = job.script {
                    if let Err(e) = script.load_async(&mut conn).await {
                        return fail_all(again, &e);
                    }
                }
            }
            group = again;
        }
    }

    /// The group's writes, then `WAIT`: every answer, the `WAIT`'s last.
    async fn pipeline(&self, group: &[Job]) -> redis::RedisResult<Vec<Value>> {
        let mut pipe = redis::pipe();
        for job in group {
            pipe.add_command(job.write.clone());
        }
        pipe.cmd("WAIT")
            .arg(self.want.replicas)
            .arg(u64::try_from(self.want.timeout.as_millis()).unwrap_or(u64::MAX));
        let mut conn = self.conn.clone();
        let answers = conn.req_packed_commands(&pipe, 0, group.len() + 1).await?;
        if answers.len() != group.len() + 1 {
            return Err(RedisError::from((
                ErrorKind::Client,
                "a pipeline of replicated writes got the wrong number of answers",
            )));
        }
        Ok(answers)
    }
}

/// Hands the lead on if the leading task ends without finishing (a runtime shutting down drops
/// it): the next write starts a new one for what is still queued.
struct Leading<'a> {
    inner: &'a Inner,
    done: bool,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.inner.lock().leading = false;
        }
    }
}

fn fail_all(group: Vec<Job>, e: &RedisError) {
    for job in group {
        let _ = job.done.send(Replicated::Failed(e.clone()));
    }
}
