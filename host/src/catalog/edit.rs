//! Changes over the admin API: create, patch, delete, rotate, disable and
//! enable, and transformation versions. Each is checked like the config
//! file is, stored sealed and durably, then published as a new snapshot and
//! recorded in the audit log.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::spec::{EndpointSpec, SourceSpec};
use super::stored::{
    self, RetiredSecret, StoredEndpoint, StoredSource, StoredTransformation, merge_patch,
};
use super::{Catalog, EndpointEntry, ManagedBy, SourceEntry};
use crate::model::{Transformation, now_ms};
use crate::runtime::registry::JS_ENGINE;
use crate::store::{EndpointState, StoreError};

/// Why a change was refused; the admin API maps each to a status.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// 400, with the message `config check` gives for the same mistake.
    #[error("{0}")]
    Invalid(String),
    /// 409
    #[error("{0}")]
    Conflict(String),
    /// 404
    #[error("{0}")]
    NotFound(String),
    /// 503
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A saved transformation version, as the API shows it.
#[derive(Clone, Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct TransformationVersion {
    pub version: u32,
    pub sha256: String,
    pub created_at: String,
}

impl From<&StoredTransformation> for TransformationVersion {
    fn from(t: &StoredTransformation) -> Self {
        TransformationVersion {
            version: t.version,
            sha256: t.sha256.clone(),
            created_at: crate::admin::views::time(t.created_at),
        }
    }
}

/// How long a rotated-out source secret still verifies, by default.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 3600);

const API: &str = "admin api";

impl Catalog {
    fn id_taken(&self, id: &str) -> bool {
        let snapshot = self.snapshot();
        snapshot.sources.contains_key(id) || snapshot.endpoints.contains_key(id)
    }

    fn source_ids(&self) -> Vec<String> {
        self.snapshot().sources.keys().cloned().collect()
    }

    fn api_endpoint(&self, id: &str) -> Result<Arc<EndpointEntry>, CatalogError> {
        let entry = self
            .snapshot()
            .endpoint(id)
            .cloned()
            .ok_or_else(|| CatalogError::NotFound(format!("no endpoint {id:?}")))?;
        if entry.managed_by == ManagedBy::Config {
            return Err(CatalogError::Conflict(format!(
                "endpoint {id:?} is managed by the config file; edit the file (and reload) to change it"
            )));
        }
        Ok(entry)
    }

    fn api_source(&self, id: &str) -> Result<Arc<SourceEntry>, CatalogError> {
        let entry = self
            .snapshot()
            .source(id)
            .cloned()
            .ok_or_else(|| CatalogError::NotFound(format!("no source {id:?}")))?;
        if entry.managed_by == ManagedBy::Config {
            return Err(CatalogError::Conflict(format!(
                "source {id:?} is managed by the config file; edit the file (and reload) to change it"
            )));
        }
        Ok(entry)
    }

    // --- sources

