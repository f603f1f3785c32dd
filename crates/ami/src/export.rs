//! CSV exports for reviewers and admins: the dossiers with their summaries, and every score.
//!
//! Comma-separated, UTF-8, one header line; amounts in euros with two decimals and a dot (`250000.00`), instants
//! in RFC 3339 UTC; lists (departments, regions) joined with `;`. Dossiers, score sheets, hubs and grants are named
//! by the API's global IDs (`maillage_core::ids::global_id`), never by database ids: a reviewer pastes them into
//! `node(id:)` or any argument that takes them.

use crate::AmiError;
use crate::access::require_reviewer;
use crate::campaigns::list_campaigns;
use crate::list::{ApplicationFilter, matching};
use crate::reviews::sheets_of_applications;
use maillage_core::Actor;
use maillage_core::ids::global_id;
use maillage_funding::Money;
use sea_orm::ConnectionTrait;
use std::collections::HashMap;

fn euros(m: Money) -> String {
    let sign = if m.cents() < 0 { "-" } else { "" };
    let abs = m.cents().unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

fn score(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_default()
}

fn finish(w: maillage_core::csv::Writer<Vec<u8>>) -> Result<String, AmiError> {
    let bytes = w
        .into_inner()
        .map_err(|e| AmiError::Export(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| AmiError::Export(e.to_string()))
}

fn csv_err(e: csv::Error) -> AmiError {
    AmiError::Export(e.to_string())
}

/// The dossiers matching `filter` (reviewers, admins), one line each, with their score summary.
pub async fn export_applications_csv<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    filter: &ApplicationFilter,
) -> Result<String, AmiError> {
    require_reviewer(actor)?;
    let items = matching(db, actor, filter).await?;
    let campaigns: HashMap<i32, String> = list_campaigns(db)
        .await?
        .into_iter()
        .map(|c| (c.id.0, c.code))
        .collect();
    let mut w = maillage_core::csv::Writer::from_writer(Vec::new());
    w.write_record([
        "id",
        "campaign",
        "status",
        "hub_name",
        "carrier_name",
        "carrier_siret",
        "carrier_legal_form",
        "consortium_members",
        "departments",
        "regions",
        "qpv",
        "acv",
        "amount_requested_euros",
        "budget_total_euros",
        "co_funding_euros",
        "submitted_at",
        "reviews",
        "weighted_mean",
        "spread",
        "decided_at",
        "awarded_euros",
        "hub_id",
        "grant_id",
        "decision_reason",
    ])
    .map_err(csv_err)?;
    for item in items {
        let a = &item.application;
        let d = &a.data;
        let join = |v: Vec<&str>| v.join(";");
        let budget: Money = d.budget.iter().map(|l| l.amount).sum();
        let co_funding: Money = d.co_funding.iter().map(|l| l.amount).sum();
        let decision = a.decision.as_ref();
        w.write_record([
            global_id("AmiApplication", a.id),
            campaigns.get(&a.campaign_id.0).cloned().unwrap_or_default(),
            a.status.as_str().to_owned(),
            d.hub_name.clone(),
            d.carrier_name.clone(),
            d.carrier_siret.to_string(),
            d.carrier_legal_form.clone(),
            d.consortium.len().to_string(),
            join(d.departments.iter().map(|c| c.as_str()).collect()),
            join(a.regions.iter().map(|c| c.as_str()).collect()),
            d.qpv.to_string(),
            d.acv.to_string(),
            euros(d.amount_requested),
            euros(budget),
            euros(co_funding),
            a.submitted_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            item.score
                .as_ref()
                .map(|s| s.reviews.to_string())
                .unwrap_or_default(),
            score(item.score.as_ref().and_then(|s| s.weighted_mean)),
            score(item.score.as_ref().and_then(|s| s.spread)),
            decision
                .map(|d| d.decided_at.to_rfc3339())
                .unwrap_or_default(),
            decision
                .and_then(|d| d.awarded)
                .map(euros)
                .unwrap_or_default(),
            decision
                .and_then(|d| d.hub)
                .map(|h| global_id("Hub", h))
                .unwrap_or_default(),
            decision
                .and_then(|d| d.grant_id)
                .map(|g| global_id("Grant", g))
                .unwrap_or_default(),
            decision.and_then(|d| d.reason.clone()).unwrap_or_default(),
        ])
        .map_err(csv_err)?;
    }
    finish(w)
}

/// Every score of the dossiers matching `filter` (reviewers, admins): one line per sheet and criterion.
pub async fn export_scores_csv<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    filter: &ApplicationFilter,
) -> Result<String, AmiError> {
    require_reviewer(actor)?;
    let items = matching(db, actor, filter).await?;
    let campaigns: HashMap<i32, crate::model::Campaign> = list_campaigns(db)
        .await?
        .into_iter()
        .map(|c| (c.id.0, c))
        .collect();
    let mut w = maillage_core::csv::Writer::from_writer(Vec::new());
    w.write_record([
        "application_id",
        "hub_name",
        "sheet_id",
        "reviewer",
        "criterion",
        "weight",
        "max_score",
        "score",
        "sheet_weighted",
        "comment",
    ])
    .map_err(csv_err)?;
    let apps: Vec<crate::model::Application> = items.into_iter().map(|i| i.application).collect();
    let sheets = sheets_of_applications(db, &apps, &campaigns).await?;
    for sheet in &sheets {
        let Some(a) = apps.iter().find(|a| a.id == sheet.application_id) else {
            continue;
        };
        let campaign = campaigns.get(&a.campaign_id.0);
        for s in &sheet.scores {
            let c = campaign.and_then(|c| c.criteria.iter().find(|c| c.code == s.criterion));
            w.write_record([
                global_id("AmiApplication", a.id),
                a.data.hub_name.clone(),
                global_id("AmiScoreSheet", format_args!("{}.{}", a.id, sheet.id)),
                sheet.reviewer.clone(),
                s.criterion.clone(),
                c.map(|c| c.weight.to_string()).unwrap_or_default(),
                c.map(|c| c.max_score.to_string()).unwrap_or_default(),
                s.score.to_string(),
                format!("{:.2}", sheet.weighted),
                sheet.comment.clone().unwrap_or_default(),
            ])
            .map_err(csv_err)?;
        }
    }
    finish(w)
}
