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
    }
);

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
    /// When it was signed.
    pub signed_at: Option<DateTime<Utc>>,
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
    /// Optimistic version.
    pub version: i32,
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
    /// Number of committing grants.
    pub grants: i64,
}
