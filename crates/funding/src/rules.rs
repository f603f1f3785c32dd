//! Funding rules as data, and the quote that applies them.

use crate::FundingError;
use crate::access::require_admin;
use crate::entity::{reference_salary, rule};
use crate::model::{
    FundingRule, GrantQuote, HostKind, QuoteLine, ReferenceSalary, RuleScheme, SalaryShare,
};
use crate::money::Money;
use chrono::{NaiveDate, Utc};
use maillage_access::{AuditChanges, AuditEntry, record};
use maillage_core::Code;
use maillage_core::error::FieldPath;
use maillage_core::{Actor, DepartmentCode};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set,
};

pub(crate) fn from_model(m: rule::Model) -> Result<FundingRule, FundingError> {
    let corrupt = |detail: String| FundingError::CorruptRow {
        entity: "funding_rule",
        id: m.id,
        detail,
    };
    let host_kind = HostKind::parse(&m.host_kind)
        .ok_or_else(|| corrupt(format!("host kind {:?}", m.host_kind)))?;
    let department = match m.department_code.as_deref() {
        Some(d) => Some(DepartmentCode::parse(d).map_err(|e| corrupt(e.to_string()))?),
        None => None,
    };
    let scheme =
        RuleScheme::parse(&m.scheme).ok_or_else(|| corrupt(format!("scheme {:?}", m.scheme)))?;
    let salary = match (
        scheme,
        m.salary_reference,
        m.salary_share_pct,
        m.salary_years,
    ) {
        (RuleScheme::Fixed, ..) => None,
        (RuleScheme::SalaryShare, Some(reference), Some(share_pct), Some(years)) => {
            Some(SalaryShare {
                reference,
                share_pct,
                years,
            })
        }
        (RuleScheme::SalaryShare, ..) => {
            return Err(corrupt(
                "a salary-based rule without reference, share or years".to_owned(),
            ));
        }
    };
    Ok(FundingRule {
        id: m.id,
        host_kind,
        department,
        amount_per_post: Money(m.amount_per_post_cents),
        training: Money(m.training_cents),
        kit: Money(m.kit_cents),
        certification: Money(m.certification_cents),
        valid_from: m.valid_from,
        valid_to: m.valid_to,
        source: m.source,
        scheme,
        salary,
        version: m.version,
    })
}

/// Every dated value of the reference salaries, by code then date.
pub async fn list_reference_salaries<C: ConnectionTrait>(
    db: &C,
) -> Result<Vec<ReferenceSalary>, FundingError> {
    Ok(reference_salary::Entity::find()
        .order_by_asc(reference_salary::Column::Code)
        .order_by_asc(reference_salary::Column::ValidFrom)
        .all(db)
        .await?
        .into_iter()
        .map(|m| ReferenceSalary {
            code: m.code,
            valid_from: m.valid_from,
            monthly: Money(m.monthly_cents),
            source: m.source,
        })
        .collect())
}

/// The value of reference salary `code` in force on `date`: the latest one starting on or before it.
pub fn salary_on<'a>(
    salaries: &'a [ReferenceSalary],
    code: &str,
    date: NaiveDate,
) -> Option<&'a ReferenceSalary> {
    salaries
        .iter()
        .filter(|s| s.code == code && s.valid_from <= date)
        .max_by_key(|s| s.valid_from)
}

/// Every rule, ordered by host kind, department (general rules first) and start date.
pub async fn list_rules<C: ConnectionTrait>(db: &C) -> Result<Vec<FundingRule>, FundingError> {
    let mut rules = rule::Entity::find()
        .order_by_asc(rule::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(from_model)
        .collect::<Result<Vec<_>, _>>()?;
    rules.sort_by(|a, b| {
        (a.host_kind, &a.department, a.valid_from, a.id).cmp(&(
            b.host_kind,
            &b.department,
            b.valid_from,
            b.id,
        ))
    });
    Ok(rules)
}

impl FundingRule {
    /// Whether the rule is in force on `date` (both bounds inclusive).
    pub fn valid_on(&self, date: NaiveDate) -> bool {
        self.valid_from <= date && self.valid_to.is_none_or(|to| date <= to)
    }

    /// The rule as a human names it in an error or a quote: id, host kind, territory, period, scheme and source.
    pub fn describe(&self) -> String {
        let territory = self.department.as_ref().map_or_else(
            || "all departments".to_owned(),
            |d| format!("department {d}"),
        );
        let period = match self.valid_to {
            Some(to) => format!("{} to {to}", self.valid_from),
            None => format!("from {}", self.valid_from),
        };
        let scheme = match &self.salary {
            Some(s) => format!(
                "{} % of the {} over {} years",
                s.share_pct, s.reference, s.years
            ),
            None => format!("{} per post", self.amount_per_post),
        };
        format!(
            "rule {} ({} host, {territory}, {period}, {scheme}; {})",
            self.id, self.host_kind, self.source
        )
    }
}

/// The rule that applies to a host of `kind` in `department` on `date`: a rule specific to the department wins
/// over a general one; among equals, the one that started last (a newer source supersedes an older one).
///
/// Without `contract_years` only fixed-amount rules are candidates; with it, only the salary-based rules for
/// contracts of that many years (100 % of the SMIC over 2 years, 70 % over 3).
pub fn applicable_rule<'a>(
    rules: &'a [FundingRule],
    kind: HostKind,
    department: Option<&DepartmentCode>,
    date: NaiveDate,
    contract_years: Option<i32>,
) -> Option<&'a FundingRule> {
    rules
        .iter()
        .filter(|r| r.host_kind == kind && r.valid_on(date))
        .filter(|r| match (contract_years, &r.salary) {
            (None, None) => true,
            (Some(y), Some(s)) => s.years == y,
            _ => false,
        })
        .filter(|r| r.department.is_none() || r.department.as_ref() == department)
        .max_by_key(|r| (r.department.is_some(), r.valid_from, r.id))
}

