//! Background jobs started from the admin API: `recover` (re-queue an
//! endpoint's dead letters in a window, Svix's "recover") and
//! `replay-missing` (create deliveries for events in a window that never had
//! one for the endpoint). Both are idempotent, so running one twice is safe.
//! Their progress is readable while they run (`GET /v1/jobs/{id}`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::api::JobView;
use super::views::time;
use crate::model::{DeliveryQuery, DeliveryStatus, Endpoint, EventQuery, Millis, Ordering, now_ms};
use crate::store::{Store, StoreError};

const PAGE: usize = 500;

#[derive(Default)]
pub struct Jobs {
    jobs: Mutex<HashMap<String, JobView>>,
}

#[derive(Clone, Copy)]
pub enum Kind {
    Recover,
    ReplayMissing,
}

impl Jobs {
    pub fn get(&self, id: &str) -> Option<JobView> {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut JobView)) {
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
        endpoint: Arc<Endpoint>,
        since: Millis,
        until: Option<Millis>,
        store: Arc<dyn Store>,
    ) -> JobView {
        let until = until.unwrap_or_else(now_ms);
        let job = JobView {
            id: format!("job_{}", ulid::Ulid::new()),
            kind: match kind {
                Kind::Recover => "recover",
                Kind::ReplayMissing => "replay-missing",
            }
            .into(),
            endpoint: endpoint.id.clone(),
            since: time(since),
            until: time(until),
            state: "running".into(),
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
        tokio::spawn(async move {
            let result = match kind {
                Kind::Recover => recover(&jobs, &id, &endpoint, since, until, store.as_ref()).await,
                Kind::ReplayMissing => {
                    replay_missing(&jobs, &id, &endpoint, since, until, store.as_ref()).await
                }
            };
            jobs.update(&id, |job| {
                job.finished_at = Some(time(now_ms()));
                match result {
                    Ok(()) => job.state = "done".into(),
                    Err(e) => {
                        job.state = "failed".into();
                        job.error = Some(e.to_string());
                    }
                }
            });
            if let Some(job) = jobs.get(&id) {
                tracing::info!(job = %id, kind = %job.kind, endpoint = %job.endpoint, examined = job.examined, changed = job.changed, state = %job.state, "admin job finished");
            }
        });
        job
    }
}

async fn recover(
    jobs: &Jobs,
    id: &str,
    endpoint: &Endpoint,
    since: Millis,
    until: Millis,
    store: &dyn Store,
) -> Result<(), StoreError> {
    let mut cursor = None;
    loop {
        let page = store
            .deliveries(&DeliveryQuery {
                endpoint: Some(endpoint.id.clone()),
                status: Some(DeliveryStatus::Dead),
                since: Some(since),
                until: Some(until),
                cursor,
                limit: PAGE,
            })
            .await?;
        for d in &page.items {
            store.requeue(d.id, false, now_ms()).await?;
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

async fn replay_missing(
    jobs: &Jobs,
    id: &str,
    endpoint: &Endpoint,
    since: Millis,
    until: Millis,
    store: &dyn Store,
) -> Result<(), StoreError> {
    let mut cursor = None;
    loop {
        let page = store
            .events(&EventQuery {
                source: Some(endpoint.source.clone()),
                since: Some(since),
                until: Some(until),
                cursor,
                limit: PAGE,
                ..EventQuery::default()
            })
            .await?;
        let mut created = 0;
        for event in &page.items {
            if !endpoint.events.matches(&event.event_type) {
                continue;
            }
            // A FIFO endpoint's key comes from the payload, as at ingest.
            let payload = match endpoint.ordering {
                Ordering::Fifo { key: Some(_) } => store.payload(event.id).await?,
                _ => None,
            };
            let route = endpoint.route(&mut || {
                payload
                    .as_deref()
                    .and_then(|p| serde_json::from_slice(p).ok())
            });
            match store.add_delivery(event.id, &route, now_ms()).await {
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
