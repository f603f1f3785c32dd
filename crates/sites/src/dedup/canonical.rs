//! Canonical sites: one row of `site` per confirmed cluster, built from its members.
//!
//! A cluster's members are source records whose `merged_into` names the canonical row; their own columns and values
//! are never written by dedup (only `merged_into`, and `updated_at` so that incremental mirrors see a record leave
//! and come back), so un-merging is clearing `merged_into` and deleting the canonical row: the source
//! records are back exactly as they were, same content and same version.
//!
//! Each field of the canonical row comes from the most recently updated member that has it (`date_maj`, then the
//! time Maillage stored it, then the newest id), unless a coordinator chose a value ([`set_canonical_field`]).
//! [`canonical_provenance`] says, field by field, which member or which choice a value came from.

use super::entity::{site_match, site_override};
use super::{CANONICAL_SOURCE, MatchStatus};
use crate::SitesError;
use crate::draft;
use crate::entity::site;
use crate::model::{NewSite, StandardVersion, TaggedValue, ValueKind};
use crate::provenance;
use crate::query::{Site, hydrate};
use crate::standard::vocabulary::is_v1_label;
use chrono::{DateTime, Utc};
use maillage_access::{AuditChanges, AuditEntry, record};
use maillage_core::Code;
use maillage_core::error::FieldPath;
use maillage_core::{Actor, FieldProblems, Pivot, Role, SiteId};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QuerySelect, Set,
};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The fields a coordinator may choose for a canonical site (free text the members may disagree on).
pub const OVERRIDABLE_FIELDS: [&str; 9] = [
    "name",
    "phone",
    "website",
    "opening_hours",
    "summary",
    "description",
    "parent_structure",
    "accessibility_url",
    "booking_url",
];

/// Where [`build`] took one field of a canonical site from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pick {
    /// The member (source record) with this id.
    Member(SiteId),
    /// A coordinator's choice (`site_override`): who, when.
    Choice {
        /// The coordinator's actor label.
        actor: String,
        /// When the choice was made.
        at: DateTime<Utc>,
    },
}

/// The actor named in the audit trail for what matching does on its own (auto-confirmations).
pub fn dedup_actor() -> Actor {
    Actor::with_role(Role::Admin, "dedup")
}

/// The fields of the location, which come together from one member.
const LOCATION_FIELDS: [&str; 6] = [
    "address",
    "address_complement",
    "commune",
    "postal_code",
    "insee_code",
    "ban_key",
];

