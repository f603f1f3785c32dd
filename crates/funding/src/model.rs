//! The funding domain's values, as the services return them.

use crate::money::Money;
use chrono::{DateTime, NaiveDate, Utc};
use maillage_core::{DepartmentCode, HubId, RegionCode, SiteId};

macro_rules! str_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, for documentation, parsing and exhaustive tests.
            pub const ALL: &'static [$name] = &[$(Self::$variant),+];

            /// The stable name stored in the database and used in CSV seeds.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// Parses the stable name (case-insensitive, `-` accepted for `_`).
            pub fn parse(raw: &str) -> Option<Self> {
                let wanted = raw.trim().to_ascii_lowercase().replace('-', "_");
                Self::ALL.iter().copied().find(|v| v.as_str() == wanted)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

str_enum!(
    /// Whether a host structure is a collectivité (public) or a private non-profit / ESS structure: the grant per
    /// post depends on it.
    HostKind {
        /// Collectivités territoriales and other public bodies.
        Public => "public",
        /// Associations, ESS and other private non-profit structures.
        Private => "private",
    }
);

str_enum!(
    /// Who receives a grant. The beneficiary itself lives in another domain (a counsellors' host structure, a hub,
    /// a collectivité): funding only keeps an opaque reference to it, so domains never depend on each other.
    BeneficiaryKind {
        /// A counsellors' host structure (structure d'accueil), referenced by the counsellors domain's id or SIRET.
        HostStructure => "host_structure",
        /// A hub territorial.
        Hub => "hub",
        /// A collectivité (Pass numérique, reception modules).
        Collectivite => "collectivite",
        /// An AMI dossier selected by the BdT (its laureate hub is the grant's hub).
        AmiDossier => "ami_dossier",
    }
);

str_enum!(
    /// How a rule computes the grant per post.
    RuleScheme {
        /// A fixed amount per post.
        Fixed => "fixed",
        /// A share of a dated reference salary (the SMIC) over a number of years.
        SalaryShare => "salary_share",
    }
);

str_enum!(
    /// What an envelope's target counts.
    TargetKind {
        /// Funded posts (the posts of the committing grants).
        Posts => "posts",
        /// Counsellors (one per funded post).
        Counsellors => "counsellors",
        /// Collectivités (committing Pass numérique programmes and collectivité grants).
        Collectivites => "collectivites",
    }
);

/// What an envelope is meant to fund, beside its amount (e.g. 285 counsellors for 11.4 M€).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// What is counted.
    pub kind: TargetKind,
    /// How many are targeted.
    pub count: i64,
}

/// The salary-based part of a rule: `share_pct` % of the reference salary over `years` years, per post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalaryShare {
    /// The reference salary's code (`SMIC`).
    pub reference: String,
    /// The share paid, in percent (100, 70).
    pub share_pct: i32,
    /// The contract's length in years (2, 3): the rule applies to contracts of that length.
    pub years: i32,
}

/// A dated value of a reference salary (the monthly gross SMIC in force from a date).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceSalary {
    /// Its code (`SMIC`).
    pub code: String,
    /// First day it applies (it applies until the next value of the same code).
    pub valid_from: NaiveDate,
    /// The monthly gross amount.
    pub monthly: Money,
    /// The legal text that set it.
    pub source: String,
}

str_enum!(
    /// Where a grant (convention) stands. Only signed and closed grants commit money in their envelope.
    GrantStatus {
        /// Being prepared: commits nothing, may be signed or cancelled.
        Draft => "draft",
        /// Signed: commits its amount; may receive disbursements.
        Signed => "signed",
        /// Finished: still commits its amount (the money was engaged), no further payments.
        Closed => "closed",
        /// Abandoned: commits nothing.
        Cancelled => "cancelled",
    }
);

impl GrantStatus {
    /// Whether a grant in this state counts in its envelope's committed amount.
    pub fn commits(self) -> bool {
        matches!(self, Self::Signed | Self::Closed)
    }
}

