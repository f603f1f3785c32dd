//! Queries on funding.

use super::inputs::{EnvelopeFilter, GrantFilterInput, HostKindGql};
use super::money::MoneyNode;
use super::{
    EnvelopeNode, FundingRuleNode, GrantNode, GrantQuoteNode, PassProgrammeNode, QuoteLineNode,
    ReferenceSalaryNode, grant_node, grant_page, load_tree,
};
use crate::changes::sync::{EnvelopeOrderBy, GrantOrderBy};
use crate::kit::connection::{Connection, PageArgs};
use crate::kit::date::Date;
use crate::kit::error::{IntoGql, coded};
use crate::kit::id::NodeKind;
use crate::kit::id::parse_int;
use crate::kit::state;
use crate::kit::territory::hub_id;
use async_graphql::{Context, ID, Object};
use chrono::Utc;
use maillage_core::Code;
use maillage_core::DepartmentCode;
use maillage_funding as funding;
use std::sync::Arc;

/// Funding queries: open to everyone (totals and public names), contacts aside.
#[derive(Default)]
pub struct FundingQuery;

/// Funding queries: open to everyone (totals and public names), contacts aside.
#[Object]
impl FundingQuery {
    /// The envelopes, parents before children (by id); `rootsOnly` keeps the top lines (walk `children` from
    /// there); `filter.updatedSince` with `orderBy: {field: UPDATED_AT}` is a mirror's incremental pull.
    async fn envelopes(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] roots_only: bool,
        filter: Option<EnvelopeFilter>,
        order_by: Option<EnvelopeOrderBy>,
    ) -> async_graphql::Result<Vec<EnvelopeNode>> {
        let tree = load_tree(ctx).await?;
        let sync = EnvelopeOrderBy::sync(order_by, filter.and_then(|f| f.updated_since));
        let mut envelopes: Vec<EnvelopeNode> = tree
            .envelopes
            .iter()
            .filter(|e| !roots_only || e.parent_id.is_none())
            .filter(|e| sync.updated_since.is_none_or(|since| e.updated_at >= since))
            .map(|e| EnvelopeNode {
                envelope: e.clone(),
                tree: Arc::clone(&tree),
            })
            .collect();
        sync.sort(&mut envelopes, |e| (e.envelope.updated_at, e.envelope.id));
        Ok(envelopes)
    }

    /// One envelope, by global ID or by code.
    async fn envelope(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        code: Option<String>,
    ) -> async_graphql::Result<Option<EnvelopeNode>> {
        let wanted = match (&id, &code) {
            (Some(id), None) => Some(
                parse_int(id, NodeKind::Envelope)
                    .map_err(|e| e.to_string())
                    .map_err(|m| coded(&m, Code::InvalidId, Some("id".to_owned())))?,
            ),
            (None, Some(_)) => None,
            _ => {
                return Err(coded(
                    "give exactly one of id and code",
                    Code::InvalidValue,
                    None,
                ));
            }
        };
        let tree = load_tree(ctx).await?;
        Ok(tree
            .envelopes
            .iter()
            .find(|e| match (wanted, &code) {
                (Some(id), _) => e.id == id,
                (None, Some(code)) => e.code.eq_ignore_ascii_case(code.trim()),
                (None, None) => false,
            })
            .map(|e| EnvelopeNode {
                envelope: e.clone(),
                tree: Arc::clone(&tree),
            }))
    }

    /// Every funding rule, past and present (both sources of `DOMAIN.md` are rows).
    async fn funding_rules(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<FundingRuleNode>> {
        let s = state(ctx)?;
        Ok(funding::list_rules(&s.db)
            .await
            .gql()?
            .into_iter()
            .map(FundingRuleNode)
            .collect())
    }

    /// The dated values of the reference salaries the salary-based rules use (the SMIC).
    async fn reference_salaries(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<ReferenceSalaryNode>> {
        let s = state(ctx)?;
        Ok(funding::list_reference_salaries(&s.db)
            .await
            .gql()?
            .into_iter()
            .map(|r| ReferenceSalaryNode {
                code: r.code,
                valid_from: Date(r.valid_from),
                monthly: MoneyNode(r.monthly),
                source: r.source,
            })
            .collect())
    }

    /// What a host of `hostKind` in `department` would receive for `posts` posts on `date` (default: today), with
    /// the rule applied and the computation line by line: under the fixed-amount rules, or, with `contractYears`,
    /// under the salary-based rule for a contract of that length (100 % of the SMIC over 2 years, 70 % over 3).
    async fn grant_quote(
        &self,
        ctx: &Context<'_>,
        host_kind: HostKindGql,
        department: Option<String>,
        posts: i32,
        date: Option<Date>,
        contract_years: Option<i32>,
    ) -> async_graphql::Result<GrantQuoteNode> {
        let s = state(ctx)?;
        let department = department
            .as_deref()
            .map(DepartmentCode::parse)
            .transpose()
            .map_err(|e| {
                coded(
                    &e.to_string(),
                    Code::InvalidValue,
                    Some("department".to_owned()),
                )
            })?;
        let quote = funding::grant_quote(
            &s.db,
            host_kind.into(),
            department.as_ref(),
            posts,
            date.map_or_else(|| Utc::now().date_naive(), |d| d.0),
            contract_years,
        )
        .await
        .gql()?;
        Ok(GrantQuoteNode {
            rule: FundingRuleNode(quote.rule),
            lines: quote
                .lines
                .into_iter()
                .map(|l| QuoteLineNode {
                    label: l.label,
                    unit: MoneyNode(l.unit),
                    posts: l.posts,
                    total: MoneyNode(l.total),
                    detail: l.detail,
                })
                .collect(),
            total: MoneyNode(quote.total),
        })
    }

    /// Grants, by id; contacts only for those who may read them.
    async fn grants(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] filter: GrantFilterInput,
        order_by: Option<GrantOrderBy>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size reading backward, 0 to 100 (default 20).")] last: Option<i32>,
        #[graphql(desc = "Cursor of the first item of the next page: read backward from it.")]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<GrantNode>> {
        let f = grant_filter(ctx, &filter).await?;
        let sync = GrantOrderBy::sync(order_by, filter.updated_since);
        grant_page(ctx, f, &sync, PageArgs::new(first, after, last, before)).await
    }

    /// One grant.
    async fn grant(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<GrantNode>> {
        let s = state(ctx)?;
        let id = parse_int(&id, NodeKind::Grant)
            .map_err(|e| e.to_string())
            .map_err(|m| coded(&m, Code::InvalidId, Some("id".to_owned())))?;
        match funding::get_grant(&s.db, id).await.gql()? {
            Some(g) => Ok(Some(grant_node(ctx, g).await?)),
            None => Ok(None),
        }
    }

    /// The Pass numérique programmes, by collectivité.
    async fn pass_programmes(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<PassProgrammeNode>> {
        let s = state(ctx)?;
        Ok(funding::list_pass_programmes(&s.db)
            .await
            .gql()?
            .into_iter()
            .map(PassProgrammeNode)
            .collect())
    }
}

/// The domain's grant filter for an input (the list's and the statistics' criteria): envelopes with their
/// sub-envelopes, statuses, department, hub; `updatedSince` is the caller's to read.
pub(crate) async fn grant_filter(
    ctx: &Context<'_>,
    filter: &GrantFilterInput,
) -> async_graphql::Result<funding::GrantFilter> {
    let mut f = funding::GrantFilter {
        statuses: filter
            .status
            .as_ref()
            .map(|s| s.iter().map(|&v| v.into()).collect()),
        ..funding::GrantFilter::default()
    };
    if let Some(ids) = &filter.envelopes {
        let tree = load_tree(ctx).await?;
        let mut all = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let root = parse_int(id, NodeKind::Envelope)
                .map_err(|e| e.to_string())
                .map_err(|m| coded(&m, Code::InvalidId, Some(format!("filter.envelopes[{i}]"))))?;
            let mut stack = vec![root];
            while let Some(e) = stack.pop() {
                if !all.contains(&e) {
                    all.push(e);
                    stack.extend(
                        tree.envelopes
                            .iter()
                            .filter(|c| c.parent_id == Some(e))
                            .map(|c| c.id),
                    );
                }
            }
        }
        f.envelopes = Some(all);
    }
    if let Some(d) = &filter.department {
        f.department = Some(DepartmentCode::parse(d).map_err(|e| {
            coded(
                &e.to_string(),
                Code::InvalidValue,
                Some("filter.department".to_owned()),
            )
        })?);
    }
    if let Some(h) = &filter.hub {
        f.hub = Some(hub_id(ctx, h, "filter.hub").await?);
    }
    Ok(f)
}
