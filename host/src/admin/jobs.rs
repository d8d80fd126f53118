//! Background jobs started from the admin API: `recover` (re-queue an
//! endpoint's dead letters in a window, Svix's "recover") and
//! `replay-missing` (create deliveries for events in a window that never had
//! one for the endpoint). Both are idempotent, so running one twice is safe.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::config::Endpoint;
use crate::delivery::Deliverer;
use crate::store::{
    DeliveryFilter, DeliveryStatus, EventFilter, Millis, Store, StoreError, now_ms,
};

use super::views::time;

const PAGE: usize = 500;

#[derive(Clone, Debug, Serialize)]
pub struct Job {
    pub id: String,
    pub kind: &'static str,
    pub endpoint: String,
    pub since: String,
    pub until: String,
    pub state: &'static str,
    /// Records looked at, and records re-queued or created.
    pub examined: u64,
    pub changed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub started_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

#[derive(Default)]
pub struct Jobs {
    jobs: Mutex<HashMap<String, Job>>,
}

#[derive(Clone, Copy)]
pub enum Kind {
    Recover,
    ReplayMissing,
}

impl Jobs {
    pub fn get(&self, id: &str) -> Option<Job> {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut Job)) {
        if let Some(job) = self
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(id)
        {
            f(job);
        }
    }

    /// Starts a job and returns it as first recorded.
    pub fn start(
        self: &Arc<Self>,
        kind: Kind,
        endpoint: Endpoint,
        since: Millis,
        until: Option<Millis>,
        store: Arc<dyn Store>,
        deliverer: Arc<Deliverer>,
    ) -> Job {
        let until = until.unwrap_or_else(now_ms);
        let job = Job {
            id: format!("job_{}", ulid::Ulid::new()),
            kind: match kind {
                Kind::Recover => "recover",
                Kind::ReplayMissing => "replay-missing",
            },
            endpoint: endpoint.id.clone(),
            since: time(since),
            until: time(until),
            state: "running",
            examined: 0,
            changed: 0,
            error: None,
            started_at: time(now_ms()),
            finished_at: None,
        };
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job.id.clone(), job.clone());
        let (jobs, id) = (self.clone(), job.id.clone());
        // Store work is synchronous: keep it off the async threads.
        tokio::task::spawn_blocking(move || {
            let result = match kind {
                Kind::Recover => recover(&jobs, &id, &endpoint, since, until, store.as_ref()),
                Kind::ReplayMissing => {
                    replay_missing(&jobs, &id, &endpoint, since, until, store.as_ref())
                }
            };
            deliverer.wake(&endpoint.id);
            jobs.update(&id, |job| {
                job.finished_at = Some(time(now_ms()));
                match result {
                    Ok(()) => job.state = "done",
                    Err(e) => {
                        job.state = "failed";
                        job.error = Some(e.to_string());
                    }
                }
            });
            if let Some(job) = jobs.get(&id) {
                tracing::info!(job = %id, kind = job.kind, endpoint = %job.endpoint, examined = job.examined, changed = job.changed, state = job.state, "admin job finished");
            }
        });
        job
    }
}

fn recover(
    jobs: &Jobs,
    id: &str,
    endpoint: &Endpoint,
    since: Millis,
    until: Millis,
    store: &dyn Store,
) -> Result<(), StoreError> {
    let mut cursor = None;
    loop {
        let page = store.deliveries(&DeliveryFilter {
            endpoint: Some(endpoint.id.clone()),
            status: Some(DeliveryStatus::Dead),
            since: Some(since),
            until: Some(until),
            cursor,
            limit: PAGE,
        })?;
        for d in &page.items {
            store.requeue(d.id, false, now_ms())?;
        }
        let n = page.items.len() as u64;
        jobs.update(id, |job| {
            job.examined += n;
            job.changed += n;
        });
        match page.next_cursor.and_then(|c| c.parse().ok()) {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
}

fn replay_missing(
    jobs: &Jobs,
    id: &str,
    endpoint: &Endpoint,
    since: Millis,
    until: Millis,
    store: &dyn Store,
) -> Result<(), StoreError> {
    let mut cursor = None;
    loop {
        let page = store.events(&EventFilter {
            source: Some(endpoint.source.clone()),
            since: Some(since),
            until: Some(until),
            cursor,
            limit: PAGE,
            ..EventFilter::default()
        })?;
        let mut created = 0;
        for event in &page.items {
            if !endpoint.events.matches(&event.event_type) {
                continue;
            }
            match store.add_delivery(event.id, &endpoint.id, now_ms()) {
                Ok(Some(_)) => created += 1,
                // Already has one; or retention removed the event since
                // this page was read: nothing to deliver.
                Ok(None) | Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let n = page.items.len() as u64;
        jobs.update(id, |job| {
            job.examined += n;
            job.changed += created;
        });
        match page.next_cursor.and_then(|c| c.parse().ok()) {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
}