/// A programme line: an amount, possibly within a wider line.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Its id.
    pub id: i32,
    /// The wider line it belongs to, if any.
    pub parent_id: Option<i32>,
    /// A stable code (e.g. `FR-CNFS`), the key of the seed data.
    pub code: String,
    /// Display name.
    pub name: String,
    /// The amount available.
    pub amount: Money,
    /// Where the amount comes from (press release, decree…).
    pub source: Option<String>,
    /// What it is meant to fund, if stated.
    pub target: Option<Target>,
    /// Optimistic version.
    pub version: i32,
    /// When Maillage last wrote it (server clock), for incremental sync.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// A funding rule: for a host kind (and, optionally, one department), the grant per post and the per-counsellor
/// extras, valid over a period. Rules are data because the sources disagree and change over time.
#[derive(Debug, Clone, PartialEq)]
pub struct FundingRule {
    /// Its id.
    pub id: i32,
    /// Public or private host.
    pub host_kind: HostKind,
    /// The department it is specific to; `None` applies everywhere no specific rule exists.
    pub department: Option<DepartmentCode>,
    /// Grant per funded post.
    pub amount_per_post: Money,
    /// Training per counsellor.
    pub training: Money,
    /// Equipment kit per counsellor.
    pub kit: Money,
    /// Certification per counsellor.
    pub certification: Money,
    /// First day the rule applies.
    pub valid_from: NaiveDate,
    /// Last day the rule applies (inclusive); `None`: still valid.
    pub valid_to: Option<NaiveDate>,
    /// Where the figures come from.
    pub source: String,
    /// How the grant per post is computed.
    pub scheme: RuleScheme,
    /// For a salary-based rule, the share, reference and years (`amount_per_post` is then unused).
    pub salary: Option<SalaryShare>,
    /// Optimistic version.
    pub version: i32,
}

/// One line of a quote's computation.
#[derive(Debug, Clone, PartialEq)]
pub struct QuoteLine {
    /// What the line is (`grant per post`, `training`, …).
    pub label: String,
    /// Amount per post.
    pub unit: Money,
    /// Number of posts.
    pub posts: i32,
    /// `unit × posts`.
    pub total: Money,
    /// How the unit was obtained, for a human (`1 554,58 € × 12 months × 2 years × 100 %`).
    pub detail: String,
}

/// What a host would receive for some posts on a date, and how that was computed.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantQuote {
    /// The rule applied.
    pub rule: FundingRule,
    /// The computation, one line per component.
    pub lines: Vec<QuoteLine>,
    /// The sum of the lines.
    pub total: Money,
}

/// A grant (convention): money of an envelope for a beneficiary.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// Its id.
    pub id: i32,
    /// The envelope it draws on.
    pub envelope_id: i32,
    /// What kind of beneficiary.
    pub beneficiary_kind: BeneficiaryKind,
    /// The beneficiary's id in its own domain (opaque here: a host structure id or SIRET, a hub id…).
    pub beneficiary_ref: String,
    /// The beneficiary's public name (a structure, not a person).
    pub beneficiary_name: String,
    /// A contact (person's name, e-mail or phone): personal data, shown only to those who may read it.
    pub contact: Option<String>,
    /// The hub concerned, for the per-hub drill-down.
    pub hub: Option<HubId>,
    /// The department concerned.
    pub department: Option<DepartmentCode>,
    /// Its region, fixed when the grant is written so that drill-downs need no join.
    pub region: Option<RegionCode>,
    /// The amount granted.
    pub amount: Money,
    /// Posts paid for (0 when not a counsellors' grant).
    pub posts: i32,
    /// First day of the convention.
    pub starts_on: NaiveDate,
    /// Last day of the convention.
    pub ends_on: Option<NaiveDate>,
    /// Where it stands.
    pub status: GrantStatus,
    /// When it was signed (the moment it was recorded as signed).
    pub signed_at: Option<DateTime<Utc>>,
    /// The host's kind, for a host-structure grant (from the verified beneficiary).
    pub host_kind: Option<HostKind>,
    /// The counsellors domain's post request (conventionnement) it pays for.
    pub funded_posts_ref: Option<String>,
    /// The rule its amount was checked against.
    pub rule_id: Option<i32>,
    /// The contract's length in years, for a salary-based rule.
    pub contract_years: Option<i32>,
    /// The amount the rule gives; differs from `amount` only with an `override_reason`.
    pub expected_amount: Option<Money>,
    /// Why the amount differs from the rule's computation (audited).
    pub override_reason: Option<String>,
    /// The date of the funding decision (the rule in force that day applies).
    pub decision_date: Option<NaiveDate>,
    /// The date of signature: the month its amount is committed in.
    pub signed_on: Option<NaiveDate>,
    /// The date it was closed.
    pub closed_on: Option<NaiveDate>,
    /// Optimistic version.
    pub version: i32,
    /// When Maillage last wrote it (server clock), for incremental sync.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// A payment made under a grant.
