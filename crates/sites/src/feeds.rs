//! Feeds: the named sources that send sites in, each with its owner, mapping and import policy.
//!
//! A feed owned by a hub imports within that hub's departments and is managed by the hub's coordinator; a national
//! feed (no hub) is managed by admins only. The feed's `source` is the `source` of every site it stores: with each
//! row's id, the identity of a site, so it never changes once the feed exists. Every change is audit-logged in the
//! same transaction.

use crate::SitesError;
use crate::entity::feed;
use crate::mapping::{BUILT_IN, Mapping};
use chrono::{DateTime, Utc};
use maillage_access::{AuditChanges, AuditEntry, record};
use maillage_core::Code;
use maillage_core::error::FieldPath;
use maillage_core::{Actor, HubId, Role};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionSession, TransactionTrait,
};

/// The share of a complete feed's sites that one file may archive unless forced, when the feed does not say.
pub const DEFAULT_MAX_ARCHIVE_SHARE: f64 = 0.2;

/// Longest mapping text stored on a feed: a mapping is a page of TOML, not a data file.
const MAX_MAPPING_BYTES: usize = 256 * 1024;

/// A feed's database id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FeedId(pub i32);

impl std::fmt::Display for FeedId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A feed as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    /// Database id.
    pub id: FeedId,
    /// Stable key in URLs and on the command line (`hinaura-lieux`).
    pub slug: String,
    /// Display name.
    pub name: String,
    /// The `source` of the sites this feed stores.
    pub source: String,
    /// The owning hub; `None` for a national feed.
    pub hub: Option<HubId>,
    /// The name of a built-in mapping, when the feed uses one.
    pub mapping: Option<String>,
    /// A mapping of the feed's own (TOML), when it has one.
    pub mapping_toml: Option<String>,
    /// Whether each file is the whole feed (sites absent from it are archived) rather than a partial update.
    pub complete: bool,
    /// Whether the feed's values win over edits made through the API (by default the edits stand).
    pub feed_wins: bool,
    /// The largest share (0 to 1) of a complete feed's sites that one file may archive unless forced.
    pub max_archive_share: f64,
    /// Optimistic-locking version.
    pub version: i32,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<feed::Model> for Feed {
    fn from(m: feed::Model) -> Self {
        Self {
            id: FeedId(m.id),
            slug: m.slug,
            name: m.name,
            source: m.source,
            hub: m.hub_id.map(HubId),
            mapping: m.mapping,
            mapping_toml: m.mapping_toml,
            complete: m.complete,
            feed_wins: m.feed_wins,
            max_archive_share: m.max_archive_share,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A feed to create.
#[derive(Debug, Clone, Default)]
pub struct NewFeed {
    /// Stable key: 1 to 64 lower-case letters, digits or `-`.
    pub slug: String,
    /// Display name; the slug when empty.
    pub name: String,
    /// The sites' source; the slug when `None`.
    pub source: Option<String>,
    /// The owning hub. A hub coordinator's feeds always belong to its hub (`None` means its own).
    pub hub: Option<HubId>,
    /// A built-in mapping's name.
    pub mapping: Option<String>,
    /// A mapping of the feed's own (TOML text).
    pub mapping_toml: Option<String>,
    /// Complete files (absent sites archived) rather than partial ones.
    pub complete: bool,
    /// The feed's values win over API edits.
    pub feed_wins: bool,
    /// Largest share a file may archive unless forced; [`DEFAULT_MAX_ARCHIVE_SHARE`] when `None`.
    pub max_archive_share: Option<f64>,
}

/// A change to a feed: `None` leaves a field as it is; `Some(None)` clears an optional one. The slug, source and
/// owner never change: sites and jobs refer to them.
#[derive(Debug, Clone, Default)]
pub struct FeedPatch {
    /// New display name.
    pub name: Option<String>,
    /// New built-in mapping, or none.
    pub mapping: Option<Option<String>>,
    /// New mapping text, or none.
    pub mapping_toml: Option<Option<String>>,
    /// Complete or partial files.
    pub complete: Option<bool>,
    /// Whether the feed wins over API edits.
    pub feed_wins: Option<bool>,
    /// New archive threshold.
    pub max_archive_share: Option<f64>,
}

fn invalid(field: &str, message: impl Into<String>) -> SitesError {
    SitesError::InvalidInput {
        field: FieldPath::new("input").push(field),
        message: message.into(),
        code: Code::InvalidValue,
    }
}

fn check_key(field: &str, value: &str, extra: &[char]) -> Result<(), SitesError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || extra.contains(&c)
        });
    if ok {
        Ok(())
    } else {
        let allowed = if extra.is_empty() {
            "lower-case letters, digits or '-'".to_owned()
        } else {
            format!(
                "lower-case letters, digits, '-' or {}",
                extra
                    .iter()
                    .map(|c| format!("'{c}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Err(invalid(
            field,
            format!("{value:?} is not a valid {field}: use 1 to 64 {allowed}"),
        ))
    }
}

fn check_name(name: &str) -> Result<(), SitesError> {
    if name.trim().is_empty() || name.chars().count() > 200 {
        return Err(invalid("name", "a feed name has 1 to 200 characters"));
    }
    Ok(())
}

fn check_share(share: f64) -> Result<(), SitesError> {
    if !(0.0..=1.0).contains(&share) {
        return Err(invalid(
            "maxArchiveShare",
            format!("{share} is not a share: use a number from 0 to 1 (0.2 is 20 %)"),
        ));
    }
    Ok(())
}

fn check_mapping(mapping: Option<&str>, toml: Option<&str>) -> Result<(), SitesError> {
    if mapping.is_some() && toml.is_some() {
        return Err(invalid(
            "mapping",
            "a feed uses either a built-in mapping or its own mapping text, not both",
        ));
    }
    // Only built-in names: a feed never names a file of the server.
    if let Some(m) = mapping
        && Mapping::built_in(m).is_none()
    {
        return Err(invalid(
            "mapping",
            format!(
                "no built-in mapping named {m:?}; built-in mappings: {}",
                BUILT_IN.map(|(n, _)| n).join(", ")
            ),
        ));
    }
    if let Some(t) = toml {
        if t.len() > MAX_MAPPING_BYTES {
            return Err(invalid(
                "mappingToml",
                format!("a mapping has at most {MAX_MAPPING_BYTES} bytes"),
            ));
        }
        // Checked now, so that a feed never holds a mapping its imports would refuse.
        Mapping::parse("feed", t).map_err(|e| invalid("mappingToml", e.to_string()))?;
    }
    Ok(())
}

/// Whether `actor` manages feeds owned by `hub` (`None`: national feeds).
///
/// Admins manage every feed; a hub coordinator only the feeds of its own hub.
pub fn can_manage_feed(actor: &Actor, hub: Option<HubId>) -> bool {
    match actor.role() {
        Role::Admin => true,
        Role::HubCoordinator => match (actor.hub_scope(), hub) {
            (Some(scope), Some(hub)) => scope.hub == hub,
            _ => false,
        },
        _ => false,
    }
}

fn require_feed_role(actor: &Actor) -> Result<(), SitesError> {
    match actor.role() {
        Role::Admin | Role::HubCoordinator => Ok(()),
        role => Err(SitesError::Forbidden(format!(
            "feeds are managed by admins and hub coordinators, not by the role {role}"
        ))),
    }
}

/// The stored feed with this slug if the caller manages it; `UnknownFeed` otherwise, so a coordinator learns
/// nothing about other hubs' feeds.
pub async fn get_feed<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    slug: &str,
) -> Result<Feed, SitesError> {
    require_feed_role(actor)?;
    let model = feed::Entity::find()
        .filter(feed::Column::Slug.eq(slug))
        .one(db)
        .await?
        .filter(|m| can_manage_feed(actor, m.hub_id.map(HubId)))
        .ok_or_else(|| SitesError::UnknownFeed(slug.to_owned()))?;
    Ok(model.into())
}

/// A feed by id, without an authorization check (for the jobs of this crate, which checked their own).
pub(crate) async fn feed_by_id<C: ConnectionTrait>(db: &C, id: FeedId) -> Result<Feed, SitesError> {
    feed::Entity::find_by_id(id.0)
        .one(db)
        .await?
        .map(Feed::from)
        .ok_or_else(|| SitesError::UnknownFeed(id.to_string()))
}

/// The feeds the caller manages, by slug: all for admins, its hub's for a hub coordinator.
pub async fn list_feeds<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
) -> Result<Vec<Feed>, SitesError> {
    require_feed_role(actor)?;
    let mut query = feed::Entity::find().order_by_asc(feed::Column::Slug);
    if !actor.is_admin() {
        let Some(scope) = actor.hub_scope() else {
            return Ok(Vec::new());
        };
        query = query.filter(feed::Column::HubId.eq(scope.hub.0));
    }
    Ok(query.all(db).await?.into_iter().map(Feed::from).collect())
}

