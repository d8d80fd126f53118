//! The catalog: sources and endpoints as data. They come from the config
//! file (`managed_by: config`, replaced by a reload) and the admin API
//! (`managed_by: api`, stored sealed, kept across restarts); ids are unique
//! across both. Every stage reads one immutable [`Snapshot`] — ingest
//! routes with it, delivery reconciles its lanes with it, admin shows it —
//! and a change is a new snapshot plus a bump of [`Catalog::subscribe`]'s
//! counter, so it takes effect everywhere at once while work in flight
//! keeps the `Arc<Endpoint>` it started with.

mod edit;
pub mod seal;
pub mod spec;
pub mod stored;
pub mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;
use tokio::sync::watch;

pub use edit::{CatalogError, DEFAULT_GRACE, TransformationVersion};
use seal::Sealer;
use spec::{EndpointSpec, SourceSpec};
use stored::{StoredEndpoint, StoredSource, StoredTransformation};

use crate::config::Config;
use crate::model::{AuditEntry, Endpoint, Millis, Source, Transformation, now_ms};
use crate::runtime::registry::PluginRegistry;
use crate::store::{EndpointState, Store, StoreError};

/// Who manages an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ManagedBy {
    /// The config file: read-only over the API but for disable/enable.
    Config,
    /// The admin API: stored, changed over the API.
    Api,
}

#[derive(Debug)]
pub struct SourceEntry {
    pub source: Arc<Source>,
    pub spec: SourceSpec,
    pub managed_by: ManagedBy,
    pub retired: Vec<stored::RetiredSecret>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug)]
pub struct EndpointEntry {
    pub endpoint: Arc<Endpoint>,
    /// As written (for an API endpoint, without its transformation's code).
    pub spec: EndpointSpec,
    pub managed_by: ManagedBy,
    /// Disabled at runtime (an operator, a 410), kept in the store.
    pub state: Option<EndpointState>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl EndpointEntry {
    /// Why the endpoint is not delivering now, if it is not: the config
    /// (`enabled = false`, an unset secret) or its stored state.
    pub fn paused(&self) -> Option<String> {
        self.endpoint.disabled.clone().or_else(|| {
            self.state
                .as_ref()
                .filter(|s| s.disabled)
                .map(|s| s.reason.clone().unwrap_or_else(|| "disabled".into()))
        })
    }
}

/// The catalog at one moment.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Bumped by every change.
    pub version: u64,
    pub sources: BTreeMap<String, Arc<SourceEntry>>,
    pub endpoints: BTreeMap<String, Arc<EndpointEntry>>,
}

impl Snapshot {
    pub fn source(&self, id: &str) -> Option<&Arc<SourceEntry>> {
        self.sources.get(id)
    }

    pub fn endpoint(&self, id: &str) -> Option<&Arc<EndpointEntry>> {
        self.endpoints.get(id)
    }

    /// The endpoints that take a new event of this type: same source,
    /// matching filter — disabled ones too (by an operator, a 410, the
    /// config or an unset secret): their deliveries wait in the queue and
    /// go out, in order, once the endpoint is enabled again.
    pub fn route(&self, source: &str, event_type: &str) -> Vec<String> {
        self.endpoints
            .values()
            .filter(|e| e.endpoint.source == source && e.endpoint.events.matches(event_type))
            .map(|e| e.endpoint.id.clone())
            .collect()
    }
}

/// The config file as last (re)loaded.
#[derive(Clone, Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FileStatus {
    pub path: String,
    pub loaded_at: String,
    /// Why the last reload changed nothing, if it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

pub struct Catalog {
    current: RwLock<Arc<Snapshot>>,
    changes: watch::Sender<u64>,
    store: Arc<dyn Store>,
    registry: Arc<PluginRegistry>,
    sealer: Sealer,
    /// The settings specs are checked against, from the config file.
    rules: RwLock<Rules>,
    /// One change at a time.
    writes: tokio::sync::Mutex<()>,
    file: Mutex<FileStatus>,
}

/// What validation needs from the server settings.
#[derive(Clone, Debug)]
struct Rules {
    base_dir: PathBuf,
    allow_private_destinations: bool,
    max_memory_bytes: usize,
}

impl Rules {
    fn of(config: &Config) -> Rules {
        Rules {
            base_dir: config.path.parent().map(PathBuf::from).unwrap_or_default(),
            allow_private_destinations: config.server.allow_private_destinations,
            max_memory_bytes: config.runtime.max_memory_bytes,
        }
    }
}

