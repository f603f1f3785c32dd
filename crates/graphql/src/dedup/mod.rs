//! Duplicates across sources: candidate pairs for review, decisions, a canonical site's source records, each
//! field's provenance, and coordinators' per-field choices on canonical sites.
//!
//! Resolvers are thin: each calls one service of `maillage_sites::dedup` (or `maillage_sites::provenance`), where
//! authorization lives. `Site.provenance` and `Site.sourceRecords` are batched over a page by the loaders below.

use crate::kit::connection::{Connection, PageArgs, connection, keyed_page_request};
use crate::kit::error::IntoGql;
use crate::kit::handles::SiteNode;
use crate::kit::id::{NodeKind, decode_arg, decode_int, encode};
use crate::kit::payload::{UserError, classify, user_error, writer};
use crate::kit::state;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use maillage_core::Code;
use maillage_core::SiteId;
use maillage_core::error::FieldPath;
use maillage_sites::dedup::{self, MatchFilter, MatchStatus, SiteMatchView};

mod provenance;
pub use provenance::*;

/// Where a candidate pair stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "SiteMatchStatus")]
pub enum SiteMatchStatusGql {
    /// Found, waiting for a coordinator.
    Pending,
    /// A coordinator said both records are one place.
    Confirmed,
    /// A coordinator said they are two places: never proposed again.
    Rejected,
    /// Confirmed by matching itself (score at or above the configured threshold).
    AutoConfirmed,
}

impl From<MatchStatus> for SiteMatchStatusGql {
    fn from(s: MatchStatus) -> Self {
        match s {
            MatchStatus::Pending => Self::Pending,
            MatchStatus::Confirmed => Self::Confirmed,
            MatchStatus::Rejected => Self::Rejected,
            MatchStatus::AutoConfirmed => Self::AutoConfirmed,
        }
    }
}

impl From<SiteMatchStatusGql> for MatchStatus {
    fn from(s: SiteMatchStatusGql) -> Self {
        match s {
            SiteMatchStatusGql::Pending => Self::Pending,
            SiteMatchStatusGql::Confirmed => Self::Confirmed,
            SiteMatchStatusGql::Rejected => Self::Rejected,
            SiteMatchStatusGql::AutoConfirmed => Self::AutoConfirmed,
        }
    }
}

/// Criteria on candidate pairs.
#[derive(InputObject, Default)]
pub struct SiteMatchFilter {
    /// Only pairs in this status.
    pub status: Option<SiteMatchStatusGql>,
    /// Only pairs scoring at least this much (0 to 1).
    pub min_score: Option<f64>,
}

/// One reason two records look like one place.
#[derive(SimpleObject)]
pub struct SiteMatchReason {
    /// Stable code: `same_pivot`, `same_name`, `similar_name`, `name_contained`, `same_address`,
    /// `similar_address`, `same_commune`, `within_30m`, `within_150m`, `far_apart`, `same_phone`, `same_email`,
    /// `same_web_domain`.
    pub code: String,
    /// What it added to the score (negative: evidence against).
    pub weight: f64,
    /// A detail for a human (distance, shared value).
    pub detail: Option<String>,
}

fn match_id(id: i32) -> ID {
    encode(NodeKind::SiteMatch, id)
}

fn decode_match_id(id: &ID) -> Option<i32> {
    crate::kit::id::parse_int(id, NodeKind::SiteMatch).ok()
}

/// A candidate pair of source records, both shown as their source wrote them.
pub struct SiteMatchNode(pub(crate) SiteMatchView);

