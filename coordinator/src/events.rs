//! In-memory signals between RPCs: job events for `WatchJob` streams, the
//! "work may be available" notification that wakes long-polling `Lease`
//! calls, the latest progress of running tasks, and the shutdown flag. On
//! PostgreSQL, events and wake-ups also go to the other coordinators
//! (relay.rs).
//!
//! Nothing here is state: a restarted coordinator loses only progress
//! numbers, which the next heartbeat brings back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tokio::sync::{Notify, broadcast, mpsc, watch};

use crate::domain::{JobEvent, Progress};
use crate::relay::Relay;

/// Events buffered per `WatchJob` subscriber before it lags (and is sent a
/// fresh snapshot instead).
const EVENT_BUFFER: usize = 1024;

#[derive(Debug)]
pub(crate) struct Events {
    jobs: broadcast::Sender<Arc<JobEvent>>,
    work: Notify,
    progress: Mutex<HashMap<String, Progress>>,
    shutdown: watch::Sender<bool>,
    /// Other coordinators on the same PostgreSQL database hear of events
    /// through it (relay.rs).
    relay: OnceLock<mpsc::UnboundedSender<Relay>>,
}

impl Events {
    pub(crate) fn new() -> Self {
        Self {
            jobs: broadcast::channel(EVENT_BUFFER).0,
            work: Notify::new(),
            progress: Mutex::new(HashMap::new()),
            shutdown: watch::Sender::new(false),
            relay: OnceLock::new(),
        }
    }

    /// Sends every later event and "work available" to other
    /// coordinators too.
    pub(crate) fn set_relay(&self, relay: mpsc::UnboundedSender<Relay>) {
        let _ = self.relay.set(relay);
    }

    /// Publishes the event `make` builds, if anyone is watching (building it
    /// costs a few allocations the lease hot path need not pay), here and
    /// on the other coordinators.
    pub(crate) fn publish(&self, make: impl FnOnce() -> JobEvent) {
        let relay = self.relay.get();
        if relay.is_none() && !self.watched_here() {
            return;
        }
        let event = make();
        if let Some(relay) = relay {
            let _ = relay.send(Relay::Job {
                job_id: event.job_id.clone(),
                message: event.message.clone(),
            });
        }
        self.publish_here(event);
    }

    /// Publishes an event to this coordinator's watchers only.
    pub(crate) fn publish_here(&self, event: JobEvent) {
        if self.watched_here() {
            // An error only means the last watcher left meanwhile.
            let _ = self.jobs.send(Arc::new(event));
        }
    }

    /// Whether events are worth building: a `WatchJob` stream is open here,
    /// or other coordinators may have one.
    pub(crate) fn watched(&self) -> bool {
        self.relay.get().is_some() || self.watched_here()
    }

    /// Whether a `WatchJob` stream is open on this coordinator.
    pub(crate) fn watched_here(&self) -> bool {
        self.jobs.receiver_count() > 0
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<JobEvent>> {
        self.jobs.subscribe()
    }

    /// Wakes every long-polling `Lease`, here and on the other
    /// coordinators: a task may have become ready.
    pub(crate) fn work_available(&self) {
        if let Some(relay) = self.relay.get() {
            let _ = relay.send(Relay::Work);
        }
        self.work_available_here();
    }

    /// Wakes this coordinator's long-polling `Lease` calls.
    pub(crate) fn work_available_here(&self) {
        self.work.notify_waiters();
    }

    /// A future completing at the next [`Self::work_available`]. Create (and
    /// enable) it before looking for work, so a wake-up between the look and
    /// the wait is not lost.
    pub(crate) fn work_notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.work.notified()
    }

    pub(crate) fn set_progress(&self, task_id: &str, progress: Progress) {
        self.progress_map().insert(task_id.to_owned(), progress);
    }

    pub(crate) fn progress(&self, task_id: &str) -> Option<Progress> {
        self.progress_map().get(task_id).cloned()
    }

    pub(crate) fn clear_progress(&self, task_id: &str) {
        self.progress_map().remove(task_id);
    }

    fn progress_map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Progress>> {
        // The map holds plain data; a panic elsewhere cannot leave it torn.
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells long-lived calls (watch streams, long polls) to end, so that a
    /// graceful shutdown does not wait for them.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}