/// What a host of `kind` in `department` would receive for `posts` funded posts on `date`, line by line, under the
/// fixed-amount rules, or under the salary-based rule for a contract of `contract_years` years if given.
pub async fn grant_quote<C: ConnectionTrait>(
    db: &C,
    kind: HostKind,
    department: Option<&DepartmentCode>,
    posts: i32,
    date: NaiveDate,
    contract_years: Option<i32>,
) -> Result<GrantQuote, FundingError> {
    if !(1..=10_000).contains(&posts) {
        return Err(FundingError::invalid(
            FieldPath::new("posts"),
            Code::InvalidValue,
            "posts must be between 1 and 10000",
        ));
    }
    let rules = list_rules(db).await?;
    let salaries = list_reference_salaries(db).await?;
    quote_from(
        &rules,
        &salaries,
        kind,
        department,
        posts,
        date,
        contract_years,
    )
}

/// [`grant_quote`] on rules and salaries already read (no database).
pub fn quote_from(
    rules: &[FundingRule],
    salaries: &[ReferenceSalary],
    kind: HostKind,
    department: Option<&DepartmentCode>,
    posts: i32,
    date: NaiveDate,
    contract_years: Option<i32>,
) -> Result<GrantQuote, FundingError> {
    let rule = applicable_rule(rules, kind, department, date, contract_years)
        .cloned()
        .ok_or_else(|| {
            FundingError::invalid(
                FieldPath::new("date"),
                Code::NoRule,
                format!(
                    "no {} funding rule for a {kind} host in {} on {date}",
                    contract_years.map_or_else(
                        || "fixed-amount".to_owned(),
                        |y| format!("salary-based ({y}-year contract)")
                    ),
                    department.map_or("(no department)", DepartmentCode::as_str)
                ),
            )
        })?;
    let salary = match &rule.salary {
        Some(s) => Some(
            salary_on(salaries, &s.reference, date)
                .cloned()
                .ok_or_else(|| {
                    FundingError::invalid(
                        FieldPath::new("date"),
                        Code::NoRule,
                        format!("no value of the {} in force on {date}", s.reference),
                    )
                })?,
        ),
        None => None,
    };
    quote_with(rule, posts, salary.as_ref())
}

/// The grant per post of a salary-based rule: `share` % of the monthly salary × 12 months × `years`, rounded to the
/// nearest cent (half up), with the computation spelled out.
pub fn salary_per_post(share: &SalaryShare, salary: &ReferenceSalary) -> Option<(Money, String)> {
    let months = 12_i64.checked_mul(i64::from(share.years))?;
    let hundredths = salary
        .monthly
        .cents()
        .checked_mul(months)?
        .checked_mul(i64::from(share.share_pct))?;
    let cents = hundredths.checked_add(50)?.div_euclid(100);
    let detail = format!(
        "{} {} monthly (in force from {}) × 12 months × {} years × {} %",
        salary.code, salary.monthly, salary.valid_from, share.years, share.share_pct
    );
    Some((Money(cents), detail))
}