/// A candidate pair of source records, both shown as their source wrote them.
#[Object(name = "SiteMatch")]
impl SiteMatchNode {
    /// Global ID (opaque).
    pub async fn id(&self) -> ID {
        match_id(self.0.site_match.id)
    }
    /// Score in [0, 1]: the sum of the reasons' weights.
    async fn score(&self) -> f64 {
        self.0.site_match.score
    }
    /// Why the records look like one place.
    async fn reasons(&self) -> Vec<SiteMatchReason> {
        self.0
            .site_match
            .reasons
            .iter()
            .map(|r| SiteMatchReason {
                code: r.code.clone(),
                weight: r.weight,
                detail: r.detail.clone(),
            })
            .collect()
    }
    /// Where it stands.
    async fn status(&self) -> SiteMatchStatusGql {
        self.0.site_match.status.into()
    }
    /// The first source record.
    async fn a(&self) -> SiteNode {
        SiteNode::new(self.0.a.clone())
    }
    /// The second source record.
    async fn b(&self) -> SiteNode {
        SiteNode::new(self.0.b.clone())
    }
    /// Who decided (`dedup` for auto-confirmations).
    async fn decided_by(&self) -> Option<&str> {
        self.0.site_match.decided_by.as_deref()
    }
    /// When.
    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.0.site_match.decided_at
    }
}

/// Queries on duplicates.
#[derive(Default)]
pub struct DedupQuery;

#[Object]
impl DedupQuery {
    /// Candidate duplicate pairs the caller may review (hub coordinators: those with a record in their
    /// departments), best score first.
    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1"
    )]
    async fn site_matches(
        &self,
        ctx: &Context<'_>,
        filter: Option<SiteMatchFilter>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size reading backward, 0 to 100 (default 20).")] last: Option<i32>,
        #[graphql(desc = "Cursor of the first item of the next page: read backward from it.")]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<SiteMatchNode>> {
        let s = state(ctx)?;
        let filter = filter.unwrap_or_default();
        let page =
            keyed_page_request::<(i64, i32)>(ctx, PageArgs::new(first, after, last, before))?;
        let filter = MatchFilter {
            status: filter.status.map(Into::into),
            min_score: filter.min_score,
        };
        let page = dedup::list_site_matches(&s.db, &s.actor, &filter, &page)
            .await
            .gql()?;
        Ok(connection(page, SiteMatchNode))
    }

    /// The source records a canonical site was built from (empty for a site that is not canonical).
    async fn site_source_records(
        &self,
        ctx: &Context<'_>,
        site_id: ID,
    ) -> async_graphql::Result<Vec<SiteNode>> {
        let s = state(ctx)?;
        let id = SiteId(decode_arg(&site_id, NodeKind::Site, "siteId")?);
        let records = dedup::source_records(&s.db, id).await.gql()?;
        Ok(records.into_iter().map(SiteNode::new).collect())
    }
}

/// Input of `confirmSiteMatch` and `rejectSiteMatch`.
#[derive(InputObject)]
pub struct DecideSiteMatchInput {
    /// The pair.
    pub id: ID,
}

/// Input of `splitSiteCluster`.
#[derive(InputObject)]
pub struct SplitSiteClusterInput {
    /// The canonical site.
    pub site_id: ID,
}

/// Result of a decision on a pair.
#[derive(SimpleObject)]
pub struct SiteMatchPayload {
    /// The pair after the decision, unless there were user errors.
    pub site_match_id: Option<ID>,
    /// Its status after the decision.
    pub status: Option<SiteMatchStatusGql>,
    /// The canonical site both records now belong to (after a confirmation).
    pub canonical_site_id: Option<ID>,
    /// Source records served on their own again (after rejecting a confirmed pair).
    pub restored_site_ids: Vec<ID>,
    /// Business errors; empty on success.
    pub user_errors: Vec<UserError>,
}

crate::payloads! {
    SiteMatchPayload {
        /// The pair after the decision, unless there were user errors.
        site_match_id: Option<ID>,
        /// Its status after the decision.
        status: Option<SiteMatchStatusGql>,
        /// The canonical site both records now belong to (after a confirmation).
        canonical_site_id: Option<ID>,
        /// Source records served on their own again (after rejecting a confirmed pair).
        restored_site_ids: Vec<ID>,
    }
    /// Result of `confirmSiteMatch`.
    ConfirmSiteMatchPayload,
    /// Result of `rejectSiteMatch`.
    RejectSiteMatchPayload,
}

