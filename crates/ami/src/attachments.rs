//! Attachments of dossiers: PDF files, size-limited per campaign, stored through a small [`Storage`] trait (local
//! disk by default) with their metadata (name, size, SHA-256, who and when) in the database.
//!
//! Only the dossier's applicant adds or removes them, while the dossier is editable; whoever sees the dossier
//! (its applicant, reviewers once submitted, admins) reads them. The HTTP upload route adds the anti-CSRF header
//! check; these services do not know about HTTP.
//!
//! Order of writes: the file is stored first under a fresh random key, then its row is inserted; if the row
//! cannot be inserted the file is deleted again. On removal the row goes first (in a transaction with its audit
//! entry), then the file. A crash between the two leaves at worst an orphan file, never a row without its file.

use crate::AmiError;
use crate::access::party;
use crate::applications::load_visible;
use crate::campaigns::load_campaign;
use crate::entity::{application, attachment};
use crate::model::{Application, ApplicationId, Attachment, AttachmentId};
use crate::state::{Party, Status};
use chrono::Utc;
use maillage_access::{AuditChanges, AuditEntry, record};
use maillage_core::Actor;
use maillage_core::Code;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

/// The content type of every accepted attachment.
pub const PDF: &str = "application/pdf";

/// The most attachments a dossier may have: enough for every part of a dossier, and a bound on what one applicant
/// can store.
pub const MAX_ATTACHMENTS_PER_APPLICATION: u64 = 20;

/// The default directory of [`LocalDiskStorage`], relative to the working directory.
pub const DEFAULT_ATTACHMENT_DIR: &str = "./data/attachments";

/// What a storage operation returns.
pub type StorageFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StorageError>> + Send + 'a>>;

/// A storage failure (disk full, permissions, missing file).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// No object under this key.
    #[error("no stored object under key {0:?}")]
    NotFound(String),
    /// A key that is not one this crate generates (defence against path tricks).
    #[error("invalid storage key {0:?}")]
    InvalidKey(String),
    /// The underlying I/O failed.
    #[error("storage I/O failed: {0}")]
    Io(#[from] std::io::Error),
}

impl From<StorageError> for AmiError {
    fn from(e: StorageError) -> Self {
        AmiError::Storage(e.to_string())
    }
}

/// Where attachment bytes live, by key. Object-safe so the server can hold an `Arc<dyn Storage>`.
pub trait Storage: Send + Sync {
    /// Stores `bytes` under `key` (a new key: never overwrites in practice).
    fn put<'a>(&'a self, key: &'a str, bytes: &'a [u8]) -> StorageFuture<'a, ()>;
    /// Reads the bytes under `key`.
    fn get<'a>(&'a self, key: &'a str) -> StorageFuture<'a, Vec<u8>>;
    /// Deletes the object under `key`; deleting a missing object is not an error.
    fn delete<'a>(&'a self, key: &'a str) -> StorageFuture<'a, ()>;
}

/// Files in a directory, one per key (keys are `application-<id>/<random hex>.pdf`).
#[derive(Debug, Clone)]
pub struct LocalDiskStorage {
    root: PathBuf,
}

impl LocalDiskStorage {
    /// Storage under `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, StorageError> {
        let valid = !key.is_empty()
            && key.len() <= 128
            && key.split('/').all(|part| {
                !part.is_empty()
                    && !part.starts_with('.')
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            });
        if valid {
            Ok(self.root.join(key))
        } else {
            Err(StorageError::InvalidKey(key.to_owned()))
        }
    }
}

impl Default for LocalDiskStorage {
    fn default() -> Self {
        Self::new(DEFAULT_ATTACHMENT_DIR)
    }
}