/// Feeds by id, for DataLoaders: only those the caller manages.
pub async fn feeds_by_ids<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    ids: &[FeedId],
) -> Result<Vec<Feed>, SitesError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = feed::Entity::find()
        .filter(feed::Column::Id.is_in(ids.iter().map(|i| i.0)))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|m| can_manage_feed(actor, m.hub_id.map(HubId)))
        .map(Feed::from)
        .collect())
}

fn audit(changes: AuditChanges, feed: &Feed, action: &'static str) -> AuditEntry {
    AuditEntry::new("feed", feed.id.to_string(), action, changes).hub(feed.hub)
}

/// Creates a feed. Admins create national feeds or any hub's; a hub coordinator creates feeds of its own hub only.
/// A slug or source already used is `already_exists` on that field.
#[tracing::instrument(skip_all, fields(feed.slug = %new.slug))]
pub async fn create_feed<C: TransactionTrait>(
    db: &C,
    actor: &Actor,
    new: NewFeed,
) -> Result<Feed, SitesError> {
    require_feed_role(actor)?;
    let hub = match (actor.role(), new.hub) {
        (Role::HubCoordinator, None) => actor.hub_scope().map(|s| s.hub),
        (_, hub) => hub,
    };
    if !can_manage_feed(actor, hub) {
        return Err(SitesError::Forbidden(
            "a hub coordinator creates feeds of its own hub only; national feeds are created by admins"
                .to_owned(),
        ));
    }
    check_key("slug", &new.slug, &[])?;
    let source = new.source.clone().unwrap_or_else(|| new.slug.clone());
    check_key("source", &source, &['_', '.'])?;
    let name = if new.name.trim().is_empty() {
        new.slug.clone()
    } else {
        new.name.trim().to_owned()
    };
    check_name(&name)?;
    check_mapping(new.mapping.as_deref(), new.mapping_toml.as_deref())?;
    let share = new.max_archive_share.unwrap_or(DEFAULT_MAX_ARCHIVE_SHARE);
    check_share(share)?;
    let now = Utc::now();
    let txn = maillage_core::db::begin_write(db).await?;
    let inserted = feed::ActiveModel {
        slug: Set(new.slug.clone()),
        name: Set(name),
        source: Set(source.clone()),
        hub_id: Set(hub.map(|h| h.0)),
        mapping: Set(new.mapping),
        mapping_toml: Set(new.mapping_toml),
        complete: Set(new.complete),
        feed_wins: Set(new.feed_wins),
        max_archive_share: Set(share),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await;
    let model = match inserted {
        Ok(m) => m,
        Err(e) if maillage_core::db::is_unique_violation(&e) => {
            // The statement failed, so the transaction can run no other (PostgreSQL): which key clashed is told
            // by the error itself, whose text names the column on SQLite (`feed.slug`) and the index on PostgreSQL
            // (`feed_slug_key`).
            let (field, value) = if e.to_string().contains("slug") {
                ("slug", new.slug)
            } else {
                ("source", source)
            };
            return Err(SitesError::InvalidInput {
                field: FieldPath::new("input").push(field),
                message: format!("a feed with {field} {value:?} exists already"),
                code: Code::AlreadyExists,
            });
        }
        Err(e) if maillage_core::db::is_foreign_key_violation(&e) => {
            return Err(invalid("hub", "no such hub"));
        }
        Err(e) => return Err(e.into()),
    };
    let feed = Feed::from(model);
    let mut changes = AuditChanges::new();
    changes.created("slug", &feed.slug);
    changes.created("name", &feed.name);
    changes.created("source", &feed.source);
    changes.created("hub_id", &feed.hub.map(|h| h.0));
    changes.created("mapping", &feed.mapping);
    changes.created("mapping_toml", &feed.mapping_toml.as_ref().map(|t| t.len()));
    changes.created("complete", &feed.complete);
    changes.created("feed_wins", &feed.feed_wins);
    changes.created("max_archive_share", &feed.max_archive_share);
    record(&txn, actor, audit(changes, &feed, "create")).await?;
    txn.commit().await?;
    Ok(feed)
}

/// Changes a feed the caller manages, if `version` is still its version.
#[tracing::instrument(skip_all, fields(feed.slug = %slug))]
pub async fn update_feed<C: TransactionTrait>(
    db: &C,
    actor: &Actor,
    slug: &str,
    version: i32,
    patch: FeedPatch,
) -> Result<Feed, SitesError> {
    let txn = maillage_core::db::begin_write(db).await?;
    let old = get_feed(&txn, actor, slug).await?;
    if old.version != version {
        return Err(SitesError::InvalidInput {
            field: FieldPath::new("input").push("version"),
            message: format!(
                "feed {slug:?} is at version {}, not {version}: reload it and apply your change again",
                old.version
            ),
            code: Code::StaleVersion,
        });
    }
    let mut new = old.clone();
    if let Some(name) = patch.name {
        check_name(&name)?;
        new.name = name.trim().to_owned();
    }
    if let Some(m) = patch.mapping {
        new.mapping = m;
    }
    if let Some(t) = patch.mapping_toml {
        new.mapping_toml = t;
    }
    check_mapping(new.mapping.as_deref(), new.mapping_toml.as_deref())?;
    if let Some(c) = patch.complete {
        new.complete = c;
    }
    if let Some(w) = patch.feed_wins {
        new.feed_wins = w;
    }
    if let Some(s) = patch.max_archive_share {
        check_share(s)?;
        new.max_archive_share = s;
    }
    let mut changes = AuditChanges::new();
    changes.changed("name", &old.name, &new.name);
    changes.changed("mapping", &old.mapping, &new.mapping);
    changes.changed("mapping_toml", &old.mapping_toml, &new.mapping_toml);
    changes.changed("complete", &old.complete, &new.complete);
    changes.changed("feed_wins", &old.feed_wins, &new.feed_wins);
    changes.changed(
        "max_archive_share",
        &old.max_archive_share,
        &new.max_archive_share,
    );
    if changes.is_empty() {
        txn.commit().await?;
        return Ok(old);
    }
    let now = Utc::now();
    // The version check is in the UPDATE itself, so of two concurrent writers exactly one wins.
    let updated = feed::Entity::update_many()
        .col_expr(feed::Column::Name, Expr::value(new.name.clone()))
        .col_expr(feed::Column::Mapping, Expr::value(new.mapping.clone()))
        .col_expr(
            feed::Column::MappingToml,
            Expr::value(new.mapping_toml.clone()),
        )
        .col_expr(feed::Column::Complete, Expr::value(new.complete))
        .col_expr(feed::Column::FeedWins, Expr::value(new.feed_wins))
        .col_expr(
            feed::Column::MaxArchiveShare,
            Expr::value(new.max_archive_share),
        )
        // The database adds one to the stored version (the caller's, by the filter): no arithmetic on a version a
        // client sent, which may be `i32::MAX`.
        .col_expr(
            feed::Column::Version,
            Expr::col(feed::Column::Version).add(1),
        )
        .col_expr(feed::Column::UpdatedAt, Expr::value(now))
        .filter(feed::Column::Id.eq(old.id.0))
        .filter(feed::Column::Version.eq(version))
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(SitesError::InvalidInput {
            field: FieldPath::new("input").push("version"),
            message: format!(
                "feed {slug:?} changed meanwhile: reload it and apply your change again"
            ),
            code: Code::StaleVersion,
        });
    }
    // The stored version plus one, as the UPDATE wrote it; a feed at `i32::MAX` cannot move on (on PostgreSQL the
    // UPDATE itself refuses), so it is reported as stale rather than wrapped.
    new.version = old
        .version
        .checked_add(1)
        .ok_or_else(|| SitesError::InvalidInput {
            field: FieldPath::new("input").push("version"),
            message: format!("feed {slug:?} cannot change any more: its version is at its maximum"),
            code: Code::StaleVersion,
        })?;
    new.updated_at = now;
    record(&txn, actor, audit(changes, &new, "update")).await?;
    txn.commit().await?;
    Ok(new)
}