#[derive(Debug, Clone, PartialEq)]
pub struct Disbursement {
    /// Its id.
    pub id: i32,
    /// The grant paid.
    pub grant_id: i32,
    /// The amount paid.
    pub amount: Money,
    /// The payment date.
    pub paid_on: NaiveDate,
    /// The accounting reference (never bank details: Maillage stores none).
    pub reference: Option<String>,
}

/// A Pass numérique programme of one collectivité.
#[derive(Debug, Clone, PartialEq)]
pub struct PassProgramme {
    /// Its id.
    pub id: i32,
    /// The collectivité's name.
    pub collectivite: String,
    /// Its department.
    pub department: Option<DepartmentCode>,
    /// The programme's amount.
    pub amount: Money,
    /// Vouchers handed out.
    pub vouchers_issued: i64,
    /// Vouchers used in a site.
    pub vouchers_used: i64,
    /// Sites accepting the vouchers.
    pub sites: Vec<SiteId>,
    /// The envelope its amount is committed in (the PASS envelope or one of its lines).
    pub envelope_id: Option<i32>,
    /// The date its convention was signed: the month its amount is committed in.
    pub signed_on: Option<NaiveDate>,
    /// Optimistic version.
    pub version: i32,
}

/// Vouchers issued and used on one day by a Pass numérique programme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoucherMovement {
    /// Its id.
    pub id: i32,
    /// The programme.
    pub programme_id: i32,
    /// Vouchers handed out that day (negative for a correction).
    pub issued: i64,
    /// Vouchers used that day (negative for a correction).
    pub used: i64,
    /// The day.
    pub moved_on: NaiveDate,
}

/// Where the money of an envelope (and its children) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Consumption {
    /// The envelope's amount.
    pub amount: Money,
    /// Signed and closed grants.
    pub committed: Money,
    /// Payments made under those grants.
    pub disbursed: Money,
    /// The envelope's target, if it has one.
    pub target: Option<Target>,
    /// What the committing grants and programmes achieve toward the target (posts, counsellors or collectivités);
    /// 0 without a target.
    pub achieved: i64,
}

/// One month of an envelope's consumption: what was committed (by signature date) and paid (by payment date) that
/// month, and the running totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthConsumption {
    /// The month's first day.
    pub month: NaiveDate,
    /// Committed that month.
    pub committed: Money,
    /// Paid that month.
    pub disbursed: Money,
    /// Committed up to the end of that month.
    pub committed_to_date: Money,
    /// Paid up to the end of that month.
    pub disbursed_to_date: Money,
}

impl Consumption {
    /// What may still be committed.
    pub fn remaining(&self) -> Money {
        self.amount - self.committed
    }
}

/// The axis of a drill-down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrillDown {
    /// Per hub (grants without a hub form one `None` part).
    Hub,
    /// Per department (grants without a department form one `None` part).
    Department,
    /// Per region.
    Region,
}

/// One part of a drill-down: the committed and disbursed amounts of the grants in one hub, department or region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumptionPart {
    /// The hub id, department code or region code; `None` for the grants that have none.
    pub key: Option<String>,
    /// For a department, its region, so that regions can be checked against their departments.
    pub region: Option<String>,
    /// Signed and closed grants.
    pub committed: Money,
    /// Payments made.
    pub disbursed: Money,
    /// Number of committing grants (and Pass numérique programmes).
    pub grants: i64,
}
