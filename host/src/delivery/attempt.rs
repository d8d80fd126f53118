//! One attempt at one delivery: transform (when no request is stored yet),
//! send, judge the answer, and record the outcome — one exit to the store.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::OwnedSemaphorePermit;

use super::Deliverer;
use super::lane::{Lane, LaneConfig};
use super::retry::{self, Verdict};
use crate::metrics::{EndpointLabel, PluginLabel, PluginResult};
use crate::model::{Attempt, Delivery, Event, Next, OutboundRequest, now_ms};
use crate::runtime::{TransformInput, Transformed};
use crate::store::{NewRequest, StoreError, Work, WorkInput};

/// What the attempt found to send, or how it ended before sending.
enum Prepared {
    Send(OutboundRequest, Option<String>),
    Ended(Next, &'static str),
}

impl Deliverer {
    pub(super) async fn attempt(
        self: Arc<Self>,
        lane: Arc<Lane>,
        config: Arc<LaneConfig>,
        work: Work,
        _permit: OwnedSemaphorePermit,
    ) {
        let id = work.delivery.id;
        if let Err(e) = self.try_attempt(&lane, &config, work).await {
            tracing::error!(endpoint = %lane.id, delivery = %id, "delivery bookkeeping failed, will retry: {e}");
            let _ = self.store.release(id).await;
            // Stay busy a moment so a failing store is not hammered.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        lane.signal.notify_one();
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    async fn try_attempt(
        &self,
        lane: &Lane,
        config: &LaneConfig,
        work: Work,
    ) -> Result<(), StoreError> {
        let Work {
            delivery, input, ..
        } = work;
        // The sender's id, on the attempt's log line (a retry reads it).
        let webhook_id = match &input {
            WorkInput::Event(event, _) => Some(event.webhook_id.clone()),
            _ => self
                .store
                .event(delivery.event_id)
                .await
                .ok()
                .flatten()
                .map(|e| e.webhook_id),
        };
        let (request, made_by) = match input {
            WorkInput::Request(request) => (request, None),
            WorkInput::Event(event, payload) => {
                match self.transform(config, &delivery, &event, &payload).await {
                    Prepared::Send(request, made_by) => (request, made_by),
                    Prepared::Ended(next, outcome) => {
                        return self.finish_early(lane, &delivery, next, outcome).await;
                    }
                }
            }
            WorkInput::EventGone => {
                let next = Next::Dead {
                    reason: "the event is no longer stored".into(),
                };
                return self.finish_early(lane, &delivery, next, "dead").await;
            }
        };

        let endpoint = &config.endpoint;
        let n = delivery.attempts + 1;
        let at = now_ms();
        self.sending_now(delivery.id, Some((n, at)));
        let id = webhook_id
            .clone()
            .unwrap_or_else(|| delivery.event_id.to_string());
        let mut extra = config.auth.clone();
        extra.extend(endpoint.signature_headers(&id, (at / 1000) as i64, &request.body));
        let result = match &config.oauth {
            None => config.client.send(&request, &extra, endpoint.timeout).await,
            Some(oauth) => {
                let sent = match oauth.header(endpoint.timeout).await {
                    Ok(token) => {
                        let mut with_token = extra.clone();
                        with_token.push(token);
                        config
                            .client
                            .send(&request, &with_token, endpoint.timeout)
                            .await
                    }
                    Err(e) => Err(e),
                };
                // A 401 may mean the token was revoked early: one new token,
                // one more try, in the same attempt.
                if matches!(&sent, Ok(r) if r.status == 401) {
                    oauth.invalidate().await;
                    match oauth.header(endpoint.timeout).await {
                        Ok(token) => {
                            extra.push(token);
                            config.client.send(&request, &extra, endpoint.timeout).await
                        }
                        Err(e) => Err(e),
                    }
                } else {
                    sent
                }
            }
        };
        self.sending_now(delivery.id, None);
        let elapsed = match &result {
            Ok(r) => r.duration,
            Err(_) => Duration::from_millis(now_ms().saturating_sub(at)),
        };
        self.metrics
            .attempt_seconds
            .get_or_create(&EndpointLabel {
                endpoint: endpoint.id.clone(),
            })
            .observe(elapsed.as_secs_f64());
        let verdict = retry::judge(
            &result,
            &endpoint.retry,
            n.saturating_sub(delivery.schedule_from),
            SystemTime::now(),
        );
        let attempt = Attempt {
            n,
            at,
            duration_ms: elapsed.as_millis() as u64,
            status: result.as_ref().ok().map(|r| r.status),
            response: result
                .as_ref()
                .ok()
                .map(|r| r.excerpt.clone())
                .filter(|e| !e.is_empty()),
            response_headers: result
                .as_ref()
                .map(|r| r.headers.clone())
                .unwrap_or_default(),
            error: result.as_ref().err().map(|e| e.to_string()),
        };
        let now = now_ms();
        let (next, outcome) = match verdict {
            Verdict::Delivered => (Next::Delivered, "delivered"),
            Verdict::Retry(delay, reason) => (
                Next::Retry {
                    at: now + delay.as_millis() as u64,
                    reason,
                },
                "retry",
            ),
            Verdict::Dead(reason) => (Next::Dead { reason }, "dead"),
            Verdict::Gone => {
                let why = "the destination answered 410 Gone; re-enable the endpoint to resume";
                tracing::error!(endpoint = %endpoint.id, "endpoint DISABLED: {why}");
                if let Err(e) = self
                    .catalog
                    .set_enabled(&endpoint.id, false, why, "delivery")
                    .await
                {
                    tracing::error!(endpoint = %endpoint.id, "could not record the 410's disable: {e}");
                }
                (
                    Next::Retry {
                        at: now,
                        reason: "HTTP 410 Gone: endpoint disabled".into(),
                    },
                    "gone",
                )
            }
        };
        tracing::info!(
            event = %delivery.event_id,
            webhook_id = webhook_id.as_deref().unwrap_or("-"),
            delivery = %delivery.id,
            endpoint = %endpoint.id,
            attempt = n,
            status = attempt.status,
            duration_ms = attempt.duration_ms,
            outcome,
            error = attempt.error.as_deref(),
            "delivery attempt"
        );
        lane.record(&next, now);
        let made = made_by.as_deref().map(|transformed_by| NewRequest {
            request: &request,
            transformed_by,
            made_for: delivery.updated_at,
        });
        self.store
            .finish(delivery.id, made, Some(attempt), next, now)
            .await?;
        self.metrics.delivery(&endpoint.id, outcome);
        Ok(())
    }

    fn sending_now(
        &self,
        id: crate::model::DeliveryId,
        attempt: Option<(u32, crate::model::Millis)>,
    ) {
        let mut sending = self.sending.lock().unwrap_or_else(|p| p.into_inner());
        match attempt {
            Some(a) => {
                sending.insert(id, a);
            }
            None => {
                sending.remove(&id);
            }
        }
    }

    /// Ends a delivery without an attempt (skipped, or dead before sending).
    async fn finish_early(
        &self,
        lane: &Lane,
        delivery: &Delivery,
        next: Next,
        outcome: &str,
    ) -> Result<(), StoreError> {
        lane.record(&next, now_ms());
        self.store
            .finish(delivery.id, None, None, next, now_ms())
            .await?;
        self.metrics.delivery(&lane.id, outcome);
        Ok(())
    }

    /// Runs the endpoint's plugin for a delivery that has no stored request:
    /// the request to send and what made it (`plugin@version`, and the
    /// transformation version), or how the delivery ends.
    async fn transform(
        &self,
        config: &LaneConfig,
        delivery: &Delivery,
        event: &Event,
        payload: &[u8],
    ) -> Prepared {
        let endpoint = &config.endpoint;
        let plugin = match self
            .registry
            .for_endpoint(&endpoint.plugin, endpoint.transformation.as_deref())
        {
            Ok(plugin) => plugin,
            Err(reason) => return Prepared::Ended(Next::Dead { reason }, "dead"),
        };
        let input = TransformInput {
            delivery_key: format!("{}:{}", endpoint.id, event.webhook_id),
            id: event.webhook_id.clone(),
            event_type: event.event_type.clone(),
            payload: String::from_utf8_lossy(payload).into_owned(),
            endpoint_url: endpoint.url.clone(),
            settings: endpoint.settings.clone(),
        };
        let started = Instant::now();
        let (result, stats) = plugin
            .transform(input, endpoint.limits, config.policy.clone())
            .await;
        let label = PluginLabel {
            plugin: plugin.name().to_string(),
        };
        self.metrics
            .transform_seconds
            .get_or_create(&label)
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .transform_fuel
            .get_or_create(&label)
            .observe(stats.fuel as f64);
        let result_label = match &result {
            Ok(Transformed::Deliver(_)) => "deliver",
            Ok(Transformed::Skip(_)) => "skip",
            Err(e) => e.kind(),
        };
        self.metrics
            .transforms
            .get_or_create(&PluginResult {
                plugin: plugin.name().to_string(),
                result: result_label.to_string(),
            })
            .inc();

        match result {
            Ok(Transformed::Deliver(request)) => {
                let mut made_by = format!("{}@{}", plugin.name(), plugin.version());
                if let Some(v) = endpoint
                    .transformation
                    .as_ref()
                    .map(|t| t.version)
                    .filter(|v| *v > 0)
                {
                    made_by.push_str(&format!(" (transformation v{v})"));
                }
                Prepared::Send(request, Some(made_by))
            }
            Ok(Transformed::Skip(reason)) => {
                tracing::info!(delivery = %delivery.id, endpoint = %endpoint.id, "skipped by the plugin: {reason}");
                Prepared::Ended(Next::Skipped { reason }, "skipped")
            }
            Err(e) => {
                tracing::warn!(delivery = %delivery.id, endpoint = %endpoint.id, "transform failed, dead-lettered: {e}");
                Prepared::Ended(
                    Next::Dead {
                        reason: format!("transform failed: {e}"),
                    },
                    "dead",
                )
            }
        }
    }
}