impl Catalog {
    /// The file's sources and endpoints (already checked in `config`) and
    /// the stored ones, with their runtime state. A stored entry that no
    /// longer validates (a plugin file removed since) is kept out, with an
    /// error in the log, rather than failing the start.
    pub async fn open(
        config: &Config,
        store: Arc<dyn Store>,
        registry: Arc<PluginRegistry>,
        sealer: Sealer,
    ) -> Result<Arc<Catalog>, CatalogError> {
        let catalog = Catalog {
            current: RwLock::new(Arc::new(Snapshot::default())),
            changes: watch::channel(0).0,
            store,
            registry,
            sealer,
            rules: RwLock::new(Rules::of(config)),
            writes: tokio::sync::Mutex::new(()),
            file: Mutex::new(FileStatus {
                path: config.path.display().to_string(),
                loaded_at: crate::admin::views::time(now_ms()),
                last_error: None,
            }),
        };
        let mut snapshot = Snapshot::default();
        catalog.add_file_entries(&mut snapshot, config).await?;
        catalog.add_stored_entries(&mut snapshot).await?;
        snapshot.version = 1;
        *catalog.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snapshot);
        Ok(Arc::new(catalog))
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A counter bumped by every change: `changed().await` on it.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn file_status(&self) -> FileStatus {
        self.file.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    fn publish(&self, mut next: Snapshot) {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        next.version = current.version + 1;
        *current = Arc::new(next);
        drop(current);
        self.changes.send_modify(|v| *v += 1);
    }

    /// A copy of the current maps, to change and publish.
    fn draft(&self) -> Snapshot {
        let current = self.snapshot();
        Snapshot {
            version: current.version,
            sources: current.sources.clone(),
            endpoints: current.endpoints.clone(),
        }
    }

    async fn state_of(&self, id: &str) -> Result<Option<EndpointState>, CatalogError> {
        Ok(self.store.endpoint_state(id).await?)
    }

    async fn add_file_entries(
        &self,
        snapshot: &mut Snapshot,
        config: &Config,
    ) -> Result<(), CatalogError> {
        let now = now_ms();
        for (id, source) in &config.sources {
            let spec = config.seed.sources.get(id).cloned().unwrap_or_default();
            snapshot.sources.insert(
                id.clone(),
                Arc::new(SourceEntry {
                    source: Arc::new(source.clone()),
                    spec,
                    managed_by: ManagedBy::Config,
                    retired: Vec::new(),
                    created_at: now,
                    updated_at: now,
                }),
            );
        }
        for endpoint in &config.endpoints {
            let spec = config
                .seed
                .endpoints
                .iter()
                .find(|s| s.id.as_deref() == Some(endpoint.id.as_str()))
                .cloned()
                .unwrap_or_default();
            snapshot.endpoints.insert(
                endpoint.id.clone(),
                Arc::new(EndpointEntry {
                    state: self.state_of(&endpoint.id).await?,
                    endpoint: Arc::new(endpoint.clone()),
                    spec,
                    managed_by: ManagedBy::Config,
                    created_at: now,
                    updated_at: now,
                }),
            );
        }
        Ok(())
    }

    async fn add_stored_entries(&self, snapshot: &mut Snapshot) -> Result<(), CatalogError> {
        for (id, sealed) in self.store.records(stored::SOURCE, "").await? {
            let record: StoredSource = match self.open_record(&sealed) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(source = %id, "stored source left out: {e}");
                    continue;
                }
            };
            if snapshot.sources.contains_key(&id) {
                tracing::error!(source = %id, "a stored source has the id of one in the config file; the file's is used");
                continue;
            }
            match self.check_source(&id, &record.spec, &record.retired) {
                Ok(source) => {
                    snapshot.sources.insert(
                        id.clone(),
                        Arc::new(SourceEntry {
                            source: Arc::new(source),
                            spec: record.spec,
                            managed_by: ManagedBy::Api,
                            retired: record.retired,
                            created_at: record.created_at,
                            updated_at: record.updated_at,
                        }),
                    );
                }
                Err(e) => tracing::error!(source = %id, "stored source left out: {e}"),
            }
        }
        let source_ids: Vec<String> = snapshot.sources.keys().cloned().collect();
        for (id, sealed) in self.store.records(stored::ENDPOINT, "").await? {
            let record: StoredEndpoint = match self.open_record(&sealed) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(endpoint = %id, "stored endpoint left out: {e}");
                    continue;
                }
            };
            if snapshot.endpoints.contains_key(&id) {
                tracing::error!(endpoint = %id, "a stored endpoint has the id of one in the config file; the file's is used");
                continue;
            }
            let code = match record.transformation {
                Some(version) => Some(self.transformation(&id, version).await?),
                None => None,
            };
            match self.check_endpoint(&record.spec, code.as_ref(), &source_ids) {
                Ok(endpoint) => {
                    snapshot.endpoints.insert(
                        id.clone(),
                        Arc::new(EndpointEntry {
                            state: self.state_of(&id).await?,
                            endpoint: Arc::new(endpoint),
                            spec: record.spec,
                            managed_by: ManagedBy::Api,
                            created_at: record.created_at,
                            updated_at: record.updated_at,
                        }),
                    );
                }
                Err(e) => tracing::error!(endpoint = %id, "stored endpoint left out: {e}"),
            }
        }
        Ok(())
    }

    fn open_record<T: serde::de::DeserializeOwned>(
        &self,
        sealed: &[u8],
    ) -> Result<T, CatalogError> {
        let plain = self
            .sealer
            .open(sealed)
            .map_err(|e| CatalogError::Store(StoreError::Corrupt(e.to_string())))?;
        serde_json::from_slice(&plain)
            .map_err(|e| CatalogError::Store(StoreError::Corrupt(format!("a catalog record: {e}"))))
    }

    fn seal_record(&self, value: &impl Serialize) -> Vec<u8> {
        // Our own records always serialize.
        self.sealer
            .seal(&serde_json::to_vec(value).unwrap_or_default())
    }

    /// A stored transformation version.
    async fn transformation(
        &self,
        endpoint: &str,
        version: u32,
    ) -> Result<StoredTransformation, CatalogError> {
        let key = stored::transformation_key(endpoint, version);
        let found = self
            .store
            .records(stored::TRANSFORMATION, &key)
            .await?
            .into_iter()
            .find(|(k, _)| *k == key)
            .ok_or_else(|| {
                CatalogError::Store(StoreError::Corrupt(format!(
                    "endpoint {endpoint:?}: transformation version {version} is missing"
                )))
            })?;
        self.open_record(&found.1)
    }

    fn context<'a>(
        &self,
        rules: &'a Rules,
        sources: Vec<String>,
        plugins: &'a [crate::runtime::registry::PluginInfo],
    ) -> validate::Context<'a> {
        validate::Context {
            env: None,
            base_dir: &rules.base_dir,
            sources,
            plugins,
            allow_private_destinations: rules.allow_private_destinations,
            max_memory_bytes: rules.max_memory_bytes,
            check_tls: Some(crate::delivery::client::check_client_tls),
        }
    }

    fn rules(&self) -> Rules {
        self.rules.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Checks an API source, with the retired secrets still in their grace
    /// period accepted too.
    fn check_source(
        &self,
        id: &str,
        spec: &SourceSpec,
        retired: &[stored::RetiredSecret],
    ) -> Result<Source, CatalogError> {
        let now = now_ms();
        let mut with_retired = spec.clone();
        with_retired.secrets.extend(
            retired
                .iter()
                .filter(|r| r.until > now)
                .map(|r| r.secret.clone()),
        );
        let rules = self.rules();
        let plugins = self.registry.available();
        let cx = self.context(&rules, Vec::new(), &plugins);
        let mut report = validate::Report::default();
        let source = validate::source(id, &with_retired, &cx, &mut report);
        source.ok_or_else(|| CatalogError::Invalid(report.lines().join("; ")))
    }

    /// Checks an API endpoint; `code` is its current transformation.
    fn check_endpoint(
        &self,
        spec: &EndpointSpec,
        code: Option<&StoredTransformation>,
        sources: &[String],
    ) -> Result<Endpoint, CatalogError> {
        let mut spec = spec.clone();
        if let Some(code) = code {
            spec.transformation = Some(spec::TransformationSpec {
                code: code.code.clone(),
            });
        }
        let rules = self.rules();
        let plugins = self.registry.available();
        let cx = self.context(&rules, sources.to_vec(), &plugins);
        let mut report = validate::Report::default();
        let mut endpoint = validate::endpoint(&spec, &cx, &mut report)
            .ok_or_else(|| CatalogError::Invalid(report.lines().join("; ")))?;
        if let (Some(code), Some(t)) = (code, endpoint.transformation.take()) {
            let mut t = Transformation::clone(&t);
            t.version = code.version;
            endpoint.transformation = Some(Arc::new(t));
        }
        Ok(endpoint)
    }

    async fn audit(&self, actor: &str, action: &str, object: String, changes: Vec<String>) {
        let entry = AuditEntry {
            at: now_ms(),
            actor: actor.to_string(),
            action: action.to_string(),
            object,
            changes,
        };
        if let Err(e) = self.store.append_audit(&entry).await {
            tracing::error!(
                "could not record {} of {} in the audit log: {e}",
                entry.action,
                entry.object
            );
        }
    }

    /// A new config file: its sources and endpoints replace the file's
    /// previous ones (API ones stay); an id also taken by an API entry makes
    /// the whole reload fail, and changes nothing.
    pub async fn reload_file(&self, config: &Config) -> Result<(), String> {
        let _writing = self.writes.lock().await;
        let draft = self.draft();
        let clash: Vec<String> = config
            .sources
            .keys()
            .filter(|id| {
                draft
                    .sources
                    .get(*id)
                    .is_some_and(|e| e.managed_by == ManagedBy::Api)
            })
            .map(|id| format!("source {id:?}"))
            .chain(
                config
                    .endpoints
                    .iter()
                    .filter(|e| {
                        draft
                            .endpoints
                            .get(&e.id)
                            .is_some_and(|x| x.managed_by == ManagedBy::Api)
                    })
                    .map(|e| format!("endpoint {:?}", e.id)),
            )
            .collect();
        if !clash.is_empty() {
            return Err(format!(
                "{} already exist(s), created over the admin API; ids are unique across the file and the API",
                clash.join(", ")
            ));
        }
        let mut next = Snapshot {
            version: draft.version,
            sources: draft
                .sources
                .into_iter()
                .filter(|(_, e)| e.managed_by == ManagedBy::Api)
                .collect(),
            endpoints: draft
                .endpoints
                .into_iter()
                .filter(|(_, e)| e.managed_by == ManagedBy::Api)
                .collect(),
        };
        self.add_file_entries(&mut next, config)
            .await
            .map_err(|e| e.to_string())?;
        let before = self.snapshot();
        // A script edited into something that does not run keeps the
        // working one: the whole reload is refused, as for a bad file.
        for (id, entry) in &next.endpoints {
            let Some(t) = &entry.endpoint.transformation else {
                continue;
            };
            let unchanged = before
                .endpoints
                .get(id)
                .and_then(|old| old.endpoint.transformation.as_ref())
                .is_some_and(|old| old.sha256 == t.sha256);
            if !unchanged
                && let Err(e) = self
                    .registry
                    .check_transformation(&entry.endpoint.plugin, t)
                    .await
            {
                return Err(format!("endpoint {id:?}: {e}"));
            }
        }
        let changed: Vec<String> = next
            .endpoints
            .keys()
            .chain(before.endpoints.keys())
            .filter(|id| {
                let old = before
                    .endpoints
                    .get(*id)
                    .filter(|e| e.managed_by == ManagedBy::Config);
                let new = next
                    .endpoints
                    .get(*id)
                    .filter(|e| e.managed_by == ManagedBy::Config);
                match (old, new) {
                    (Some(a), Some(b)) => a.spec != b.spec,
                    (None, None) => false,
                    _ => true,
                }
            })
            .cloned()
            .collect();
        *self.rules.write().unwrap_or_else(|p| p.into_inner()) = Rules::of(config);
        self.publish(next);
        {
            let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
            file.loaded_at = crate::admin::views::time(now_ms());
            file.last_error = None;
        }
        self.audit(
            "config file",
            "config.reload",
            config.path.display().to_string(),
            changed,
        )
        .await;
        Ok(())
    }

    /// Another node changed the stored sources, endpoints or endpoint
    /// states (a shared store): the stored entries are read again, and
    /// every endpoint's state.
    pub async fn reload_stored(&self) -> Result<(), CatalogError> {
        let _writing = self.writes.lock().await;
        let draft = self.draft();
        let mut next = Snapshot {
            version: draft.version,
            sources: draft
                .sources
                .into_iter()
                .filter(|(_, e)| e.managed_by == ManagedBy::Config)
                .collect(),
            endpoints: Default::default(),
        };
        for (id, entry) in draft.endpoints {
            if entry.managed_by != ManagedBy::Config {
                continue;
            }
            let state = self.state_of(&id).await?;
            let entry = if state == entry.state {
                entry
            } else {
                Arc::new(EndpointEntry {
                    state,
                    endpoint: entry.endpoint.clone(),
                    spec: entry.spec.clone(),
                    managed_by: ManagedBy::Config,
                    created_at: entry.created_at,
                    updated_at: entry.updated_at,
                })
            };
            next.endpoints.insert(id, entry);
        }
        self.add_stored_entries(&mut next).await?;
        self.publish(next);
        Ok(())
    }

    /// Records a reload that failed: nothing changed.
    pub fn reload_failed(&self, why: &str) {
        self.file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last_error = Some(why.to_string());
    }
}
