//! The AMI reference data shipped with the binary: the 2020–2021 BdT call and its scoring grid
//! (`data/campaigns.csv`, `data/criteria.csv`).
//!
//! Seeding is idempotent: a campaign is identified by its code; a campaign present already, even edited since, is
//! left as it is. It needs the funding envelopes, so it runs after `maillage_funding::seed_reference_data`.

use crate::AmiError;
use crate::campaigns::{NewCampaign, NewCriterion, insert_campaign, paris_instant};
use crate::entity::campaign;
use maillage_core::RegionCode;
use maillage_funding::Money;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde::Deserialize;

const CAMPAIGNS_CSV: &str = include_str!("../data/campaigns.csv");
const CRITERIA_CSV: &str = include_str!("../data/criteria.csv");

/// What seeding added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AmiSeedReport {
    /// Campaigns created.
    pub campaigns: usize,
}

#[derive(Deserialize)]
struct CampaignRow {
    code: String,
    name: String,
    opens_at_paris: String,
    closes_at_paris: String,
    envelope_code: String,
    max_per_hub_euros: String,
    qpv_bonus_euros: String,
    acv_bonus_euros: String,
    priority_regions: String,
    max_attachment_mib: i64,
    #[allow(dead_code)]
    source: String,
}

#[derive(Deserialize)]
struct CriterionRow {
    campaign_code: String,
    code: String,
    label: String,
    weight: i32,
    max_score: i32,
    position: i32,
}

fn rows<T: for<'de> Deserialize<'de>>(csv_text: &str) -> Result<Vec<T>, AmiError> {
    csv::Reader::from_reader(csv_text.as_bytes())
        .deserialize()
        .collect::<Result<_, _>>()
        .map_err(|e| AmiError::InvalidSeed(e.to_string()))
}

fn money(raw: &str) -> Result<Money, AmiError> {
    Money::parse_euros(raw).map_err(AmiError::InvalidSeed)
}

/// The seeded campaigns, parsed (also used by tests to compare with the seed files themselves).
pub fn seed_campaigns() -> Result<Vec<NewCampaign>, AmiError> {
    let mut criteria: Vec<CriterionRow> = rows(CRITERIA_CSV)?;
    criteria.sort_by_key(|c| c.position);
    rows::<CampaignRow>(CAMPAIGNS_CSV)?
        .into_iter()
        .map(|r| {
            let priority_regions = r
                .priority_regions
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| RegionCode::parse(s).map_err(|e| AmiError::InvalidSeed(e.to_string())))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(NewCampaign {
                opens_at: paris_instant(&r.opens_at_paris).map_err(AmiError::InvalidSeed)?,
                closes_at: paris_instant(&r.closes_at_paris).map_err(AmiError::InvalidSeed)?,
                envelope_code: r.envelope_code,
                max_per_hub: money(&r.max_per_hub_euros)?,
                qpv_bonus: money(&r.qpv_bonus_euros)?,
                acv_bonus: money(&r.acv_bonus_euros)?,
                priority_regions,
                max_attachment_bytes: r.max_attachment_mib * 1024 * 1024,
                criteria: criteria
                    .iter()
                    .filter(|c| c.campaign_code == r.code)
                    .map(|c| NewCriterion {
                        code: c.code.clone(),
                        label: c.label.clone(),
                        weight: c.weight,
                        max_score: c.max_score,
                    })
                    .collect(),
                code: r.code,
                name: r.name,
            })
        })
        .collect()
}

/// Inserts the seeded campaigns that are missing (by code), in one transaction.
pub async fn seed_reference_data(db: &DatabaseConnection) -> Result<AmiSeedReport, AmiError> {
    let wanted = seed_campaigns()?;
    let txn = maillage_core::db::begin_write(db).await?;
    let mut report = AmiSeedReport::default();
    for c in &wanted {
        let present = campaign::Entity::find()
            .filter(campaign::Column::Code.eq(c.code.as_str()))
            .count(&txn)
            .await?;
        if present == 0 {
            insert_campaign(&txn, c).await?;
            report.campaigns += 1;
        }
    }
    txn.commit().await?;
    Ok(report)
}