/// Result of `splitSiteCluster`.
#[derive(SimpleObject)]
pub struct SplitSiteClusterPayload {
    /// The source records served on their own again.
    pub restored_site_ids: Vec<ID>,
    /// Business errors; empty on success.
    pub user_errors: Vec<UserError>,
}

fn failed(user_errors: Vec<UserError>) -> SiteMatchPayload {
    SiteMatchPayload {
        site_match_id: None,
        status: None,
        canonical_site_id: None,
        restored_site_ids: Vec::new(),
        user_errors,
    }
}

fn site_ids(ids: Vec<SiteId>) -> Vec<ID> {
    ids.into_iter().map(|i| encode(NodeKind::Site, i)).collect()
}

/// Decisions on duplicates.
#[derive(Default)]
pub struct DedupMutation;

#[Object]
impl DedupMutation {
    /// Confirms that both records of a pair are one place: they are served as one canonical site from now on.
    async fn confirm_site_match(
        &self,
        ctx: &Context<'_>,
        input: DecideSiteMatchInput,
    ) -> async_graphql::Result<ConfirmSiteMatchPayload> {
        decide(ctx, &input.id, true).await.map(Into::into)
    }

    /// Rejects a pair: two places, never proposed again. Rejecting a confirmed pair restores its records.
    async fn reject_site_match(
        &self,
        ctx: &Context<'_>,
        input: DecideSiteMatchInput,
    ) -> async_graphql::Result<RejectSiteMatchPayload> {
        decide(ctx, &input.id, false).await.map(Into::into)
    }

