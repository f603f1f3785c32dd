//! The public domain types: host structures, funded posts, counsellors and their assignments.
//!
//! Every stored code (kind, status, decision, contract) goes through one enum with a frozen key, so a value of these
//! types is always valid; a row edited by hand to an unknown code is reported as corrupt, not spread.

use chrono::{DateTime, NaiveDate, Utc};
use maillage_core::{Actor, DepartmentCode, Email, PostalCode, Siret, SiteId};
use std::fmt;

macro_rules! keyed_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $key:literal $(| $alias:literal)*),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in display order.
            pub const ALL: &'static [$name] = &[$(Self::$variant),+];

            /// The key stored in the database and written in CSV files; frozen, since rows carry it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $key),+
                }
            }

            /// Parses a key (case and accents as in the CSV documentation; `-` and spaces read as `_`).
            pub fn parse(raw: &str) -> Option<Self> {
                let wanted = maillage_core::text::fold(raw.trim()).replace(['-', ' '], "_");
                match wanted.as_str() {
                    $($key $(| $alias)* => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

keyed_enum!(
    /// The legal kind of a host structure; it decides whether the host is public or private for funding.
    StructureKind {
        /// A commune.
        Commune => "commune",
        /// An EPCI (inter-municipal body).
        Epci => "epci",
        /// A département (the collectivité).
        Departement => "departement",
        /// A région (the collectivité).
        Region => "region",
        /// Another collectivité territoriale (collectivité à statut particulier, syndicat mixte…).
        OtherCollectivity => "other_collectivity" | "autre_collectivite",
        /// A groupement d'intérêt public.
        Gip => "gip",
        /// An association.
        Association => "association",
        /// Another private non-profit or ESS structure.
        OtherPrivate => "other_private" | "autre_privee" | "ess",
    }
);

keyed_enum!(
    /// Public or private host: the funding domain's grant rules depend on it (50 000 € vs 40 000 € per post in
    /// the 2020 figures).
    FundingKind {
        /// Collectivités and public bodies.
        Public => "public",
        /// Associations and other private non-profit / ESS structures.
        Private => "private" | "prive",
    }
);

impl StructureKind {
    /// The funding kind, derived rather than stored so it can never contradict the kind.
    pub fn funding_kind(self) -> FundingKind {
        match self {
            Self::Commune
            | Self::Epci
            | Self::Departement
            | Self::Region
            | Self::OtherCollectivity
            | Self::Gip => FundingKind::Public,
            Self::Association | Self::OtherPrivate => FundingKind::Private,
        }
    }
}

keyed_enum!(
    /// The selection committee's decision on a request for posts.
    CommitteeDecision {
        /// Not decided yet.
        Pending => "pending" | "en_attente",
        /// Posts granted (possibly fewer than requested).
        Accepted => "accepted" | "validee" | "accepte",
        /// Refused: no post granted.
        Refused => "refused" | "refusee" | "refuse",
    }
);

keyed_enum!(
    /// Where a counsellor is in the programme.
    CounsellorStatus {
        /// Recruited by the host, not yet in training.
        Recruited => "recruited" | "recrute",
        /// In the initial training.
        InTraining => "in_training" | "en_formation",
        /// Working with the public.
        Active => "active" | "actif",
        /// The contract ended.
        ContractEnded => "contract_ended" | "contrat_termine",
    }
);

keyed_enum!(
    /// The counsellor's employment contract.
    ContractType {
        /// Fixed-term contract.
        Cdd => "cdd",
        /// Permanent contract.
        Cdi => "cdi",
        /// Contrat de projet (public sector, the programme's usual form in collectivités).
        ProjectContract => "project_contract" | "contrat_de_projet",
        /// A civil servant seconded to the role.
        CivilServant => "civil_servant" | "fonctionnaire",
        /// Anything else (apprenticeship, PEC…).
        Other => "other" | "autre",
    }
);

/// A host structure as given by a caller or an import, before it is stored. Its identity is its SIRET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStructure {
    /// SIRET (validated, the identity of the structure).
    pub siret: Siret,
    /// Name.
    pub name: String,
    /// Legal kind.
    pub kind: StructureKind,
    /// Street address.
    pub address: Option<String>,
    /// Postal code.
    pub postal_code: Option<PostalCode>,
    /// Commune.
    pub commune: Option<String>,
    /// Department: decides which hub coordinators may write it and see its counsellors' personal data.
    pub department: DepartmentCode,
    /// Labelled France Services.
    pub france_services: bool,
    /// Located in a zone de revitalisation rurale.
    pub zrr: bool,
    /// Located in (or serving) a quartier prioritaire de la politique de la ville.
    pub qpv: bool,
}

/// A stored host structure.
#[derive(Debug, Clone, PartialEq)]
pub struct Structure {
    /// Maillage's identifier.
    pub id: StructureId,
    /// Optimistic-concurrency version, incremented by every change.
    pub version: i32,
    /// When Maillage first stored it.
    pub created_at: DateTime<Utc>,
    /// When Maillage last changed it.
    pub updated_at: DateTime<Utc>,
    /// The content.
    pub data: NewStructure,
}

impl Structure {
    /// Public or private, from the kind.
    pub fn funding_kind(&self) -> FundingKind {
        self.data.kind.funding_kind()
    }
}

/// A request for posts (conventionnement) and its outcome, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPost {
    /// Whether this is the renewal of a first agreement; a structure has at most one of each.
    pub renewal: bool,
    /// Posts requested.
    pub requested: i32,
    /// Posts granted (0 until accepted).
    pub granted: i32,
    /// The selection committee's decision.
    pub decision: CommitteeDecision,
    /// The committee's date.
    pub committee_date: Option<NaiveDate>,
    /// First day of the funding agreement.
    pub agreement_start: Option<NaiveDate>,
    /// Last day of the funding agreement.
    pub agreement_end: Option<NaiveDate>,
}

/// A stored funded post (conventionnement) of one structure.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    /// Maillage's identifier.
    pub id: PostId,
    /// The host structure.
    pub structure_id: StructureId,
    /// Optimistic-concurrency version.
    pub version: i32,
    /// The content.
    pub data: NewPost,
}