impl Storage for LocalDiskStorage {
    fn put<'a>(&'a self, key: &'a str, bytes: &'a [u8]) -> StorageFuture<'a, ()> {
        Box::pin(async move {
            let path = self.path(key)?;
            if let Some(dir) = path.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            // Write to a temporary name, then rename: a reader never sees half a file.
            let tmp = path.with_extension("part");
            tokio::fs::write(&tmp, bytes).await?;
            tokio::fs::rename(&tmp, &path).await?;
            Ok(())
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> StorageFuture<'a, Vec<u8>> {
        Box::pin(async move {
            let path = self.path(key)?;
            match tokio::fs::read(&path).await {
                Ok(bytes) => Ok(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(StorageError::NotFound(key.to_owned()))
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StorageFuture<'a, ()> {
        Box::pin(async move {
            let path = self.path(key)?;
            match tokio::fs::remove_file(&path).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
    }
}

/// An upload to attach.
#[derive(Debug, Clone)]
pub struct NewAttachment<'a> {
    /// The file name given by the uploader (any directory part is dropped).
    pub file_name: &'a str,
    /// The content.
    pub bytes: &'a [u8],
}

/// Keeps the last path component and printable characters, at most 200 of them.
fn clean_file_name(raw: &str) -> Result<String, AmiError> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    let cleaned = cleaned.trim().to_owned();
    if cleaned.is_empty() || cleaned.starts_with('.') && cleaned.len() == 1 {
        return Err(AmiError::invalid(
            maillage_core::FieldPath::new("fileName"),
            Code::InvalidValue,
            "the file needs a name",
        ));
    }
    Ok(cleaned)
}

/// Checks the content: not empty, within `limit` bytes, a PDF by its magic bytes (`%PDF-`), whatever its name
/// or declared type say.
pub fn check_pdf(bytes: &[u8], limit: i64) -> Result<(), AmiError> {
    if bytes.is_empty() {
        return Err(AmiError::InvalidAttachment {
            code: Code::EmptyFile,
            message: "the file is empty".to_owned(),
        });
    }
    if i64::try_from(bytes.len()).map_or(true, |n| n > limit) {
        return Err(AmiError::InvalidAttachment {
            code: Code::TooLarge,
            message: format!(
                "the file has {} bytes; the limit is {limit} bytes",
                bytes.len()
            ),
        });
    }
    if !bytes.starts_with(b"%PDF-") {
        return Err(AmiError::InvalidAttachment {
            code: Code::NotPdf,
            message: "only PDF files are accepted (the content does not start with %PDF-)"
                .to_owned(),
        });
    }
    Ok(())
}

fn new_key(application: ApplicationId) -> Result<String, AmiError> {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random)
        .map_err(|e| AmiError::Storage(format!("no randomness for a storage key: {e}")))?;
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("application-{application}/{hex}.pdf"))
}

fn from_model(m: attachment::Model) -> Attachment {
    Attachment {
        id: AttachmentId(m.id),
        application_id: ApplicationId(m.application_id),
        file_name: m.file_name,
        content_type: m.content_type,
        size_bytes: m.size_bytes,
        sha256: m.sha256,
        uploaded_by: m.uploaded_by,
        uploaded_at: m.uploaded_at,
    }
}

/// Locks the dossier's row while it is editable (a no-op `UPDATE`), so an attachment is never added to or removed
/// from a dossier that a concurrent submission just froze.
async fn lock_editable<C: ConnectionTrait>(txn: &C, app: &Application) -> Result<(), AmiError> {
    let locked = application::Entity::update_many()
        .col_expr(
            application::Column::Version,
            Expr::col(application::Column::Version),
        )
        .filter(application::Column::Id.eq(app.id.0))
        .filter(
            application::Column::Status
                .is_in([Status::Draft.as_str(), Status::ChangesRequested.as_str()]),
        )
        .exec(txn)
        .await?;
    if locked.rows_affected == 0 {
        return Err(AmiError::NotEditable(app.status));
    }
    Ok(())
}

fn require_owner_editing(actor: &Actor, app: &Application) -> Result<(), AmiError> {
    if party(actor, &app.owner) != Some(Party::Applicant) {
        return Err(AmiError::Forbidden(
            "only the applicant adds or removes its dossier's attachments".to_owned(),
        ));
    }
    if !app.status.is_editable() {
        return Err(AmiError::NotEditable(app.status));
    }
    Ok(())
}

/// Attaches a PDF to a dossier (its applicant, while editable). `not_pdf`, `too_large` (the campaign's limit) and
/// `empty_file` are refused before anything is stored.
#[tracing::instrument(skip_all, fields(application.id = %id, size = upload.bytes.len()))]
pub async fn add_attachment(
    db: &DatabaseConnection,
    storage: &dyn Storage,
    actor: &Actor,
    id: ApplicationId,
    upload: NewAttachment<'_>,
) -> Result<Attachment, AmiError> {
    let app = load_visible(db, actor, id).await?;
    require_owner_editing(actor, &app)?;
    let campaign = load_campaign(db, app.campaign_id).await?;
    let file_name = clean_file_name(upload.file_name)?;
    check_pdf(upload.bytes, campaign.max_attachment_bytes)?;
    let sha256: String = Sha256::digest(upload.bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let key = new_key(id)?;
    storage.put(&key, upload.bytes).await?;
    let inserted = insert_row(
        db,
        actor,
        &app,
        &key,
        &file_name,
        upload.bytes.len(),
        &sha256,
    )
    .await;
    if inserted.is_err()
        && let Err(e) = storage.delete(&key).await
    {
        tracing::warn!(error = %e, key, "could not delete the file of a refused attachment");
    }
    inserted
}

async fn insert_row(
    db: &DatabaseConnection,
    actor: &Actor,
    app: &Application,
    key: &str,
    file_name: &str,
    size: usize,
    sha256: &str,
) -> Result<Attachment, AmiError> {
    let txn = maillage_core::db::begin_write(db).await?;
    lock_editable(&txn, app).await?;
    // Counted under the dossier's row lock, so concurrent uploads cannot pass the limit together.
    let present = attachment::Entity::find()
        .filter(attachment::Column::ApplicationId.eq(app.id.0))
        .count(&txn)
        .await?;
    if present >= MAX_ATTACHMENTS_PER_APPLICATION {
        return Err(AmiError::InvalidAttachment {
            code: Code::TooManyAttachments,
            message: format!(
                "a dossier has at most {MAX_ATTACHMENTS_PER_APPLICATION} attachments: remove one first"
            ),
        });
    }
    let m = attachment::ActiveModel {
        application_id: Set(app.id.0),
        storage_key: Set(key.to_owned()),
        file_name: Set(file_name.to_owned()),
        content_type: Set(PDF.to_owned()),
        size_bytes: Set(i64::try_from(size).unwrap_or(i64::MAX)),
        sha256: Set(sha256.to_owned()),
        uploaded_by: Set(actor.label().to_owned()),
        uploaded_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let mut changes = AuditChanges::new();
    changes.created("application_id", &m.application_id);
    changes.created("file_name", &m.file_name);
    changes.created("size_bytes", &m.size_bytes);
    changes.created("sha256", &m.sha256);
    record(
        &txn,
        actor,
        AuditEntry::new("ami_attachment", m.id.to_string(), "create", changes),
    )
    .await?;
    txn.commit().await?;
    Ok(from_model(m))
}

async fn load_attachment<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: AttachmentId,
) -> Result<(attachment::Model, Application), AmiError> {
    let not_found = || AmiError::NotFound {
        entity: "attachment",
        id: id.0,
    };
    let m = attachment::Entity::find_by_id(id.0)
        .one(db)
        .await?
        .ok_or_else(not_found)?;
    let app = load_visible(db, actor, ApplicationId(m.application_id))
        .await
        .map_err(|e| match e {
            AmiError::NotFound { .. } => not_found(),
            other => other,
        })?;
    Ok((m, app))
}

/// Removes an attachment (its dossier's applicant, while editable). The row and its audit entry are committed
/// first, then the file is deleted.
#[tracing::instrument(skip_all, fields(attachment.id = %id))]
pub async fn remove_attachment(
    db: &DatabaseConnection,
    storage: &dyn Storage,
    actor: &Actor,
    id: AttachmentId,
) -> Result<(), AmiError> {
    let txn = maillage_core::db::begin_write(db).await?;
    let (m, app) = load_attachment(&txn, actor, id).await?;
    require_owner_editing(actor, &app)?;
    lock_editable(&txn, &app).await?;
    attachment::Entity::delete_by_id(m.id).exec(&txn).await?;
    let mut changes = AuditChanges::new();
    changes.changed("file_name", &m.file_name, &serde_json::Value::Null);
    changes.changed("sha256", &m.sha256, &serde_json::Value::Null);
    record(
        &txn,
        actor,
        AuditEntry::new("ami_attachment", m.id.to_string(), "delete", changes),
    )
    .await?;
    txn.commit().await?;
    if let Err(e) = storage.delete(&m.storage_key).await {
        tracing::warn!(error = %e, key = m.storage_key, "attachment row deleted, its file was not");
    }
    Ok(())
}

/// The attachments of a dossier the caller sees, oldest first.
pub async fn list_attachments<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: ApplicationId,
) -> Result<Vec<Attachment>, AmiError> {
    load_visible(db, actor, id).await?;
    Ok(attachment::Entity::find()
        .filter(attachment::Column::ApplicationId.eq(id.0))
        .order_by_asc(attachment::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(from_model)
        .collect())
}

/// One attachment's metadata and content, for whoever sees its dossier.
pub async fn read_attachment<C: ConnectionTrait>(
    db: &C,
    storage: &dyn Storage,
    actor: &Actor,
    id: AttachmentId,
) -> Result<(Attachment, Vec<u8>), AmiError> {
    let (m, _) = load_attachment(db, actor, id).await?;
    let bytes = storage.get(&m.storage_key).await?;
    Ok((from_model(m), bytes))
}

/// The attachments of several dossiers at once (for DataLoaders: two statements whatever their number), keeping
/// only the dossiers the caller sees; the others are absent from the map, and a visible dossier without
/// attachments maps to an empty list.
pub async fn attachments_of<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    ids: &[ApplicationId],
) -> Result<HashMap<ApplicationId, Vec<Attachment>>, AmiError> {
    crate::access::require_participant(actor)?;
    let apps = crate::applications::load_many(db, ids).await?;
    let mut out: HashMap<ApplicationId, Vec<Attachment>> = apps
        .iter()
        .filter(|a| crate::access::can_see(actor, &a.owner, a.submitted_at.is_some()))
        .map(|a| (a.id, Vec::new()))
        .collect();
    if out.is_empty() {
        return Ok(out);
    }
    let rows = attachment::Entity::find()
        .filter(
            attachment::Column::ApplicationId.is_in(out.keys().map(|i| i.0).collect::<Vec<_>>()),
        )
        .order_by_asc(attachment::Column::Id)
        .all(db)
        .await?;
    for m in rows {
        if let Some(list) = out.get_mut(&ApplicationId(m.application_id)) {
            list.push(from_model(m));
        }
    }
    Ok(out)
}