    /// Splits a canonical site back into its source records, exactly as their sources wrote them.
    async fn split_site_cluster(
        &self,
        ctx: &Context<'_>,
        input: SplitSiteClusterInput,
    ) -> async_graphql::Result<SplitSiteClusterPayload> {
        let actor = writer(ctx)?;
        let id = match decode_int(&input.site_id, NodeKind::Site) {
            Ok(id) => SiteId(id),
            Err(e) => {
                return Ok(SplitSiteClusterPayload {
                    restored_site_ids: Vec::new(),
                    user_errors: vec![user_error(
                        FieldPath::new("input").push("siteId"),
                        Code::InvalidId,
                        e.message,
                    )],
                });
            }
        };
        let s = state(ctx)?;
        match dedup::split_site_cluster(&s.db, &actor, id).await {
            Ok(restored) => Ok(SplitSiteClusterPayload {
                restored_site_ids: site_ids(restored),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(SplitSiteClusterPayload {
                restored_site_ids: Vec::new(),
                user_errors: classify(&e)?,
            }),
        }
    }

    /// Chooses the value of one field of a canonical site (admins, or the coordinator of its department;
    /// audit-logged). The choice stands through later rebuilds, imports and merges until it is removed; the
    /// field's provenance then says `API`, with who and when.
    async fn override_site_field(
        &self,
        ctx: &Context<'_>,
        input: OverrideSiteFieldInput,
    ) -> async_graphql::Result<OverrideSiteFieldPayload> {
        let actor = writer(ctx)?;
        let failed = |user_errors| OverrideSiteFieldPayload {
            site: None,
            user_errors,
        };
        let id = match decode_int(&input.site_id, NodeKind::Site) {
            Ok(id) => SiteId(id),
            Err(e) => {
                return Ok(failed(vec![user_error(
                    crate::kit::payload::input("siteId"),
                    Code::InvalidId,
                    e.message,
                )]));
            }
        };
        let value = input
            .value
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        let s = state(ctx)?;
        match dedup::set_canonical_field(&s.db, &actor, id, input.field.key(), value).await {
            Ok(site) => Ok(OverrideSiteFieldPayload {
                site: Some(SiteNode::new(site)),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(failed(classify(&e)?)),
        }
    }
}

async fn decide(
    ctx: &Context<'_>,
    id: &ID,
    confirm: bool,
) -> async_graphql::Result<SiteMatchPayload> {
    let actor = writer(ctx)?;
    let Some(id) = decode_match_id(id) else {
        return Ok(failed(vec![user_error(
            FieldPath::new("input").push("id"),
            Code::InvalidId,
            "this ID does not name a SiteMatch",
        )]));
    };
    let s = state(ctx)?;
    let result = if confirm {
        dedup::review::confirm_site_match(&s.db, &actor, id).await
    } else {
        dedup::review::reject_site_match(&s.db, &actor, id).await
    };
    match result {
        Ok(d) => Ok(SiteMatchPayload {
            site_match_id: Some(match_id(d.site_match.id)),
            status: Some(d.site_match.status.into()),
            canonical_site_id: d.canonical.map(|c| encode(NodeKind::Site, c)),
            restored_site_ids: site_ids(d.restored),
            user_errors: Vec::new(),
        }),
        Err(e) => Ok(failed(classify(&e)?)),
    }
}

/// The candidate pairs with these ids that the caller may review, for `node(id:)`: one statement for the pairs
/// and one for their records.
pub(crate) async fn matches_for_node(
    ctx: &Context<'_>,
    ids: &[i32],
) -> async_graphql::Result<Vec<(i32, SiteMatchNode)>> {
    let s = state(ctx)?;
    let views = match dedup::site_matches_by_ids(&s.db, &s.actor, ids).await {
        // A caller who reviews no duplicates sees no pair: `node` answers null, as for any ID it may not see.
        Err(maillage_sites::SitesError::Forbidden(_)) => Vec::new(),
        other => other.gql()?,
    };
    Ok(views
        .into_iter()
        .map(|v| (v.site_match.id, SiteMatchNode(v)))
        .collect())
}

// ---------------------------------------------------------------------------------------------------------------
// Coordinators' choices on canonical sites
// ---------------------------------------------------------------------------------------------------------------

/// A field of a canonical site a coordinator may choose (free text its source records may disagree on).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum OverridableSiteField {
    /// `name`.
    Name,
    /// `phone`.
    Phone,
    /// `website`.
    Website,
    /// `openingHours`.
    OpeningHours,
    /// `summary`.
    Summary,
    /// `description`.
    Description,
    /// `parentStructure`.
    ParentStructure,
    /// `accessibilityUrl`.
    AccessibilityUrl,
    /// `bookingUrl`.
    BookingUrl,
}

impl OverridableSiteField {
    fn key(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Phone => "phone",
            Self::Website => "website",
            Self::OpeningHours => "opening_hours",
            Self::Summary => "summary",
            Self::Description => "description",
            Self::ParentStructure => "parent_structure",
            Self::AccessibilityUrl => "accessibility_url",
            Self::BookingUrl => "booking_url",
        }
    }
}

/// Input of `overrideSiteField`.
#[derive(InputObject)]
pub struct OverrideSiteFieldInput {
    /// The canonical site.
    pub site_id: ID,
    /// The field to choose.
    pub field: OverridableSiteField,
    /// The value to serve whatever the source records say; null (or blank) removes the choice, and the field
    /// comes from the source records again.
    pub value: Option<String>,
}

/// Result of `overrideSiteField`.
#[derive(SimpleObject)]
pub struct OverrideSiteFieldPayload {
    /// The canonical site after the choice, unless there were user errors.
    pub site: Option<SiteNode>,
    /// Business errors; empty on success.
    pub user_errors: Vec<UserError>,
}

#[cfg(test)]
mod tests {
    use super::site_field_name;

    #[test]
    fn stored_field_names_become_site_field_names() {
        assert_eq!(site_field_name("postal_code"), "postalCode");
        assert_eq!(site_field_name("accessibility_url"), "accessibilityUrl");
        assert_eq!(site_field_name("name"), "name");
        assert_eq!(site_field_name("service"), "services");
        assert_eq!(site_field_name("specific_support"), "specificSupport");
    }
}