/// What only authorised roles may read of a counsellor: names, e-mails, phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalData {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Professional e-mail (often `prenom.nom@conseiller-numerique.fr`: still personal).
    pub email: Option<Email>,
    /// Personal e-mail.
    pub personal_email: Option<Email>,
    /// Phone.
    pub phone: Option<String>,
}

/// A counsellor as given by a caller or an import, before it is stored. Its identity is its external id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCounsellor {
    /// The id in the source (the national platform's id): the identity across imports.
    pub external_id: String,
    /// The host structure.
    pub structure_id: StructureId,
    /// The post the counsellor fills, if known (must belong to the same structure).
    pub post_id: Option<PostId>,
    /// Personal data.
    pub personal: PersonalData,
    /// Current status.
    pub status: CounsellorStatus,
    /// Recruitment date.
    pub recruited_on: Option<NaiveDate>,
    /// Start of the initial training.
    pub training_started_on: Option<NaiveDate>,
    /// First day of activity with the public.
    pub active_since: Option<NaiveDate>,
    /// End of the contract or of the mission.
    pub ended_on: Option<NaiveDate>,
    /// Contract type.
    pub contract_type: Option<ContractType>,
    /// First day of the contract.
    pub contract_start: Option<NaiveDate>,
    /// Last day of the contract.
    pub contract_end: Option<NaiveDate>,
    /// When the initial training was completed.
    pub training_completed_on: Option<NaiveDate>,
    /// Whether the counsellor holds the PIX certification.
    pub pix_certified: bool,
    /// Share of time (percent) for the host structure's own public; with the site shares, at most 100.
    pub host_share: i32,
    /// Whether this counsellor coordinates others.
    pub is_coordinator: bool,
    /// The counsellor's coordinator (a counsellor with `is_coordinator`).
    pub coordinator_id: Option<CounsellorId>,
}

/// A stored counsellor.
#[derive(Debug, Clone, PartialEq)]
pub struct Counsellor {
    /// Maillage's identifier.
    pub id: CounsellorId,
    /// The department of the host structure: the territory for permissions and statistics.
    pub department: DepartmentCode,
    /// Optimistic-concurrency version; assignments changes bump it too.
    pub version: i32,
    /// When Maillage first stored it.
    pub created_at: DateTime<Utc>,
    /// When Maillage last changed it.
    pub updated_at: DateTime<Utc>,
    /// The content.
    pub data: NewCounsellor,
    /// What the read that made it loaded: every column, or the brief ones with neutral values elsewhere.
    pub parts: CounsellorParts,
}

/// Which parts of a counsellor a read loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CounsellorParts {
    /// Every column.
    #[default]
    Whole,
    /// What identifies and links a counsellor, nothing personal or dated: `id`, `department`, `version`,
    /// `updated_at`, and in `data`: `external_id`, `structure_id`, `post_id`, `status`, `is_coordinator`,
    /// `coordinator_id`. Every other field holds a neutral value, not the counsellor's: `created_at` the Unix epoch,
    /// the personal data empty (names `""`, e-mails and phone `None`), the dates and `contract_type` `None`,
    /// `pix_certified` false, `host_share` 0. For the lists of a site's counsellors whose reader needs nothing else
    /// (the common selection `counsellors { externalId }`): a profile of nested lists (issue #16) put decoding the
    /// whole row's 26 columns at 14 % of the server's CPU.
    Brief,
}

impl CounsellorParts {
    /// Whether every column was read.
    #[must_use]
    pub fn is_whole(self) -> bool {
        self == Self::Whole
    }
}

impl Counsellor {
    /// The personal data, if `actor` may read it (hub coordinator of this department, BdT reviewers, admins).
    pub fn personal_for(&self, actor: &Actor) -> Option<&PersonalData> {
        actor
            .can_read_personal_data(Some(&self.department))
            .then_some(&self.data.personal)
    }
}

/// A counsellor's share of time at one site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment {
    /// The counsellor.
    pub counsellor_id: CounsellorId,
    /// The site (of the sites domain; resolved by the GraphQL layer).
    pub site_id: SiteId,
    /// Percent of the counsellor's time, 1 to 100.
    pub share: i32,
}

macro_rules! int_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i32);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

int_id!(
    /// Identifier of a host structure; local to this domain, so it lives here rather than in core.
    StructureId
);
int_id!(
    /// Identifier of a funded post.
    PostId
);
int_id!(
    /// Identifier of a counsellor.
    CounsellorId
);

/// Counts for one department, public (no personal data): what anonymous callers may read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DepartmentCounts {
    /// Posts granted by accepted committee decisions, first agreements and renewals together.
    pub posts_granted: i64,
    /// Counsellors with status active.
    pub active: i64,
    /// Counsellors in training.
    pub in_training: i64,
    /// Counsellors not ended whose time is not assigned to any site.
    pub without_site: i64,
}

impl DepartmentCounts {
    /// Adds another department's counts (for hubs and regions).
    pub fn add(&mut self, other: &Self) {
        self.posts_granted += other.posts_granted;
        self.active += other.active;
        self.in_training += other.in_training;
        self.without_site += other.without_site;
    }
}