    pub async fn create_source(
        &self,
        mut spec: SourceSpec,
    ) -> Result<Arc<SourceEntry>, CatalogError> {
        let _writing = self.writes.lock().await;
        let id = spec.id.clone().ok_or_else(|| {
            CatalogError::Invalid("id: a source needs an id (it is in its ingest URL)".into())
        })?;
        if self.id_taken(&id) {
            return Err(CatalogError::Conflict(format!(
                "the id {id:?} is already taken"
            )));
        }
        spec.id = Some(id.clone());
        let source = self.check_source(&id, &spec, &[])?;
        let now = now_ms();
        let record = StoredSource {
            spec: spec.clone(),
            retired: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        self.store
            .put_record(stored::SOURCE, &id, &self.seal_record(&record))
            .await?;
        let entry = Arc::new(SourceEntry {
            source: Arc::new(source),
            spec,
            managed_by: ManagedBy::Api,
            retired: Vec::new(),
            created_at: now,
            updated_at: now,
        });
        let mut next = self.draft();
        next.sources.insert(id.clone(), entry.clone());
        self.publish(next);
        self.audit(API, "source.create", format!("source:{id}"), Vec::new())
            .await;
        Ok(entry)
    }

    pub async fn patch_source(
        &self,
        id: &str,
        patch: &Value,
    ) -> Result<Arc<SourceEntry>, CatalogError> {
        let _writing = self.writes.lock().await;
        let current = self.api_source(id)?;
        let before = serde_json::to_value(&current.spec).unwrap_or_default();
        let mut after = before.clone();
        merge_patch(&mut after, patch);
        let spec: SourceSpec = serde_json::from_value(after.clone())
            .map_err(|e| CatalogError::Invalid(e.to_string()))?;
        if spec.id.as_deref() != Some(id) {
            return Err(CatalogError::Invalid("id: cannot be changed".into()));
        }
        self.replace_source(
            current,
            spec,
            None,
            stored::changed_keys(&before, &after),
            "source.update",
        )
        .await
    }

    /// The new secret signs from now; the old ones keep verifying for
    /// `grace`.
    pub async fn rotate_source(
        &self,
        id: &str,
        secret: String,
        grace: Duration,
    ) -> Result<Arc<SourceEntry>, CatalogError> {
        let _writing = self.writes.lock().await;
        let current = self.api_source(id)?;
        let until = now_ms() + grace.as_millis() as u64;
        let mut retired: Vec<RetiredSecret> = current
            .retired
            .iter()
            .filter(|r| r.until > now_ms())
            .cloned()
            .collect();
        retired.extend(current.spec.secrets.iter().map(|s| RetiredSecret {
            secret: s.clone(),
            until,
        }));
        let mut spec = current.spec.clone();
        spec.secrets = vec![secret];
        self.replace_source(
            current,
            spec,
            Some(retired),
            vec!["secrets".into()],
            "source.rotate",
        )
        .await
    }

    async fn replace_source(
        &self,
        current: Arc<SourceEntry>,
        spec: SourceSpec,
        retired: Option<Vec<RetiredSecret>>,
        changes: Vec<String>,
        action: &str,
    ) -> Result<Arc<SourceEntry>, CatalogError> {
        let id = current.source.name.clone();
        let retired = retired.unwrap_or_else(|| current.retired.clone());
        let source = self.check_source(&id, &spec, &retired)?;
        let now = now_ms();
        let record = StoredSource {
            spec: spec.clone(),
            retired: retired.clone(),
            created_at: current.created_at,
            updated_at: now,
        };
        self.store
            .put_record(stored::SOURCE, &id, &self.seal_record(&record))
            .await?;
        let entry = Arc::new(SourceEntry {
            source: Arc::new(source),
            spec,
            managed_by: ManagedBy::Api,
            retired,
            created_at: current.created_at,
            updated_at: now,
        });
        let mut next = self.draft();
        next.sources.insert(id.clone(), entry.clone());
        self.publish(next);
        self.audit(API, action, format!("source:{id}"), changes)
            .await;
        Ok(entry)
    }

    pub async fn delete_source(&self, id: &str) -> Result<(), CatalogError> {
        let _writing = self.writes.lock().await;
        self.api_source(id)?;
        let users: Vec<String> = self
            .snapshot()
            .endpoints
            .values()
            .filter(|e| e.endpoint.source == id)
            .map(|e| e.endpoint.id.clone())
            .collect();
        if !users.is_empty() {
            return Err(CatalogError::Conflict(format!(
                "source {id:?} is used by endpoint(s) {}; delete or move them first",
                users.join(", ")
            )));
        }
        self.store.delete_record(stored::SOURCE, id).await?;
        let mut next = self.draft();
        next.sources.remove(id);
        self.publish(next);
        self.audit(API, "source.delete", format!("source:{id}"), Vec::new())
            .await;
        Ok(())
    }

    // --- endpoints

    pub async fn create_endpoint(
        &self,
        mut spec: EndpointSpec,
    ) -> Result<Arc<EndpointEntry>, CatalogError> {
        let _writing = self.writes.lock().await;
        let id = spec
            .id
            .clone()
            .unwrap_or_else(|| format!("ep_{}", ulid::Ulid::new().to_string().to_lowercase()));
        if self.id_taken(&id) {
            return Err(CatalogError::Conflict(format!(
                "the id {id:?} is already taken"
            )));
        }
        spec.id = Some(id.clone());
        if spec.script.is_some() {
            return Err(CatalogError::Invalid(
                "script: a file path is for the config file; over the API give the code as transformation.code".into(),
            ));
        }
        // The webhook plugin's requests are signed: a secret is generated
        // when none is given, and the answer shows it (once).
        if spec.plugin.as_deref() == Some("webhook") && spec.signing_secret.is_none() {
            spec.signing_secret = Some(super::seal::new_signing_secret());
        }
        let code = spec.transformation.take();
        let version = code.as_ref().map(|c| new_version(1, &c.code));
        let mut endpoint = self.check_endpoint(&spec, version.as_ref(), &self.source_ids())?;
        self.check_code(&mut endpoint).await?;
        if let Some(v) = &version {
            self.store
                .put_record(
                    stored::TRANSFORMATION,
                    &stored::transformation_key(&id, v.version),
                    &self.seal_record(v),
                )
                .await?;
        }
        let now = now_ms();
        let record = StoredEndpoint {
            spec: spec.clone(),
            transformation: version.as_ref().map(|v| v.version),
            created_at: now,
            updated_at: now,
        };
        self.store
            .put_record(stored::ENDPOINT, &id, &self.seal_record(&record))
            .await?;
        let entry = Arc::new(EndpointEntry {
            endpoint: Arc::new(endpoint),
            spec,
            managed_by: ManagedBy::Api,
            state: None,
            created_at: now,
            updated_at: now,
        });
        let mut next = self.draft();
        next.endpoints.insert(id.clone(), entry.clone());
        self.publish(next);
        self.audit(API, "endpoint.create", format!("endpoint:{id}"), Vec::new())
            .await;
        Ok(entry)
    }

    /// The endpoint `create_endpoint` would make of `spec`, checked the same
    /// way but neither stored nor published: what a dry run before creating
    /// it runs on. Its code is not compiled here (the dry run reports a
    /// broken script as its result, with the line).
    pub fn draft_endpoint(
        &self,
        spec: &EndpointSpec,
    ) -> Result<crate::model::Endpoint, CatalogError> {
        let mut spec = spec.clone();
        spec.id.get_or_insert_with(|| "draft".to_string());
        if spec.script.is_some() {
            return Err(CatalogError::Invalid(
                "script: a file path is for the config file; over the API give the code as transformation.code".into(),
            ));
        }
        // As in a create: the code is checked and attached as a version.
        let version = spec.transformation.take().map(|c| new_version(1, &c.code));
        self.check_endpoint(&spec, version.as_ref(), &self.source_ids())
    }

    /// JSON merge patch of the endpoint as written; a `transformation` in
    /// it saves a new version.
    pub async fn patch_endpoint(
        &self,
        id: &str,
        patch: &Value,
    ) -> Result<Arc<EndpointEntry>, CatalogError> {
        let _writing = self.writes.lock().await;
        let current = self.api_endpoint(id)?;
        let before = serde_json::to_value(&current.spec).unwrap_or_default();
        let mut after = before.clone();
        merge_patch(&mut after, patch);
        let mut spec: EndpointSpec = serde_json::from_value(after.clone())
            .map_err(|e| CatalogError::Invalid(e.to_string()))?;
        if spec.id.as_deref() != Some(id) {
            return Err(CatalogError::Invalid("id: cannot be changed".into()));
        }
        let code = spec.transformation.take();
        let changes = stored::changed_keys(&before, &after);
        self.replace_endpoint(
            current,
            spec,
            code.map(|c| c.code),
            changes,
            "endpoint.update",
        )
        .await
    }

    /// Stores `spec` (and, with `code`, a new transformation version) in
    /// place of `current`.
    async fn replace_endpoint(
        &self,
        current: Arc<EndpointEntry>,
        spec: EndpointSpec,
        code: Option<String>,
        changes: Vec<String>,
        action: &str,
    ) -> Result<Arc<EndpointEntry>, CatalogError> {
        let id = current.endpoint.id.clone();
        let versions = self.versions(&id).await?;
        let latest = versions.last().map_or(0, |v| v.version);
        let current_version = current
            .endpoint
            .transformation
            .as_ref()
            .map(|t| t.version)
            .filter(|v| *v > 0);
        let (version, new) = match code {
            Some(code) => (Some(new_version(latest + 1, &code)), true),
            None => (
                current_version.and_then(|v| versions.iter().find(|t| t.version == v).cloned()),
                false,
            ),
        };
        let mut endpoint = self.check_endpoint(&spec, version.as_ref(), &self.source_ids())?;
        if new {
            self.check_code(&mut endpoint).await?;
        }
        if let (Some(v), true) = (&version, new) {
            self.store
                .put_record(
                    stored::TRANSFORMATION,
                    &stored::transformation_key(&id, v.version),
                    &self.seal_record(v),
                )
                .await?;
        }
        let now = now_ms();
        let record = StoredEndpoint {
            spec: spec.clone(),
            transformation: version.as_ref().map(|v| v.version),
            created_at: current.created_at,
            updated_at: now,
        };
        self.store
            .put_record(stored::ENDPOINT, &id, &self.seal_record(&record))
            .await?;
        let entry = Arc::new(EndpointEntry {
            endpoint: Arc::new(endpoint),
            spec,
            managed_by: ManagedBy::Api,
            state: current.state.clone(),
            created_at: current.created_at,
            updated_at: now,
        });
        let mut next = self.draft();
        next.endpoints.insert(id.clone(), entry.clone());
        self.publish(next);
        self.audit(API, action, format!("endpoint:{id}"), changes)
            .await;
        Ok(entry)
    }

    /// A new signing secret (`secret`, or generated) signs from now; the one
    /// it replaces keeps signing alongside it until the next rotation, so a
    /// receiver can switch without a gap. Returns the new secret.
    pub async fn rotate_signing_secret(
        &self,
        id: &str,
        secret: Option<String>,
    ) -> Result<(Arc<EndpointEntry>, String), CatalogError> {
        let _writing = self.writes.lock().await;
        let current = self.api_endpoint(id)?;
        let new = secret.unwrap_or_else(super::seal::new_signing_secret);
        let mut spec = current.spec.clone();
        spec.previous_signing_secrets = spec.signing_secret.take().into_iter().collect();
        spec.signing_secret = Some(new.clone());
        let entry = self
            .replace_endpoint(
                current,
                spec,
                None,
                vec!["signing_secret".into(), "previous_signing_secrets".into()],
                "endpoint.rotate_signing_secret",
            )
            .await?;
        Ok((entry, new))
    }

    /// Removes the endpoint; its pending deliveries end as `cancelled` (the
    /// caller cancels them, through the store), its history stays until
    /// retention.
    pub async fn delete_endpoint(&self, id: &str) -> Result<(), CatalogError> {
        let _writing = self.writes.lock().await;
        self.api_endpoint(id)?;
        self.store.delete_record(stored::ENDPOINT, id).await?;
        for version in self.versions(id).await? {
            self.store
                .delete_record(
                    stored::TRANSFORMATION,
                    &stored::transformation_key(id, version.version),
                )
                .await?;
        }
        self.store.set_endpoint_state(id, None).await?;
        let mut next = self.draft();
        next.endpoints.remove(id);
        self.publish(next);
        self.audit(API, "endpoint.delete", format!("endpoint:{id}"), Vec::new())
            .await;
        Ok(())
    }

    /// Disables (with the reason) or enables an endpoint of either kind:
    /// the one change a config-managed endpoint takes over the API. One
    /// disabled by its config (`enabled = false`, an unset secret) stays
    /// disabled until the file says otherwise.
    pub async fn set_enabled(
        &self,
        id: &str,
        enabled: bool,
        reason: &str,
        actor: &str,
    ) -> Result<(), CatalogError> {
        let _writing = self.writes.lock().await;
        let current = self
            .snapshot()
            .endpoint(id)
            .cloned()
            .ok_or_else(|| CatalogError::NotFound(format!("no endpoint {id:?}")))?;
        if enabled && let Some(why) = &current.endpoint.disabled {
            return Err(CatalogError::Conflict(format!(
                "the endpoint is disabled in the config file: {why}"
            )));
        }
        let state = EndpointState {
            disabled: !enabled,
            reason: (!enabled).then(|| reason.to_string()),
            since: now_ms(),
        };
        self.store.set_endpoint_state(id, Some(&state)).await?;
        let entry = Arc::new(EndpointEntry {
            endpoint: current.endpoint.clone(),
            spec: current.spec.clone(),
            managed_by: current.managed_by,
            state: Some(state),
            created_at: current.created_at,
            updated_at: current.updated_at,
        });
        let mut next = self.draft();
        next.endpoints.insert(id.to_string(), entry);
        self.publish(next);
        let action = if enabled {
            "endpoint.enable"
        } else {
            "endpoint.disable"
        };
        self.audit(actor, action, format!("endpoint:{id}"), Vec::new())
            .await;
        Ok(())
    }

    // --- transformations

    /// Every saved version of the endpoint's transformation, oldest first.
    pub async fn versions(&self, id: &str) -> Result<Vec<StoredTransformation>, CatalogError> {
        let mut versions = Vec::new();
        for (_, sealed) in self
            .store
            .records(stored::TRANSFORMATION, &stored::transformation_prefix(id))
            .await?
        {
            versions.push(self.open_record::<StoredTransformation>(&sealed)?);
        }
        versions.sort_by_key(|v| v.version);
        Ok(versions)
    }

    /// Saves `code` as the endpoint's next transformation version and makes
    /// it current (the endpoint then runs on the `js` plugin).
    pub async fn put_transformation(
        &self,
        id: &str,
        code: String,
    ) -> Result<StoredTransformation, CatalogError> {
        let _writing = self.writes.lock().await;
        let current = self.api_endpoint(id)?;
        let mut spec = current.spec.clone();
        if spec.plugin.as_deref().is_some_and(|p| p != JS_ENGINE) {
            spec.plugin = Some(JS_ENGINE.into());
        }
        let entry = self
            .replace_endpoint(
                current,
                spec,
                Some(code),
                vec!["transformation".into()],
                "endpoint.transformation",
            )
            .await?;
        self.current_version(&entry).await
    }

    /// Saves version `version`'s code again, as the newest version.
    pub async fn rollback(
        &self,
        id: &str,
        version: u32,
    ) -> Result<StoredTransformation, CatalogError> {
        let _writing = self.writes.lock().await;
        let current = self.api_endpoint(id)?;
        let old = self
            .versions(id)
            .await?
            .into_iter()
            .find(|v| v.version == version)
            .ok_or_else(|| {
                CatalogError::NotFound(format!(
                    "endpoint {id:?} has no transformation version {version}"
                ))
            })?;
        let spec = current.spec.clone();
        let entry = self
            .replace_endpoint(
                current,
                spec,
                Some(old.code),
                vec![format!("transformation (rollback to v{version})")],
                "endpoint.rollback",
            )
            .await?;
        self.current_version(&entry).await
    }

    async fn current_version(
        &self,
        entry: &EndpointEntry,
    ) -> Result<StoredTransformation, CatalogError> {
        let version = entry
            .endpoint
            .transformation
            .as_ref()
            .map(|t| t.version)
            .unwrap_or_default();
        self.transformation(&entry.endpoint.id, version).await
    }

    /// Runs the JavaScript engine's check on a new transformation (it
    /// parses and defines `handler`), so a broken edit is refused with its
    /// line instead of dead-lettering every event.
    async fn check_code(&self, endpoint: &mut crate::model::Endpoint) -> Result<(), CatalogError> {
        let Some(t) = &endpoint.transformation else {
            return Ok(());
        };
        self.registry
            .check_transformation(&endpoint.plugin, t)
            .await
            .map_err(|e| CatalogError::Invalid(format!("transformation.code: {e}")))
    }
}

fn new_version(version: u32, code: &str) -> StoredTransformation {
    let t = Transformation::new(String::new(), code.to_string(), None);
    StoredTransformation {
        version,
        code: code.to_string(),
        sha256: t.sha256,
        created_at: now_ms(),
    }
}
