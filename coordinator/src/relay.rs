//! Events between coordinators that share one PostgreSQL database, over
//! PostgreSQL's LISTEN/NOTIFY: "work may be available" (a worker
//! long-polling one coordinator wakes for a task another one readied) and
//! job events (a `WatchJob` stream on one coordinator follows a job that
//! another one advances).
//!
//! A note carries the job and the event's message; the coordinator that
//! receives it reads the job's state and counts itself, after the sender's
//! commit, and publishes that to its own watchers. Per-task details (which
//! task, its progress) stay with the coordinator that handled the task.
//! Notes sent while a listener was reconnecting are lost; the listener then
//! wakes its long polls, and a watcher's next note or its snapshot on
//! lagging brings it up to date. SQLite has one coordinator: nothing to
//! relay.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::mpsc;
use tracing::warn;

use crate::Coordinator;
use crate::domain::JobEvent;
use crate::error::Result;

/// The NOTIFY channel.
const CHANNEL: &str = "stylefarm_events";

/// NOTIFY payloads must stay under 8000 bytes; messages are cut to this.
const MAX_MESSAGE_BYTES: usize = 4000;

/// What this coordinator tells the others.
#[derive(Debug)]
pub(crate) enum Relay {
    Work,
    Job { job_id: String, message: String },
}

/// A NOTIFY payload (JSON). An empty `job_id` means "work available".
#[derive(Debug, Serialize, Deserialize)]
struct Note {
    from: String,
    #[serde(default)]
    job_id: String,
    #[serde(default)]
    message: String,
}

impl Coordinator {
    /// On PostgreSQL, starts relaying this coordinator's events to the
    /// others and theirs to it, until shutdown. Nothing on SQLite.
    pub(crate) async fn start_relay(&self) -> Result<()> {
        let Some(pool) = self.db().postgres_pool().cloned() else {
            return Ok(());
        };
        let origin = uuid::Uuid::new_v4().simple().to_string();
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        self.events().set_relay(tx);
        tokio::spawn(send_forever(pool, origin.clone(), rx));
        tokio::spawn(self.clone().listen_forever(listener, origin));
        Ok(())
    }

    async fn listen_forever(self, mut listener: PgListener, origin: String) {
        let mut shutdown = self.events().shutdown_signal();
        loop {
            let received = tokio::select! {
                received = listener.try_recv() => received,
                _ = shutdown.wait_for(|down| *down) => return,
            };
            match received {
                Ok(Some(notification)) => {
                    match serde_json::from_str::<Note>(notification.payload()) {
                        Ok(note) if note.from != origin => self.receive(note).await,
                        Ok(_) => {}
                        Err(e) => {
                            warn!(error = %e, "unreadable event note from another coordinator")
                        }
                    }
                }
                // The connection was lost and is being re-established:
                // notes meanwhile are lost, so look for work again.
                Ok(None) => self.events().work_available_here(),
                Err(e) => {
                    warn!(error = %e, "listening for other coordinators' events failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn receive(&self, note: Note) {
        if note.job_id.is_empty() {
            self.events().work_available_here();
            return;
        }
        if !self.events().watched_here() {
            return;
        }
        match self.snapshot_event(&note.job_id).await {
            Ok(event) => self.events().publish_here(JobEvent {
                message: note.message,
                ..event
            }),
            Err(e) => warn!(job = %note.job_id, error = %e, "reading a relayed job event failed"),
        }
    }
}

/// Sends the queued notes, several at a time, "work available" once per
/// batch.
async fn send_forever(pool: PgPool, origin: String, mut rx: mpsc::UnboundedReceiver<Relay>) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 256).await > 0 {
        let mut work = false;
        for relay in batch.drain(..) {
            let note = match relay {
                Relay::Work if work => continue,
                Relay::Work => {
                    work = true;
                    Note {
                        from: origin.clone(),
                        job_id: String::new(),
                        message: String::new(),
                    }
                }
                Relay::Job {
                    job_id,
                    mut message,
                } => {
                    if message.len() > MAX_MESSAGE_BYTES {
                        let mut cut = MAX_MESSAGE_BYTES;
                        while !message.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        message.truncate(cut);
                    }
                    Note {
                        from: origin.clone(),
                        job_id,
                        message,
                    }
                }
            };
            let payload = serde_json::to_string(&note).unwrap_or_default();
            if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(payload)
                .execute(&pool)
                .await
            {
                warn!(error = %e, "telling other coordinators of an event failed");
            }
        }
    }
}
