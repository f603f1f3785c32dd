//! The funding reference data shipped with the binary: programme envelopes and funding rules from `DOMAIN.md`.
//!
//! Seeding is idempotent: an envelope is identified by its code and a rule by (host kind, department, valid from,
//! source); rows present already, even edited since by an admin, are left as they are.

use crate::FundingError;
use crate::entity::{envelope, reference_salary, rule};
use crate::envelopes::{NewEnvelope, insert_envelope};
use crate::model::{HostKind, SalaryShare, Target, TargetKind};
use crate::money::Money;
use crate::rules::{NewRule, active_model};
use chrono::NaiveDate;
use maillage_core::DepartmentCode;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde::Deserialize;
use std::collections::HashMap;

const ENVELOPES_CSV: &str = include_str!("../data/envelopes.csv");
const RULES_CSV: &str = include_str!("../data/funding_rules.csv");
const SALARIES_CSV: &str = include_str!("../data/reference_salaries.csv");

/// What seeding added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FundingSeedReport {
    /// Envelopes created.
    pub envelopes: usize,
    /// Rules created.
    pub rules: usize,
    /// Reference salary values created.
    pub salaries: usize,
}

#[derive(Deserialize)]
struct EnvelopeRow {
    code: String,
    parent_code: String,
    name: String,
    amount_euros: String,
    source: String,
    target_kind: String,
    target_count: String,
}

#[derive(Deserialize)]
struct SalaryRow {
    code: String,
    valid_from: String,
    monthly_euros: String,
    source: String,
}

#[derive(Deserialize)]
struct RuleRow {
    host_kind: String,
    department: String,
    amount_per_post: String,
    training: String,
    kit: String,
    certification: String,
    valid_from: String,
    valid_to: String,
    source: String,
    salary_reference: String,
    salary_share_pct: String,
    salary_years: String,
}

fn target(row: &EnvelopeRow) -> Result<Option<Target>, FundingError> {
    match (row.target_kind.trim(), row.target_count.trim()) {
        ("", "") => Ok(None),
        (kind, count) => Ok(Some(Target {
            kind: TargetKind::parse(kind).ok_or_else(|| {
                FundingError::InvalidSeed(format!("envelope {}: target kind {kind:?}", row.code))
            })?,
            count: count.parse().map_err(|e| {
                FundingError::InvalidSeed(format!("envelope {}: target {count:?}: {e}", row.code))
            })?,
        })),
    }
}

fn salary_share(r: &RuleRow) -> Result<Option<SalaryShare>, FundingError> {
    let int = |raw: &str| {
        raw.trim()
            .parse::<i32>()
            .map_err(|e| FundingError::InvalidSeed(format!("rule {:?}: {raw:?}: {e}", r.source)))
    };
    match r.salary_reference.trim() {
        "" => Ok(None),
        reference => Ok(Some(SalaryShare {
            reference: reference.to_owned(),
            share_pct: int(&r.salary_share_pct)?,
            years: int(&r.salary_years)?,
        })),
    }
}

/// The seeded values of the reference salaries (the monthly gross SMIC and the legal text of each value).
pub fn seed_salaries() -> Result<Vec<crate::model::ReferenceSalary>, FundingError> {
    let rows: Vec<SalaryRow> = csv::Reader::from_reader(SALARIES_CSV.as_bytes())
        .deserialize()
        .collect::<Result<_, _>>()
        .map_err(|e| FundingError::InvalidSeed(e.to_string()))?;
    rows.into_iter()
        .map(|r| {
            Ok(crate::model::ReferenceSalary {
                code: r.code.trim().to_owned(),
                valid_from: date(&r.valid_from)?,
                monthly: money(&r.monthly_euros)?,
                source: r.source,
            })
        })
        .collect()
}

fn money(raw: &str) -> Result<Money, FundingError> {
    Money::parse_euros(raw).map_err(FundingError::InvalidSeed)
}

fn date(raw: &str) -> Result<NaiveDate, FundingError> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|e| FundingError::InvalidSeed(format!("date {raw:?}: {e}")))
}

fn envelope_rows() -> Result<Vec<EnvelopeRow>, FundingError> {
    csv::Reader::from_reader(ENVELOPES_CSV.as_bytes())
        .deserialize()
        .collect::<Result<_, _>>()
        .map_err(|e| FundingError::InvalidSeed(e.to_string()))
}