/// The canonical content of a cluster and where each field came from (field names of
/// [`crate::provenance::fields`]; a field no member has is absent).
///
/// A member's value that breaks an input rule ([`crate::draft`]; stored before the rule existed) is passed over
/// for the next member's, or left out for an optional field, and so is a coordinator's choice that breaks one:
/// the canonical site obeys the rules every other way in obeys, confirming a match never fails on an old value,
/// and the provenance names the record each kept value came from.
pub(crate) fn build(
    source_id: &str,
    members: &[Site],
    overrides: &[site_override::Model],
) -> Option<(NewSite, Vec<(&'static str, Pick)>)> {
    let mut ordered: Vec<&Site> = members.iter().collect();
    ordered.sort_by(|x, y| {
        (y.data.updated_on, y.updated_at, y.id.0).cmp(&(x.data.updated_on, x.updated_at, x.id.0))
    });
    let mut picks: Vec<(&'static str, Pick)> = Vec::new();
    fn note<'s>(
        picks: &mut Vec<(&'static str, Pick)>,
        fields: &[&'static str],
        pick: Option<&'s Site>,
    ) -> Option<&'s Site> {
        if let Some(s) = pick {
            picks.extend(fields.iter().map(|f| (*f, Pick::Member(s.id))));
        }
        pick
    }
    /// The value as the field's rule keeps it (trimmed, the phone normalised), or `None` when it breaks it.
    fn valid(field: &str, value: Option<&str>) -> Option<String> {
        draft::parse_field_text(field, FieldPath::new(field), value?)
            .ok()
            .flatten()
    }
    /// The first member (newest first) whose value of `field` obeys its rule, with that value.
    fn first_valid<'s>(
        ordered: &[&'s Site],
        field: &str,
        get: impl Fn(&'s Site) -> Option<&'s str>,
    ) -> Option<(&'s Site, String)> {
        ordered
            .iter()
            .find_map(|s| valid(field, get(s)).map(|v| (*s, v)))
    }
    let newest = ordered.first().copied();
    let mut data = newest?.data.clone();
    let has = |f: &dyn Fn(&Site) -> bool| ordered.iter().copied().find(|s| f(s));

    data.source_id = source_id.to_owned();
    data.standard_version = StandardVersion::V1_0;
    let pivot = note(
        &mut picks,
        &["pivot"],
        has(&|s| !s.data.pivot.is_placeholder()).or(newest),
    );
    data.pivot = pivot.map_or_else(Pivot::placeholder, |s| s.data.pivot.clone());
    if let Some((s, name)) = first_valid(&ordered, "name", |s| Some(s.data.name.as_str())) {
        note(&mut picks, &["name"], Some(s));
        data.name = name;
    }
    // Address, commune, postal and INSEE codes describe one location: they come together from one member, the
    // first whose required parts obey their rules (else the newest, which storing then refuses).
    let location_ok = |s: &Site| {
        valid("address", Some(&s.data.address)).is_some()
            && valid("commune", Some(&s.data.commune)).is_some()
            && draft::check_postal_code(
                &mut FieldProblems::new(),
                FieldPath::new("postal_code"),
                &s.data.postal_code,
            )
    };
    if let Some(s) = note(&mut picks, &LOCATION_FIELDS, has(&location_ok).or(newest)) {
        data.address = s.data.address.clone();
        data.commune = s.data.commune.clone();
        data.postal_code = s.data.postal_code.clone();
        data.insee_code = s.data.insee_code.clone();
        data.address_complement = valid("address_complement", s.data.address_complement.as_deref());
        data.ban_key = valid("ban_key", s.data.ban_key.as_deref());
        // An optional part left out no longer comes from that member.
        let dropped = [
            (
                "address_complement",
                &s.data.address_complement,
                &data.address_complement,
            ),
            ("ban_key", &s.data.ban_key, &data.ban_key),
        ];
        for (field, theirs, kept) in dropped {
            if theirs.is_some() && kept.is_none() {
                picks.retain(|(f, _)| *f != field);
            }
        }
    }
    let coords = note(
        &mut picks,
        &["latitude", "longitude"],
        has(&|s| {
            s.data.latitude.is_some()
                && s.data.longitude.is_some()
                && draft::check_coordinates(
                    &mut FieldProblems::new(),
                    s.data.latitude,
                    s.data.longitude,
                )
        }),
    );
    data.latitude = coords.and_then(|s| s.data.latitude);
    data.longitude = coords.and_then(|s| s.data.longitude);
    macro_rules! optional {
        ($field:ident) => {{
            let pick = first_valid(&ordered, stringify!($field), |s| s.data.$field.as_deref());
            note(
                &mut picks,
                &[stringify!($field)],
                pick.as_ref().map(|(s, _)| *s),
            );
            data.$field = pick.map(|(_, v)| v);
        }};
    }
    optional!(phone);
    optional!(website);
    optional!(opening_hours);
    optional!(summary);
    optional!(description);
    optional!(source_label);
    optional!(parent_structure);
    optional!(other_labels);
    optional!(accessibility_url);
    optional!(booking_url);
    let emails = note(&mut picks, &["emails"], has(&|s| !s.data.emails.is_empty()));
    data.emails = emails.map(|s| s.data.emails.clone()).unwrap_or_default();
    // `ordered` starts with the latest `date_maj`.
    if let Some(s) = note(&mut picks, &["updated_on"], newest) {
        data.updated_on = s.data.updated_on;
    }
    data.values = Vec::new();
    for kind in ValueKind::ALL {
        // A raw value without a label obeys every rule (a later mapping may translate it); a label must be one
        // of the standard's.
        let fits = |v: &TaggedValue| {
            v.kind == kind && v.value.as_deref().is_none_or(|l| is_v1_label(kind, l))
        };
        let pick = note(
            &mut picks,
            &[kind.as_str()],
            has(&|s| s.data.values.iter().any(fits)),
        );
        if let Some(s) = pick {
            data.values
                .extend(s.data.values.iter().filter(|v| fits(v)).cloned());
        }
    }
    for o in overrides {
        let Some(field) = OVERRIDABLE_FIELDS.iter().copied().find(|f| *f == o.field) else {
            continue;
        };
        // Blank (or a required field made blank) is no choice; the members' value stands.
        let Ok(value) = draft::parse_field_text(
            field,
            FieldPath::new("value"),
            o.value.as_deref().unwrap_or(""),
        ) else {
            continue;
        };
        match field {
            "name" => {
                let Some(v) = value else { continue };
                data.name = v;
            }
            "phone" => data.phone = value,
            "website" => data.website = value,
            "opening_hours" => data.opening_hours = value,
            "summary" => data.summary = value,
            "description" => data.description = value,
            "parent_structure" => data.parent_structure = value,
            "accessibility_url" => data.accessibility_url = value,
            "booking_url" => data.booking_url = value,
            _ => continue,
        }
        picks.retain(|(f, _)| *f != field);
        picks.push((
            field,
            Pick::Choice {
                actor: o.actor.clone(),
                at: o.at,
            },
        ));
    }
    Some((*data, picks))
}

/// The provenance rows of a canonical site from [`build`]'s picks: a member's field names that member, with the
/// feed, file and date (or the API edit) its own provenance records for it; a choice names the coordinator.
pub(crate) async fn provenance_rows<C: ConnectionTrait>(
    db: &C,
    picks: &[(&'static str, Pick)],
    members: &[Site],
) -> Result<Vec<provenance::FieldProvenance>, SitesError> {
    let ids: Vec<SiteId> = members.iter().map(|m| m.id).collect();
    let theirs = provenance::provenance_of(db, &ids).await?;
    let stored: HashMap<SiteId, DateTime<Utc>> =
        members.iter().map(|m| (m.id, m.updated_at)).collect();
    Ok(picks
        .iter()
        .map(|(field, pick)| match pick {
            Pick::Member(id) => {
                let own = theirs
                    .get(id)
                    .and_then(|list| list.iter().find(|p| p.field == *field));
                provenance::FieldProvenance {
                    field: (*field).to_owned(),
                    origin: provenance::Origin::Merge,
                    feed_id: own.and_then(|p| p.feed_id),
                    import_job_id: own.and_then(|p| p.import_job_id),
                    file_name: own.and_then(|p| p.file_name.clone()),
                    file_date: own.and_then(|p| p.file_date),
                    record_site_id: Some(*id),
                    actor: own.and_then(|p| p.actor.clone()),
                    at: own
                        .map(|p| p.at)
                        .or_else(|| stored.get(id).copied())
                        .unwrap_or_else(Utc::now),
                }
            }
            Pick::Choice { actor, at } => provenance::FieldProvenance {
                field: (*field).to_owned(),
                origin: provenance::Origin::Api,
                feed_id: None,
                import_job_id: None,
                file_name: None,
                file_date: None,
                record_site_id: None,
                actor: Some(actor.clone()),
                at: *at,
            },
        })
        .collect())
}

/// Source records (live or merged, not archived) by id.
pub(crate) async fn records<C: ConnectionTrait>(
    db: &C,
    ids: &[i32],
) -> Result<Vec<Site>, SitesError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows = site::Entity::find()
            .filter(site::Column::Id.is_in(chunk.iter().copied()))
            .filter(site::Column::ArchivedAt.is_null())
            .all(db)
            .await?;
        out.extend(hydrate(db, rows).await?);
    }
    Ok(out)
}

/// The live members of a canonical row, oldest first.
async fn members_of<C: ConnectionTrait>(db: &C, canonical: i32) -> Result<Vec<Site>, SitesError> {
    let rows = site::Entity::find()
        .filter(site::Column::MergedInto.eq(canonical))
        .filter(site::Column::Source.ne(CANONICAL_SOURCE))
        .filter(site::Column::ArchivedAt.is_null())
        .all(db)
        .await?;
    let mut sites = hydrate(db, rows).await?;
    sites.sort_by_key(|s| s.id.0);
    Ok(sites)
}

async fn overrides_of<C: ConnectionTrait>(
    db: &C,
    canonical: i32,
) -> Result<Vec<site_override::Model>, SitesError> {
    Ok(site_override::Entity::find()
        .filter(site_override::Column::SiteId.eq(canonical))
        .all(db)
        .await?)
}

/// The canonical row `id`, if it is one (live or absorbed).
async fn canonical_row<C: ConnectionTrait>(db: &C, id: i32) -> Result<Option<Site>, SitesError> {
    let rows = site::Entity::find()
        .filter(site::Column::Id.eq(id))
        .filter(site::Column::Source.eq(CANONICAL_SOURCE))
        .all(db)
        .await?;
    Ok(hydrate(db, rows).await?.into_iter().next())
}

/// Writes the canonical row from `members` (creating it when `canonical` is `None`) and its provenance; returns its
/// id.
///
/// `members_changed`: records joined or left the cluster. The row then gets a new version and `updated_at` even
/// when its content stays the same, so that incremental sync (`updatedSince`) and the change feed see the merge.
async fn materialise<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    canonical: Option<&Site>,
    members: &[Site],
    members_changed: bool,
) -> Result<SiteId, SitesError> {
    let (source_id, overrides) = match canonical {
        Some(c) => (c.data.source_id.clone(), overrides_of(db, c.id.0).await?),
        // Renamed to the row's own id right after the insert: unique, and stable for the row's whole life.
        None => (format!("new-{}", Utc::now().timestamp_micros()), Vec::new()),
    };
    let Some((new, picks)) = build(&source_id, members, &overrides) else {
        return Err(SitesError::InvalidDecision(
            "a cluster needs at least one source record".to_owned(),
        ));
    };
    let outcome = match crate::write::store(db, actor, "dedup", CANONICAL_SOURCE, &new, canonical)
        .await
    {
        // Only a required field can still break a rule here (no member has a valid one): its path would name a
        // field of the caller's input, which it is not.
        Err(SitesError::Rules(problems)) => {
            return Err(SitesError::InvalidDecision(format!(
                "no source record of this cluster gives a valid value for a required field ({problems}): fix \
                 the source records first"
            )));
        }
        other => other?,
    };
    let id = match outcome {
        crate::StoreOutcome::Created(id) => {
            site::Entity::update_many()
                .col_expr(site::Column::SourceId, Expr::value(id.0.to_string()))
                .filter(site::Column::Id.eq(id.0))
                .exec(db)
                .await?;
            id
        }
        crate::StoreOutcome::Updated(id) => id,
        crate::StoreOutcome::Unchanged(id) => {
            if members_changed {
                touch(db, actor, id, new.department_code(), members).await?;
            }
            id
        }
    };
    let rows = provenance_rows(db, &picks, members).await?;
    provenance::replace_provenance(db, id, rows).await?;
    Ok(id)
}

/// A new version and `updated_at` for canonical row `id`, whose members changed but not its content; audit-logged
/// as an update (the change feed's `updated`) naming the members.
async fn touch<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: SiteId,
    department: Option<maillage_core::DepartmentCode>,
    members: &[Site],
) -> Result<(), SitesError> {
    site::Entity::update_many()
        .col_expr(site::Column::UpdatedAt, Expr::value(Utc::now()))
        .col_expr(
            site::Column::Version,
            Expr::col(site::Column::Version).add(1),
        )
        .filter(site::Column::Id.eq(id.0))
        .exec(db)
        .await?;
    let mut changes = AuditChanges::new();
    changes.note(
        "members",
        &members.iter().map(|m| m.id.0).collect::<Vec<_>>(),
    );
    changes.note("via", "dedup");
    record(
        db,
        actor,
        AuditEntry::new("site", id.to_string(), "update", changes).department(department),
    )
    .await?;
    Ok(())
}

/// Points `members` at `into` (or frees them), with a new `updated_at`, leaving every other column as it is; one
/// audit entry each.
async fn set_merged<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    members: &[&Site],
    into: Option<i32>,
) -> Result<(), SitesError> {
    let ids: Vec<i32> = members
        .iter()
        .filter(|m| m.merged_into.map(|c| c.0) != into)
        .map(|m| m.id.0)
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    // A merged record leaves the default list and a freed one comes back: a new `updated_at` lets mirrors that
    // pull `updatedSince` see it go (as a tombstone) and come back. Its version stays: its content did not change,
    // and a client's pending edit of it must not conflict for nothing.
    site::Entity::update_many()
        .col_expr(site::Column::MergedInto, Expr::value(into))
        .col_expr(site::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(site::Column::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await?;
    for m in members.iter().filter(|m| ids.contains(&m.id.0)) {
        let mut changes = AuditChanges::new();
        changes.changed("merged_into", &m.merged_into.map(|c| c.0), &into);
        let action = if into.is_some() { "merge" } else { "unmerge" };
        record(
            db,
            actor,
            AuditEntry::new("site", m.id.to_string(), action, changes)
                .department(m.department_code.clone()),
        )
        .await?;
    }
    Ok(())
}

/// Puts source records `a` and `b` in one cluster (after a confirmation); returns the canonical site.
///
/// Neither in a cluster: a new canonical row. One of them: the other joins that cluster (its canonical ID does not
/// change). Both, in two clusters: the older canonical row survives, the other's members move to it, and the other
/// row is archived with `merged_into` pointing at the survivor, so its ID redirects ([`canonical_of`]).
pub(crate) async fn join<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    a: i32,
    b: i32,
) -> Result<SiteId, SitesError> {
    let pair = records(db, &[a, b]).await?;
    let (Some(ra), Some(rb)) = (
        pair.iter().find(|s| s.id.0 == a),
        pair.iter().find(|s| s.id.0 == b),
    ) else {
        return Err(SitesError::InvalidDecision(
            "one of the two source records no longer exists".to_owned(),
        ));
    };
    let survivor = match (ra.merged_into, rb.merged_into) {
        (None, None) => {
            let members = [ra.clone(), rb.clone()];
            let id = materialise(db, actor, None, &members, true).await?;
            set_merged(db, actor, &[ra, rb], Some(id.0)).await?;
            return Ok(id);
        }
        (Some(c), None) | (None, Some(c)) => {
            let joining = if ra.merged_into.is_none() { ra } else { rb };
            set_merged(db, actor, &[joining], Some(c.0)).await?;
            c
        }
        (Some(x), Some(y)) if x == y => {
            // Both are in this cluster already (through other pairs): nothing joins.
            refresh(db, actor, x.0, false).await?;
            return Ok(x);
        }
        (Some(x), Some(y)) => {
            let (keep, drop) = if x.0 < y.0 { (x, y) } else { (y, x) };
            let moving = members_of(db, drop.0).await?;
            set_merged(db, actor, &moving.iter().collect::<Vec<_>>(), Some(keep.0)).await?;
            move_overrides(db, drop.0, keep.0).await?;
            // The absorbed row stays (archived) so that its ID, known to API clients, redirects to the survivor.
            // Its new version and `updated_at` let incremental sync see it go (as a tombstone).
            let now = Utc::now();
            site::Entity::update_many()
                .col_expr(site::Column::MergedInto, Expr::value(keep.0))
                .col_expr(site::Column::ArchivedAt, Expr::value(now))
                .col_expr(site::Column::UpdatedAt, Expr::value(now))
                .col_expr(
                    site::Column::Version,
                    Expr::col(site::Column::Version).add(1),
                )
                .filter(site::Column::Id.eq(drop.0))
                .exec(db)
                .await?;
            // Recorded as an archive (with why): the change feed then tells mirrors to drop the absorbed row.
            let mut changes = AuditChanges::new();
            changes.changed("merged_into", &None::<i32>, &keep.0);
            changes.note("via", "absorb");
            record(
                db,
                actor,
                AuditEntry::new("site", drop.to_string(), "archive", changes)
                    .department(ra.department_code.clone()),
            )
            .await?;
            keep
        }
    };
    refresh(db, actor, survivor.0, true).await?;
    Ok(survivor)
}

/// Coordinators' choices on an absorbed canonical row move to the survivor, unless it has its own for that field.
async fn move_overrides<C: ConnectionTrait>(db: &C, from: i32, to: i32) -> Result<(), SitesError> {
    let theirs = overrides_of(db, from).await?;
    let ours: HashSet<String> = overrides_of(db, to)
        .await?
        .into_iter()
        .map(|o| o.field)
        .collect();
    for o in theirs.into_iter().filter(|o| !ours.contains(&o.field)) {
        site_override::ActiveModel {
            site_id: Set(to),
            field: Set(o.field),
            value: Set(o.value),
            actor: Set(o.actor),
            at: Set(o.at),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// Rewrites canonical row `canonical` and its provenance from its current members and choices (a no-op when
/// nothing changed, unless `members_changed`: see [`materialise`]).
pub(crate) async fn refresh<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    canonical: i32,
    members_changed: bool,
) -> Result<(), SitesError> {
    let Some(row) = canonical_row(db, canonical).await? else {
        return Ok(());
    };
    let members = members_of(db, canonical).await?;
    if members.is_empty() {
        return Ok(());
    }
    materialise(db, actor, Some(&row), &members, members_changed).await?;
    Ok(())
}

/// Recomputes the clusters inside canonical row `canonical` from the pairs still confirmed between its members
/// (after a rejection or a split); returns the source records that are on their own again.
///
/// The largest remaining group (ties: the one with the oldest record) keeps the canonical row and its ID; other
/// groups of two or more get new canonical rows; single records are freed. When no group is left, the canonical
/// row is deleted: its members never changed, so nothing else needs restoring.
pub(crate) async fn recluster<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    canonical: i32,
) -> Result<Vec<SiteId>, SitesError> {
    let members = members_of(db, canonical).await?;
    let ids: Vec<i32> = members.iter().map(|m| m.id.0).collect();
    let edges = site_match::Entity::find()
        .filter(site_match::Column::SiteA.is_in(ids.iter().copied()))
        .filter(site_match::Column::SiteB.is_in(ids.iter().copied()))
        .filter(site_match::Column::Status.is_in([
            MatchStatus::Confirmed.as_str(),
            MatchStatus::AutoConfirmed.as_str(),
        ]))
        .all(db)
        .await?;
    let mut parent: HashMap<i32, i32> = ids.iter().map(|i| (*i, *i)).collect();
    fn root(parent: &mut HashMap<i32, i32>, mut x: i32) -> i32 {
        while let Some(&p) = parent.get(&x) {
            if p == x {
                break;
            }
            let grand = parent.get(&p).copied().unwrap_or(p);
            parent.insert(x, grand);
            x = p;
        }
        x
    }
    for e in &edges {
        let (ra, rb) = (root(&mut parent, e.site_a), root(&mut parent, e.site_b));
        if ra != rb {
            parent.insert(Ord::max(ra, rb), Ord::min(ra, rb));
        }
    }
    let mut groups: BTreeMap<i32, Vec<&Site>> = BTreeMap::new();
    for m in &members {
        let r = root(&mut parent, m.id.0);
        groups.entry(r).or_default().push(m);
    }
    let mut groups: Vec<Vec<&Site>> = groups.into_values().collect();
    groups.sort_by(|x, y| y.len().cmp(&x.len()).then(x[0].id.0.cmp(&y[0].id.0)));
    let mut freed = Vec::new();
    let mut kept = false;
    for (i, group) in groups.iter().enumerate() {
        if group.len() < 2 {
            set_merged(db, actor, group, None).await?;
            freed.extend(group.iter().map(|s| s.id));
        } else if i == 0 {
            kept = true;
        } else {
            let owned: Vec<Site> = group.iter().map(|s| (*s).clone()).collect();
            let id = materialise(db, actor, None, &owned, true).await?;
            set_merged(db, actor, group, Some(id.0)).await?;
        }
    }
    if kept {
        refresh(db, actor, canonical, groups.len() > 1).await?;
    } else {
        delete_canonical(db, actor, canonical).await?;
    }
    Ok(freed)
}

/// Retires a canonical row that no longer stands for any cluster: archived, not deleted, so that its ID stays a
/// tombstone for mirrors (`sitesUpdatedSince`, `deletedSince`) and the audit trail keeps pointing at a row. Its
/// coordinators' choices go: they were choices among members it no longer has.
async fn delete_canonical<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    canonical: i32,
) -> Result<(), SitesError> {
    let department = canonical_row(db, canonical)
        .await?
        .and_then(|s| s.department_code);
    // Absorbed rows redirecting here would point at a retired row: they no longer redirect.
    site::Entity::update_many()
        .col_expr(site::Column::MergedInto, Expr::value(None::<i32>))
        .filter(site::Column::MergedInto.eq(canonical))
        .exec(db)
        .await?;
    site_override::Entity::delete_many()
        .filter(site_override::Column::SiteId.eq(canonical))
        .exec(db)
        .await?;
    let now = Utc::now();
    site::Entity::update_many()
        .col_expr(site::Column::ArchivedAt, Expr::value(now))
        .col_expr(site::Column::UpdatedAt, Expr::value(now))
        .col_expr(
            site::Column::Version,
            Expr::col(site::Column::Version).add(1),
        )
        .filter(site::Column::Id.eq(canonical))
        .filter(site::Column::Source.eq(CANONICAL_SOURCE))
        .exec(db)
        .await?;
    record(
        db,
        actor,
        // Recorded as a deletion (with why): the change feed then tells mirrors to drop the canonical site.
        AuditEntry::new("site", canonical.to_string(), "delete", {
            let mut changes = AuditChanges::new();
            changes.note("via", "dissolve");
            changes
        })
        .department(department),
    )
    .await?;
    Ok(())
}

/// Refreshes the canonical sites of these source records (after an import or an edit changed them), as `dedup`.
///
/// Meant to run in the caller's transaction, right after the change.
#[tracing::instrument(skip_all, fields(members = member_ids.len()))]
pub async fn refresh_canonical_in<C: ConnectionTrait>(
    db: &C,
    member_ids: &[SiteId],
) -> Result<(), SitesError> {
    let mut canonicals: Vec<i32> = Vec::new();
    for chunk in member_ids.chunks(500) {
        let rows: Vec<Option<i32>> = site::Entity::find()
            .select_only()
            .column(site::Column::MergedInto)
            .filter(site::Column::Id.is_in(chunk.iter().map(|i| i.0)))
            .filter(site::Column::MergedInto.is_not_null())
            .into_tuple()
            .all(db)
            .await?;
        canonicals.extend(rows.into_iter().flatten());
    }
    canonicals.sort_unstable();
    canonicals.dedup();
    let actor = dedup_actor();
    for c in canonicals {
        refresh(db, &actor, c, false).await?;
    }
    Ok(())
}

/// The canonical site a site ID now stands for: itself when it is live and not merged, the canonical row when it is
/// a merged source record, the survivor when it is an absorbed canonical row; `None` when there is none.
pub async fn canonical_of<C: ConnectionTrait>(
    db: &C,
    id: SiteId,
) -> Result<Option<SiteId>, SitesError> {
    let mut current = id.0;
    // Chains are short (an absorbed row points at a live one, which may itself be absorbed later).
    for _ in 0..16 {
        let row: Option<(Option<i32>, Option<chrono::DateTime<Utc>>)> = site::Entity::find()
            .select_only()
            .column(site::Column::MergedInto)
            .column(site::Column::ArchivedAt)
            .filter(site::Column::Id.eq(current))
            .into_tuple()
            .one(db)
            .await?;
        match row {
            Some((Some(next), _)) => current = next,
            Some((None, None)) => return Ok(Some(SiteId(current))),
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// The source records of several canonical sites at once (one statement, plus their values), oldest first; a
/// site that is not canonical has no entry.
pub async fn source_records_of<C: ConnectionTrait>(
    db: &C,
    canonicals: &[SiteId],
) -> Result<HashMap<SiteId, Vec<Site>>, SitesError> {
    let mut out: HashMap<SiteId, Vec<Site>> = HashMap::new();
    for chunk in canonicals.chunks(500) {
        let rows = site::Entity::find()
            .filter(site::Column::MergedInto.is_in(chunk.iter().map(|c| c.0)))
            .filter(site::Column::Source.ne(CANONICAL_SOURCE))
            .filter(site::Column::ArchivedAt.is_null())
            .all(db)
            .await?;
        for s in hydrate(db, rows).await? {
            if let Some(c) = s.merged_into {
                out.entry(c).or_default().push(s);
            }
        }
    }
    for list in out.values_mut() {
        list.sort_by_key(|s| s.id.0);
    }
    Ok(out)
}

/// Source records by id, merged into a canonical site or not (archived ones left out): what a canonical site's
/// provenance points at, which the default reads no longer serve on their own.
pub async fn records_by_ids<C: ConnectionTrait>(
    db: &C,
    ids: &[SiteId],
) -> Result<Vec<Site>, SitesError> {
    let ids: Vec<i32> = ids.iter().map(|i| i.0).collect();
    records(db, &ids).await
}

/// The source records a canonical site was built from, oldest first (empty for a site that is not canonical).
pub async fn source_records<C: ConnectionTrait>(
    db: &C,
    canonical: SiteId,
) -> Result<Vec<Site>, SitesError> {
    members_of(db, canonical.0).await
}

/// Where each field of canonical site `canonical` comes from: the member it was taken from (origin `merge`, with
/// that member's own feed, file and date), or a coordinator's choice (origin `api`). Empty for a site that is not
/// canonical. Read from `site_field_provenance`, which every rebuild of the canonical row rewrites.
pub async fn canonical_provenance<C: ConnectionTrait>(
    db: &C,
    canonical: SiteId,
) -> Result<Vec<provenance::FieldProvenance>, SitesError> {
    if canonical_row(db, canonical.0).await?.is_none() {
        return Ok(Vec::new());
    }
    Ok(provenance::provenance_of(db, &[canonical])
        .await?
        .remove(&canonical)
        .unwrap_or_default())
}

/// Sets (or, with `None`, removes) a coordinator's choice for one field of a canonical site, then rewrites it.
///
/// Only [`OVERRIDABLE_FIELDS`]; the caller must be allowed to write sites in the canonical site's department. The
/// value obeys the field's input rule ([`draft::parse_field_text`]) and is stored as the rule keeps it (trimmed,
/// a phone in international form); one that breaks it is [`SitesError::Rules`] at `value`, and nothing is written.
/// A blank value removes the choice, like `None`.
#[tracing::instrument(skip_all, fields(site.id = %canonical))]
pub async fn set_canonical_field(
    db: &DatabaseConnection,
    actor: &Actor,
    canonical: SiteId,
    field: &str,
    value: Option<String>,
) -> Result<Site, SitesError> {
    if !OVERRIDABLE_FIELDS.contains(&field) {
        return Err(SitesError::InvalidInput {
            field: FieldPath::new("field"),
            message: format!(
                "{field:?} cannot be chosen; choose one of {}",
                OVERRIDABLE_FIELDS.join(", ")
            ),
            code: Code::UnknownValue,
        });
    }
    // The choice obeys the field's own rule (the phone brought to its international form), before anything is
    // written; blank removes it.
    let value = match value.as_deref().filter(|v| !v.trim().is_empty()) {
        Some(raw) => draft::parse_field_text(field, FieldPath::new("value"), raw)?,
        None => None,
    };
    let txn = maillage_core::db::begin_write(db).await?;
    let row = canonical_row(&txn, canonical.0)
        .await?
        .filter(|s| s.merged_into.is_none())
        .ok_or(SitesError::NotFound(canonical))?;
    if !crate::can_write_site(actor, row.department_code.as_ref()) {
        return Err(SitesError::Forbidden(
            "this canonical site is outside the departments you may edit".to_owned(),
        ));
    }
    let before = site_override::Entity::find_by_id((canonical.0, field.to_owned()))
        .one(&txn)
        .await?;
    site_override::Entity::delete_by_id((canonical.0, field.to_owned()))
        .exec(&txn)
        .await?;
    if let Some(v) = &value {
        site_override::ActiveModel {
            site_id: Set(canonical.0),
            field: Set(field.to_owned()),
            value: Set(Some(v.clone())),
            actor: Set(actor.label().to_owned()),
            at: Set(Utc::now()),
        }
        .insert(&txn)
        .await?;
    }
    let mut changes = AuditChanges::new();
    changes.changed(field, &before.and_then(|b| b.value), &value);
    record(
        &txn,
        actor,
        AuditEntry::new("site", canonical.to_string(), "choose_field", changes)
            .department(row.department_code.clone()),
    )
    .await?;
    refresh(&txn, actor, canonical.0, false).await?;
    let site = canonical_row(&txn, canonical.0)
        .await?
        .ok_or(SitesError::NotFound(canonical))?;
    txn.commit().await?;
    Ok(site)
}