/// Applies one rule to a number of posts (no database: the computation itself, testable alone). A salary-based rule
/// needs the value of its reference salary in force on the quote's date.
pub fn quote_with(
    rule: FundingRule,
    posts: i32,
    salary: Option<&ReferenceSalary>,
) -> Result<GrantQuote, FundingError> {
    let overflow = || {
        FundingError::invalid(
            FieldPath::new("posts"),
            Code::InvalidValue,
            "amount too large",
        )
    };
    let per_post = match (&rule.salary, salary) {
        (Some(share), Some(value)) => {
            let (unit, detail) = salary_per_post(share, value).ok_or_else(overflow)?;
            ("salary share per post", unit, detail)
        }
        (Some(share), None) => {
            return Err(FundingError::invalid(
                FieldPath::new("date"),
                Code::NoRule,
                format!(
                    "no value of the {} for {}",
                    share.reference,
                    rule.describe()
                ),
            ));
        }
        (None, _) => (
            "grant per post",
            rule.amount_per_post,
            format!("{} per post", rule.amount_per_post),
        ),
    };
    let components = [
        per_post,
        (
            "training",
            rule.training,
            format!("{} per counsellor", rule.training),
        ),
        (
            "equipment kit",
            rule.kit,
            format!("{} per counsellor", rule.kit),
        ),
        (
            "certification",
            rule.certification,
            format!("{} per counsellor", rule.certification),
        ),
    ];
    let mut lines = Vec::new();
    let mut total = Money::ZERO;
    for (label, unit, detail) in components {
        if unit == Money::ZERO {
            continue;
        }
        let line_total = unit.checked_mul(i64::from(posts)).ok_or_else(overflow)?;
        total = total.checked_add(line_total).ok_or_else(overflow)?;
        lines.push(QuoteLine {
            label: label.to_owned(),
            unit,
            posts,
            total: line_total,
            detail: format!("{detail} × {posts} = {line_total}"),
        });
    }
    Ok(GrantQuote { rule, lines, total })
}

/// A new funding rule.
#[derive(Debug, Clone)]
pub struct NewRule {
    /// Public or private host.
    pub host_kind: HostKind,
    /// The department it is specific to, or all.
    pub department: Option<DepartmentCode>,
    /// Grant per post.
    pub amount_per_post: Money,
    /// Training per counsellor.
    pub training: Money,
    /// Kit per counsellor.
    pub kit: Money,
    /// Certification per counsellor.
    pub certification: Money,
    /// First day.
    pub valid_from: NaiveDate,
    /// Last day (inclusive), or open.
    pub valid_to: Option<NaiveDate>,
    /// Where the figures come from.
    pub source: String,
    /// For a salary-based rule, its share, reference and years; `None`: a fixed amount per post.
    pub salary: Option<SalaryShare>,
}

fn check_rule(new: &NewRule) -> Result<(), FundingError> {
    for (field, amount) in [
        ("amountPerPost", new.amount_per_post),
        ("training", new.training),
        ("kit", new.kit),
        ("certification", new.certification),
    ] {
        if amount < Money::ZERO {
            return Err(FundingError::invalid(
                FieldPath::new("input").push(field),
                Code::InvalidValue,
                "amounts cannot be negative",
            ));
        }
    }
    if new.valid_to.is_some_and(|to| to < new.valid_from) {
        return Err(FundingError::invalid(
            FieldPath::new("input").push("validTo"),
            Code::InvalidValue,
            "validTo must not be before validFrom",
        ));
    }
    if let Some(s) = &new.salary {
        if !(1..=100).contains(&s.share_pct) || !(1..=10).contains(&s.years) {
            return Err(FundingError::invalid(
                FieldPath::new("input").push("salary"),
                Code::InvalidValue,
                "a salary share is 1 to 100 % over 1 to 10 years",
            ));
        }
        if s.reference.trim().is_empty() {
            return Err(FundingError::invalid(
                FieldPath::new("input").push("salary").push("reference"),
                Code::InvalidValue,
                "a salary-based rule names its reference salary (SMIC)",
            ));
        }
    }
    if new.source.trim().is_empty() {
        return Err(FundingError::invalid(
            FieldPath::new("input").push("source"),
            Code::InvalidValue,
            "a rule must name its source",
        ));
    }
    Ok(())
}