/// The seeded rules, parsed (also used by tests to compare quotes with the seed file itself).
pub fn seed_rules() -> Result<Vec<NewRule>, FundingError> {
    let rows: Vec<RuleRow> = csv::Reader::from_reader(RULES_CSV.as_bytes())
        .deserialize()
        .collect::<Result<_, _>>()
        .map_err(|e| FundingError::InvalidSeed(e.to_string()))?;
    rows.into_iter()
        .map(|r| {
            Ok(NewRule {
                host_kind: HostKind::parse(&r.host_kind).ok_or_else(|| {
                    FundingError::InvalidSeed(format!("host kind {:?}", r.host_kind))
                })?,
                department: match r.department.trim() {
                    "" => None,
                    d => Some(
                        DepartmentCode::parse(d)
                            .map_err(|e| FundingError::InvalidSeed(e.to_string()))?,
                    ),
                },
                amount_per_post: money(&r.amount_per_post)?,
                training: money(&r.training)?,
                kit: money(&r.kit)?,
                certification: money(&r.certification)?,
                valid_from: date(&r.valid_from)?,
                valid_to: match r.valid_to.trim() {
                    "" => None,
                    d => Some(date(d)?),
                },
                salary: salary_share(&r)?,
                source: r.source,
            })
        })
        .collect()
}

/// Inserts the envelopes and rules that are missing, in one transaction. Called at every start.
pub async fn seed_reference_data(
    db: &DatabaseConnection,
) -> Result<FundingSeedReport, FundingError> {
    let envelopes = envelope_rows()?;
    let rules = seed_rules()?;
    let salaries = seed_salaries()?;
    let txn = maillage_core::db::begin_write(db).await?;
    let mut report = FundingSeedReport::default();
    let mut ids: HashMap<String, i32> = envelope::Entity::find()
        .all(&txn)
        .await?
        .into_iter()
        .map(|e| (e.code, e.id))
        .collect();
    for row in envelopes {
        let target = target(&row)?;
        if let Some(&id) = ids.get(&row.code) {
            // Envelopes seeded before targets existed get theirs; a target an admin set is left alone.
            if let Some(t) = target {
                envelope::Entity::update_many()
                    .col_expr(envelope::Column::TargetKind, Expr::value(t.kind.as_str()))
                    .col_expr(envelope::Column::TargetCount, Expr::value(t.count))
                    .filter(envelope::Column::Id.eq(id))
                    .filter(envelope::Column::TargetKind.is_null())
                    .exec(&txn)
                    .await?;
            }
            continue;
        }
        let parent_id = match row.parent_code.trim() {
            "" => None,
            p => Some(*ids.get(p).ok_or_else(|| {
                FundingError::InvalidSeed(format!("envelope {} names unknown parent {p}", row.code))
            })?),
        };
        let m = insert_envelope(
            &txn,
            &NewEnvelope {
                parent_id,
                code: row.code.clone(),
                name: row.name,
                amount: money(&row.amount_euros)?,
                source: Some(row.source).filter(|s| !s.trim().is_empty()),
                target,
            },
        )
        .await?;
        ids.insert(row.code, m.id);
        report.envelopes += 1;
    }
    for new in rules {
        let mut q = rule::Entity::find()
            .filter(rule::Column::HostKind.eq(new.host_kind.as_str()))
            .filter(rule::Column::ValidFrom.eq(new.valid_from))
            .filter(rule::Column::Source.eq(new.source.trim()));
        q = match &new.department {
            Some(d) => q.filter(rule::Column::DepartmentCode.eq(d.as_str())),
            None => q.filter(rule::Column::DepartmentCode.is_null()),
        };
        if q.one(&txn).await?.is_some() {
            continue;
        }
        active_model(&new).insert(&txn).await?;
        report.rules += 1;
    }
    for value in salaries {
        let exists = reference_salary::Entity::find()
            .filter(reference_salary::Column::Code.eq(value.code.as_str()))
            .filter(reference_salary::Column::ValidFrom.eq(value.valid_from))
            .one(&txn)
            .await?
            .is_some();
        if exists {
            continue;
        }
        reference_salary::ActiveModel {
            code: Set(value.code),
            valid_from: Set(value.valid_from),
            monthly_cents: Set(value.monthly.cents()),
            source: Set(value.source),
            created_at: Set(chrono::Utc::now()),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        report.salaries += 1;
    }
    txn.commit().await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_files_parse() {
        assert!(envelope_rows().is_ok_and(|r| r.len() == 12));
        assert!(seed_rules().is_ok_and(|r| r.len() == 13));
        assert!(seed_salaries().is_ok_and(|r| r.len() == 10));
    }
}
