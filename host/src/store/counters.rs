//! Delivery counts per endpoint and status, kept in memory (rebuilt from
//! the status index at open) so metrics and the endpoint list cost nothing.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Counts, DeliveryStatus};

#[derive(Default)]
pub struct Counters {
    by_endpoint: Mutex<HashMap<String, Counts>>,
}

impl Counters {
    pub fn add(&self, endpoint: &str, status: DeliveryStatus, delta: i64) {
        let mut map = self.by_endpoint.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(endpoint) {
            Some(counts) => counts.add(status, delta),
            None => {
                let mut counts = Counts::default();
                counts.add(status, delta);
                map.insert(endpoint.to_string(), counts);
            }
        }
    }

    pub fn moved(&self, endpoint: &str, from: DeliveryStatus, to: DeliveryStatus) {
        if from != to {
            self.add(endpoint, from, -1);
            self.add(endpoint, to, 1);
        }
    }

    pub fn get(&self, endpoint: &str) -> Counts {
        let map = self.by_endpoint.lock().unwrap_or_else(|p| p.into_inner());
        map.get(endpoint).copied().unwrap_or_default()
    }
}
