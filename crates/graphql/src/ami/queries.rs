//! AMI queries.

use super::applications::{AmiApplicationNode, Shared};
use super::campaigns::AmiCampaignNode;
use super::inputs::{AmiApplicationFilter, AmiApplicationOrderBy};
use crate::kit::connection::{Connection, PageArgs, connection, page_request};
use crate::kit::error::{IntoGql, coded, to_gql};
use crate::kit::id::{NodeKind, decode_arg};
use crate::kit::state;
use async_graphql::{Context, ID, Object};
use maillage_ami as ami;
use maillage_ami::{ApplicationId, CampaignId};
use maillage_core::Code;
use std::sync::Arc;

/// AMI queries: campaigns are public; dossiers are shown only to who may see them (the domain decides).
#[derive(Default)]
pub struct AmiQuery;

/// AMI queries: campaigns are public; dossiers are shown only to who may see them (the domain decides).
#[Object]
impl AmiQuery {
    /// Every AMI campaign, most recent opening first. Public.
    async fn ami_campaigns(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<AmiCampaignNode>> {
        let s = state(ctx)?;
        Ok(ami::list_campaigns(&s.db)
            .await
            .gql()?
            .into_iter()
            .map(AmiCampaignNode)
            .collect())
    }

    /// One campaign, by global ID or by code. Public.
    async fn ami_campaign(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        code: Option<String>,
    ) -> async_graphql::Result<Option<AmiCampaignNode>> {
        let s = state(ctx)?;
        let found = match (id, code) {
            (Some(id), None) => {
                let id = CampaignId(decode_arg(&id, NodeKind::AmiCampaign, "id")?);
                ami::get_campaign(&s.db, id).await.gql()?
            }
            (None, Some(code)) => ami::campaign_by_code(&s.db, &code).await.gql()?,
            _ => {
                return Err(coded(
                    "give exactly one of id and code",
                    Code::InvalidValue,
                    None,
                ));
            }
        };
        Ok(found.map(AmiCampaignNode))
    }

    /// Dossiers as a Relay connection (at most 100 per page): an applicant's own dossiers; for reviewers every
    /// dossier submitted at least once; for admins all. Sorted by id or by weighted score; `forbidden` for callers
    /// that read no dossier (anonymous, partners, hub coordinators).
    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1"
    )]
    async fn ami_applications(
        &self,
        ctx: &Context<'_>,
        filter: Option<AmiApplicationFilter>,
        order_by: Option<AmiApplicationOrderBy>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size reading backward, 0 to 100 (default 20).")] last: Option<i32>,
        #[graphql(desc = "Cursor of the first item of the next page: read backward from it.")]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<AmiApplicationNode>> {
        let s = state(ctx)?;
        let filter = filter.unwrap_or_default();
        let order_by = order_by.unwrap_or_default();
        let sync = order_by.sync(filter.updated_since);
        let filter = filter.into_domain()?;
        let page = page_request(ctx, PageArgs::new(first, after, last, before))?;
        let order = order_by.into_domain()?;
        let result = ami::list_applications_synced(&s.db, &s.actor, &filter, order, &sync, &page)
            .await
            .gql()?;
        let shared = Shared::of(result.items.iter().map(|(_, l)| l.application.id).collect());
        Ok(connection(result, |listed| AmiApplicationNode {
            app: listed.application,
            listed_score: Some(listed.score),
            shared: Arc::clone(&shared),
        }))
    }

    /// One dossier. Null when it does not exist or the caller may not see it (an applicant sees only its own);
    /// `forbidden` for callers that read no dossier at all (anonymous, partners, hub coordinators).
    async fn ami_application(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<AmiApplicationNode>> {
        let s = state(ctx)?;
        let id = ApplicationId(decode_arg(&id, NodeKind::AmiApplication, "id")?);
        match ami::get_application(&s.db, &s.actor, id).await {
            Ok(app) => Ok(Some(AmiApplicationNode::new(app))),
            Err(ami::AmiError::NotFound { .. }) => Ok(None),
            Err(e) => Err(to_gql(&e)),
        }
    }
}