pub(crate) fn active_model(new: &NewRule) -> rule::ActiveModel {
    let now = Utc::now();
    rule::ActiveModel {
        host_kind: Set(new.host_kind.as_str().to_owned()),
        department_code: Set(new.department.as_ref().map(|d| d.as_str().to_owned())),
        amount_per_post_cents: Set(new.amount_per_post.cents()),
        training_cents: Set(new.training.cents()),
        kit_cents: Set(new.kit.cents()),
        certification_cents: Set(new.certification.cents()),
        valid_from: Set(new.valid_from),
        valid_to: Set(new.valid_to),
        source: Set(new.source.trim().to_owned()),
        scheme: Set(if new.salary.is_some() {
            RuleScheme::SalaryShare
        } else {
            RuleScheme::Fixed
        }
        .as_str()
        .to_owned()),
        salary_reference: Set(new.salary.as_ref().map(|s| s.reference.trim().to_owned())),
        salary_share_pct: Set(new.salary.as_ref().map(|s| s.share_pct)),
        salary_years: Set(new.salary.as_ref().map(|s| s.years)),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

fn audit_rule(c: &mut AuditChanges, before: Option<&FundingRule>, after: &NewRule) {
    macro_rules! field {
        ($name:literal, $get:expr, $get_new:expr) => {{
            let after_v = $get_new(after);
            match before {
                Some(b) => c.changed($name, &$get(b), &after_v),
                None => c.created($name, &after_v),
            }
        }};
    }
    field!(
        "host_kind",
        |r: &FundingRule| r.host_kind.as_str().to_owned(),
        |n: &NewRule| n.host_kind.as_str().to_owned()
    );
    field!(
        "department_code",
        |r: &FundingRule| r.department.clone(),
        |n: &NewRule| n.department.clone()
    );
    field!(
        "amount_per_post_cents",
        |r: &FundingRule| r.amount_per_post.cents(),
        |n: &NewRule| n.amount_per_post.cents()
    );
    field!(
        "training_cents",
        |r: &FundingRule| r.training.cents(),
        |n: &NewRule| n.training.cents()
    );
    field!(
        "kit_cents",
        |r: &FundingRule| r.kit.cents(),
        |n: &NewRule| n.kit.cents()
    );
    field!(
        "certification_cents",
        |r: &FundingRule| r.certification.cents(),
        |n: &NewRule| n.certification.cents()
    );
    field!(
        "valid_from",
        |r: &FundingRule| r.valid_from.to_string(),
        |n: &NewRule| n.valid_from.to_string()
    );
    field!(
        "valid_to",
        |r: &FundingRule| r.valid_to.map(|d| d.to_string()),
        |n: &NewRule| n.valid_to.map(|d| d.to_string())
    );
    field!(
        "source",
        |r: &FundingRule| r.source.clone(),
        |n: &NewRule| n.source.clone()
    );
    field!(
        "salary",
        |r: &FundingRule| r
            .salary
            .as_ref()
            .map(|s| format!("{} % {} × {} years", s.share_pct, s.reference, s.years)),
        |n: &NewRule| n
            .salary
            .as_ref()
            .map(|s| format!("{} % {} × {} years", s.share_pct, s.reference, s.years))
    );
}

/// Adds a rule (admins). Rules are never deleted: a superseded rule gets a `validTo`, so past quotes stay
/// explainable.
#[tracing::instrument(skip_all)]
pub async fn create_rule(
    db: &DatabaseConnection,
    actor: &Actor,
    new: NewRule,
) -> Result<FundingRule, FundingError> {
    require_admin(actor)?;
    check_rule(&new)?;
    let txn = maillage_core::db::begin_write(db).await?;
    let m = active_model(&new).insert(&txn).await?;
    let mut changes = AuditChanges::new();
    audit_rule(&mut changes, None, &new);
    changes.note("via", "api");
    record(
        &txn,
        actor,
        AuditEntry::new("funding_rule", m.id.to_string(), "create", changes)
            .department(new.department.clone()),
    )
    .await?;
    txn.commit().await?;
    from_model(m)
}

/// Replaces a rule's values at `version` (admins): typically to close it with a `validTo`.
#[tracing::instrument(skip_all, fields(rule.id = %id))]
pub async fn update_rule(
    db: &DatabaseConnection,
    actor: &Actor,
    id: i32,
    version: i32,
    new: NewRule,
) -> Result<FundingRule, FundingError> {
    require_admin(actor)?;
    check_rule(&new)?;
    let txn = maillage_core::db::begin_write(db).await?;
    let old = rule::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(FundingError::NotFound {
            entity: "funding_rule",
            id,
        })
        .and_then(from_model)?;
    if old.version != version {
        return Err(FundingError::StaleVersion {
            entity: "funding_rule",
            id,
            expected: version,
            actual: old.version,
        });
    }
    let mut model = active_model(&new);
    model.created_at = sea_orm::ActiveValue::NotSet;
    model.version = sea_orm::ActiveValue::NotSet;
    let updated = rule::Entity::update_many()
        .set(model)
        // The database adds one to the stored version (the caller's, by the filter): no arithmetic on a version a
        // client sent, which may be `i32::MAX`.
        .col_expr(
            rule::Column::Version,
            Expr::col(rule::Column::Version).add(1),
        )
        .filter(rule::Column::Id.eq(id))
        .filter(rule::Column::Version.eq(version))
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(FundingError::raced::<rule::Entity, _>(
            &txn,
            "funding_rule",
            (rule::Column::Id, rule::Column::Version),
            id,
            version,
        )
        .await?);
    }
    let mut changes = AuditChanges::new();
    audit_rule(&mut changes, Some(&old), &new);
    changes.note("via", "api");
    record(
        &txn,
        actor,
        AuditEntry::new("funding_rule", id.to_string(), "update", changes)
            .department(new.department.clone()),
    )
    .await?;
    let m = rule::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(FundingError::NotFound {
            entity: "funding_rule",
            id,
        })?;
    txn.commit().await?;
    from_model(m)
}
