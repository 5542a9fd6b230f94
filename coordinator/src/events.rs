//! In-memory signals between RPCs: job events for `WatchJob` streams, the
//! "work may be available" notification that wakes long-polling `Lease`
//! calls, the latest progress of running tasks, and the shutdown flag.
//!
//! Nothing here is state: a restarted coordinator loses only progress
//! numbers, which the next heartbeat brings back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, broadcast, watch};

use crate::domain::{JobEvent, Progress};

/// Events buffered per `WatchJob` subscriber before it lags (and is sent a
/// fresh snapshot instead).
const EVENT_BUFFER: usize = 1024;

#[derive(Debug)]
pub(crate) struct Events {
    jobs: broadcast::Sender<Arc<JobEvent>>,
    work: Notify,
    progress: Mutex<HashMap<String, Progress>>,
    shutdown: watch::Sender<bool>,
}

impl Events {
    pub(crate) fn new() -> Self {
        Self {
            jobs: broadcast::channel(EVENT_BUFFER).0,
            work: Notify::new(),
            progress: Mutex::new(HashMap::new()),
            shutdown: watch::Sender::new(false),
        }
    }

    /// Publishes the event `make` builds, if anyone is watching (building it
    /// costs a few allocations the lease hot path need not pay).
    pub(crate) fn publish(&self, make: impl FnOnce() -> JobEvent) {
        if self.watched() {
            // An error only means the last watcher left meanwhile.
            let _ = self.jobs.send(Arc::new(make()));
        }
    }

    /// Whether any `WatchJob` stream is open: events are worth building.
    pub(crate) fn watched(&self) -> bool {
        self.jobs.receiver_count() > 0
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<JobEvent>> {
        self.jobs.subscribe()
    }

    /// Wakes every long-polling `Lease`: a task may have become ready.
    pub(crate) fn work_available(&self) {
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
