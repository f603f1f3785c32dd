//! The input rules of host structures, posts and counsellors, in one place: drafts (what a caller typed) parsed once
//! into the domain's values, and the same rules run again by the write services on what they are asked to store.
//!
//! Every way in (the GraphQL API, the CSV imports, the CLI) builds a draft and converts it with `TryFrom`, which
//! collects **every** broken rule ([`FieldProblems`], paths named as the API names the fields: `name`,
//! `postalCode`, `phone`…). The services call [`NewStructure::checked`], [`NewPost::checked`] and
//! [`NewCounsellor::checked`] before writing, so a caller that builds a value by hand cannot store what a draft
//! would refuse. Each rule is one function of [`rule`], called from both places.

use crate::model::{
    CommitteeDecision, ContractType, CounsellorId, CounsellorStatus, NewCounsellor, NewPost,
    NewStructure, PersonalData, PostId, StructureId, StructureKind,
};
use crate::write::StructurePatch;
use chrono::NaiveDate;
use maillage_core::error::FieldPath;
use maillage_core::{Code, DepartmentCode, Email, FieldProblems, PostalCode, Siret};

/// The rules, one function each; the drafts call them on what was typed, the services on what is to be stored.
/// Each returns the value as stored (trimmed, normalised) or `None` with the problem recorded.
pub mod rule {
    use super::{Code, FieldPath, FieldProblems, NaiveDate, NewPost};
    use crate::model::CommitteeDecision;

    /// Longest structure name.
    pub const STRUCTURE_NAME_MAX: usize = 300;
    /// Longest street address.
    pub const ADDRESS_MAX: usize = 300;
    /// Longest commune name.
    pub const COMMUNE_MAX: usize = 200;
    /// Longest external id (the national platform's id).
    pub const EXTERNAL_ID_MAX: usize = 64;
    /// Longest first or last name.
    pub const PERSON_NAME_MAX: usize = 100;
    /// Most posts one request may ask for.
    pub const POSTS_MAX: i32 = 1000;

    fn at(field: &str) -> FieldPath {
        FieldPath::new(field)
    }

    /// A structure's name: 1 to 300 characters.
    pub fn structure_name(p: &mut FieldProblems, v: &str) -> Option<String> {
        p.text(at("name"), v, STRUCTURE_NAME_MAX)
    }

    /// An optional street address, at most 300 characters; blank is absent.
    pub fn address(p: &mut FieldProblems, v: Option<&str>) -> Option<String> {
        p.opt_text(at("address"), v, ADDRESS_MAX)
    }

    /// An optional commune, at most 200 characters; blank is absent.
    pub fn commune(p: &mut FieldProblems, v: Option<&str>) -> Option<String> {
        p.opt_text(at("commune"), v, COMMUNE_MAX)
    }

    /// The national platform's id: 1 to 64 characters.
    pub fn external_id(p: &mut FieldProblems, v: &str) -> Option<String> {
        p.text(at("externalId"), v, EXTERNAL_ID_MAX)
    }

    /// A first or last name (`field` is `firstName` or `lastName`): 1 to 100 characters.
    pub fn person_name(p: &mut FieldProblems, field: &str, v: &str) -> Option<String> {
        p.text(at(field), v, PERSON_NAME_MAX)
    }

    /// An optional phone, normalised without spaces, dots or dashes: a French number of ten digits starting with 0
    /// (`0478000000`) or an international one (`+` and 8 to 15 digits). Blank is absent.
    pub fn phone(p: &mut FieldProblems, v: Option<&str>) -> Option<String> {
        let raw = v.map(str::trim).filter(|v| !v.is_empty())?;
        let normalised: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && !matches!(c, '.' | '-'))
            .collect();
        let digits = normalised.strip_prefix('+').unwrap_or(&normalised);
        let ok = digits.chars().all(|c| c.is_ascii_digit())
            && if normalised.starts_with('+') {
                (8..=15).contains(&digits.len())
            } else {
                digits.len() == 10 && digits.starts_with('0')
            };
        if ok {
            Some(normalised)
        } else {
            p.push(
                at("phone"),
                Code::InvalidValue,
                format!(
                    "phone must be a French number (0478000000) or in international form (+33478000000), got {raw:?}"
                ),
            );
            None
        }
    }

    /// The host share: a percentage, 0 to 100 (with the site shares, the services check the total).
    pub fn host_share(p: &mut FieldProblems, v: i32) {
        if !(0..=100).contains(&v) {
            p.push(
                at("hostShare"),
                Code::InvalidValue,
                format!("hostShare is a percentage, 0 to 100 (got {v})"),
            );
        }
    }

    /// An end (`field`) is not before its start.
    pub fn ordered(
        p: &mut FieldProblems,
        field: &str,
        start: Option<NaiveDate>,
        end: Option<NaiveDate>,
    ) {
        if let (Some(s), Some(e)) = (start, end)
            && e < s
        {
            p.push(
                at(field),
                Code::InvalidValue,
                format!("{field} ({e}) is before the start ({s})"),
            );
        }
    }

    /// A post's counts, decision and agreement dates: 0 to 1000 requested, 0 to the requested number granted, and
    /// posts granted only by an accepted decision.
    pub fn post(p: &mut FieldProblems, post: &NewPost) {
        if !(0..=POSTS_MAX).contains(&post.requested) {
            p.push(
                at("requested"),
                Code::InvalidValue,
                format!("requested must be between 0 and {POSTS_MAX}"),
            );
        }
        if post.granted < 0 || post.granted > post.requested.max(0) {
            p.push(
                at("granted"),
                Code::InvalidValue,
                format!(
                    "granted must be between 0 and the number requested ({})",
                    post.requested
                ),
            );
        } else if post.decision != CommitteeDecision::Accepted && post.granted != 0 {
            p.push(
                at("granted"),
                Code::InvalidValue,
                "posts are granted only by an accepted committee decision",
            );
        }
        ordered(p, "agreementEnd", post.agreement_start, post.agreement_end);
    }
}

/// Reports a value that does not parse at `field`, keeping its message.
fn parse<T, E: std::fmt::Display>(
    p: &mut FieldProblems,
    field: &str,
    r: Result<T, E>,
) -> Option<T> {
    p.parse(FieldPath::new(field), r)
}

fn opt_parse<T, E: std::fmt::Display>(
    p: &mut FieldProblems,
    field: &str,
    v: Option<&str>,
    f: impl FnOnce(&str) -> Result<T, E>,
) -> Option<T> {
    let v = v.map(str::trim).filter(|v| !v.is_empty())?;
    parse(p, field, f(v))
}

// ------------------------------------------------------------------------------------------------------------
// Structures
// ------------------------------------------------------------------------------------------------------------

/// A host structure as typed: identity, texts and codes not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructureDraft {
    /// SIRET (14 digits, Luhn key).
    pub siret: String,
    /// Name.
    pub name: String,
    /// Legal kind.
    pub kind: StructureKind,
    /// Department (INSEE code).
    pub department: String,
    /// Street address.
    pub address: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Commune.
    pub commune: Option<String>,
    /// Labelled France Services.
    pub france_services: bool,
    /// In a ZRR.
    pub zrr: bool,
    /// In a QPV.
    pub qpv: bool,
}

impl TryFrom<StructureDraft> for NewStructure {
    type Error = FieldProblems;

    fn try_from(d: StructureDraft) -> Result<Self, FieldProblems> {
        let mut p = FieldProblems::new();
        let siret = parse(&mut p, "siret", Siret::parse(&d.siret));
        let name = rule::structure_name(&mut p, &d.name);
        let department = parse(&mut p, "department", DepartmentCode::parse(&d.department));
        let address = rule::address(&mut p, d.address.as_deref());
        let postal_code = opt_parse(
            &mut p,
            "postalCode",
            d.postal_code.as_deref(),
            PostalCode::parse,
        );
        let commune = rule::commune(&mut p, d.commune.as_deref());
        p.finish(|| {
            Some(NewStructure {
                siret: siret?,
                name: name?,
                kind: d.kind,
                address,
                postal_code,
                commune,
                department: department?,
                france_services: d.france_services,
                zrr: d.zrr,
                qpv: d.qpv,
            })
        })
    }
}

impl NewStructure {
    /// This value if it keeps every rule (texts trimmed), else every broken rule: what the services store.
    pub fn checked(self) -> Result<Self, FieldProblems> {
        let mut p = FieldProblems::new();
        let name = rule::structure_name(&mut p, &self.name);
        let address = rule::address(&mut p, self.address.as_deref());
        let commune = rule::commune(&mut p, self.commune.as_deref());
        p.finish(|| {
            Some(Self {
                name: name?,
                address,
                commune,
                ..self
            })
        })
    }
}

/// A change to a host structure as typed: `None` leaves a field, `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StructurePatchDraft {
    /// New name.
    pub name: Option<String>,
    /// New kind.
    pub kind: Option<StructureKind>,
    /// New department (INSEE code).
    pub department: Option<String>,
    /// New address, or cleared (blank clears too).
    pub address: Option<Option<String>>,
    /// New postal code, or cleared (blank clears too).
    pub postal_code: Option<Option<String>>,
    /// New commune, or cleared (blank clears too).
    pub commune: Option<Option<String>>,
    /// France Services label.
    pub france_services: Option<bool>,
    /// ZRR flag.
    pub zrr: Option<bool>,
    /// QPV flag.
    pub qpv: Option<bool>,
}

impl TryFrom<StructurePatchDraft> for StructurePatch {
    type Error = FieldProblems;

    fn try_from(d: StructurePatchDraft) -> Result<Self, FieldProblems> {
        let mut p = FieldProblems::new();
        let name = d.name.as_deref().map(|v| rule::structure_name(&mut p, v));
        let department = d
            .department
            .as_deref()
            .map(|v| parse(&mut p, "department", DepartmentCode::parse(v)));
        let address = d.address.map(|v| rule::address(&mut p, v.as_deref()));
        let postal_code = d
            .postal_code
            .map(|v| opt_parse(&mut p, "postalCode", v.as_deref(), PostalCode::parse));
        let commune = d.commune.map(|v| rule::commune(&mut p, v.as_deref()));
        p.finish(|| {
            Some(StructurePatch {
                name: name.map(|v| v.ok_or(())).transpose().ok()?,
                kind: d.kind,
                address,
                postal_code,
                commune,
                department: department.map(|v| v.ok_or(())).transpose().ok()?,
                france_services: d.france_services,
                zrr: d.zrr,
                qpv: d.qpv,
            })
        })
    }
}

// ------------------------------------------------------------------------------------------------------------
// Posts
// ------------------------------------------------------------------------------------------------------------

/// A request for posts as typed (its numbers and dates are typed already; the rules relate them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostDraft {
    /// Whether this is the renewal agreement.
    pub renewal: bool,
    /// Posts requested.
    pub requested: i32,
    /// Posts granted.
    pub granted: i32,
    /// Committee decision; pending when absent.
    pub decision: Option<CommitteeDecision>,
    /// Committee date.
    pub committee_date: Option<NaiveDate>,
    /// Agreement start.
    pub agreement_start: Option<NaiveDate>,
    /// Agreement end.
    pub agreement_end: Option<NaiveDate>,
}

impl TryFrom<PostDraft> for NewPost {
    type Error = FieldProblems;

    fn try_from(d: PostDraft) -> Result<Self, FieldProblems> {
        NewPost {
            renewal: d.renewal,
            requested: d.requested,
            granted: d.granted,
            decision: d.decision.unwrap_or(CommitteeDecision::Pending),
            committee_date: d.committee_date,
            agreement_start: d.agreement_start,
            agreement_end: d.agreement_end,
        }
        .checked()
    }
}

impl NewPost {
    /// This value if it keeps every rule, else every broken rule: what the services store.
    pub fn checked(self) -> Result<Self, FieldProblems> {
        let mut p = FieldProblems::new();
        rule::post(&mut p, &self);
        p.finish(|| Some(self))
    }
}

// ------------------------------------------------------------------------------------------------------------
// Counsellors
// ------------------------------------------------------------------------------------------------------------

/// A counsellor's personal data as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonalDraft {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Professional e-mail.
    pub email: Option<String>,
    /// Personal e-mail.
    pub personal_email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
}

impl TryFrom<PersonalDraft> for PersonalData {
    type Error = FieldProblems;

    fn try_from(d: PersonalDraft) -> Result<Self, FieldProblems> {
        let mut p = FieldProblems::new();
        let personal = personal(&mut p, d);
        p.finish(|| personal)
    }
}

fn personal(p: &mut FieldProblems, d: PersonalDraft) -> Option<PersonalData> {
    let first_name = rule::person_name(p, "firstName", &d.first_name);
    let last_name = rule::person_name(p, "lastName", &d.last_name);
    let email = opt_parse(p, "email", d.email.as_deref(), Email::parse);
    let personal_email = opt_parse(
        p,
        "personalEmail",
        d.personal_email.as_deref(),
        Email::parse,
    );
    let phone = rule::phone(p, d.phone.as_deref());
    Some(PersonalData {
        first_name: first_name?,
        last_name: last_name?,
        email,
        personal_email,
        phone,
    })
}

/// A counsellor as typed: the texts of [`PersonalDraft`] and the external id unchecked, the rest typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounsellorDraft {
    /// The national platform's id.
    pub external_id: String,
    /// The host structure.
    pub structure_id: StructureId,
    /// The post filled.
    pub post_id: Option<PostId>,
    /// Names, e-mails, phone.
    pub personal: PersonalDraft,
    /// Status.
    pub status: CounsellorStatus,
    /// Recruitment date.
    pub recruited_on: Option<NaiveDate>,
    /// Start of the initial training.
    pub training_started_on: Option<NaiveDate>,
    /// First day of activity.
    pub active_since: Option<NaiveDate>,
    /// End of the contract or mission.
    pub ended_on: Option<NaiveDate>,
    /// Contract type.
    pub contract_type: Option<ContractType>,
    /// Contract start.
    pub contract_start: Option<NaiveDate>,
    /// Contract end.
    pub contract_end: Option<NaiveDate>,
    /// Training completion.
    pub training_completed_on: Option<NaiveDate>,
    /// PIX certification.
    pub pix_certified: bool,
    /// Host share, percent.
    pub host_share: i32,
    /// Whether this counsellor coordinates others.
    pub is_coordinator: bool,
    /// The coordinator.
    pub coordinator_id: Option<CounsellorId>,
}

impl TryFrom<CounsellorDraft> for NewCounsellor {
    type Error = FieldProblems;

    fn try_from(d: CounsellorDraft) -> Result<Self, FieldProblems> {
        let mut p = FieldProblems::new();
        let external_id = rule::external_id(&mut p, &d.external_id);
        let personal = personal(&mut p, d.personal);
        rule::host_share(&mut p, d.host_share);
        rule::ordered(&mut p, "contractEnd", d.contract_start, d.contract_end);
        p.finish(|| {
            Some(NewCounsellor {
                external_id: external_id?,
                structure_id: d.structure_id,
                post_id: d.post_id,
                personal: personal?,
                status: d.status,
                recruited_on: d.recruited_on,
                training_started_on: d.training_started_on,
                active_since: d.active_since,
                ended_on: d.ended_on,
                contract_type: d.contract_type,
                contract_start: d.contract_start,
                contract_end: d.contract_end,
                training_completed_on: d.training_completed_on,
                pix_certified: d.pix_certified,
                host_share: d.host_share,
                is_coordinator: d.is_coordinator,
                coordinator_id: d.coordinator_id,
            })
        })
    }
}

impl NewCounsellor {
    /// This value if it keeps every rule (texts trimmed, phone normalised), else every broken rule: what the
    /// services store. References (structure, post, coordinator) and the total time share are checked by the
    /// services against the database.
    pub fn checked(self) -> Result<Self, FieldProblems> {
        let mut p = FieldProblems::new();
        let external_id = rule::external_id(&mut p, &self.external_id);
        let first_name = rule::person_name(&mut p, "firstName", &self.personal.first_name);
        let last_name = rule::person_name(&mut p, "lastName", &self.personal.last_name);
        let phone = rule::phone(&mut p, self.personal.phone.as_deref());
        rule::host_share(&mut p, self.host_share);
        rule::ordered(
            &mut p,
            "contractEnd",
            self.contract_start,
            self.contract_end,
        );
        p.finish(|| {
            Some(Self {
                external_id: external_id?,
                personal: PersonalData {
                    first_name: first_name?,
                    last_name: last_name?,
                    phone,
                    ..self.personal
                },
                ..self
            })
        })
    }
}

/// A change to a counsellor's personal data as typed: `None` leaves a field, `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonalPatchDraft {
    /// New first name.
    pub first_name: Option<String>,
    /// New last name.
    pub last_name: Option<String>,
    /// New professional e-mail, or cleared (blank clears too).
    pub email: Option<Option<String>>,
    /// New personal e-mail, or cleared (blank clears too).
    pub personal_email: Option<Option<String>>,
    /// New phone, or cleared (blank clears too).
    pub phone: Option<Option<String>>,
}

/// A checked change to a counsellor's personal data; [`PersonalPatch::apply`] makes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonalPatch {
    /// New first name.
    pub first_name: Option<String>,
    /// New last name.
    pub last_name: Option<String>,
    /// New professional e-mail, or cleared.
    pub email: Option<Option<Email>>,
    /// New personal e-mail, or cleared.
    pub personal_email: Option<Option<Email>>,
    /// New phone, or cleared.
    pub phone: Option<Option<String>>,
}

impl TryFrom<PersonalPatchDraft> for PersonalPatch {
    type Error = FieldProblems;

    fn try_from(d: PersonalPatchDraft) -> Result<Self, FieldProblems> {
        let mut p = FieldProblems::new();
        let first_name = d
            .first_name
            .as_deref()
            .map(|v| rule::person_name(&mut p, "firstName", v));
        let last_name = d
            .last_name
            .as_deref()
            .map(|v| rule::person_name(&mut p, "lastName", v));
        let email = d
            .email
            .map(|v| opt_parse(&mut p, "email", v.as_deref(), Email::parse));
        let personal_email = d
            .personal_email
            .map(|v| opt_parse(&mut p, "personalEmail", v.as_deref(), Email::parse));
        let phone = d.phone.map(|v| rule::phone(&mut p, v.as_deref()));
        p.finish(|| {
            Some(PersonalPatch {
                first_name: first_name.map(|v| v.ok_or(())).transpose().ok()?,
                last_name: last_name.map(|v| v.ok_or(())).transpose().ok()?,
                email,
                personal_email,
                phone,
            })
        })
    }
}

impl PersonalPatch {
    /// Applies the change to `p`.
    pub fn apply(self, p: &mut PersonalData) {
        if let Some(v) = self.first_name {
            p.first_name = v;
        }
        if let Some(v) = self.last_name {
            p.last_name = v;
        }
        if let Some(v) = self.email {
            p.email = v;
        }
        if let Some(v) = self.personal_email {
            p.personal_email = v;
        }
        if let Some(v) = self.phone {
            p.phone = v;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn fields(p: &FieldProblems) -> Vec<String> {
        p.iter().map(|x| x.field.to_string()).collect()
    }

    fn structure() -> StructureDraft {
        StructureDraft {
            siret: "73282932000074".to_owned(),
            name: " Mairie ".to_owned(),
            kind: StructureKind::Commune,
            department: "69".to_owned(),
            address: Some("  ".to_owned()),
            postal_code: Some("69001".to_owned()),
            commune: None,
            france_services: false,
            zrr: false,
            qpv: false,
        }
    }

    fn counsellor() -> CounsellorDraft {
        CounsellorDraft {
            external_id: "cn-1".to_owned(),
            structure_id: StructureId(1),
            post_id: None,
            personal: PersonalDraft {
                first_name: "Camille".to_owned(),
                last_name: "Martin".to_owned(),
                email: None,
                personal_email: None,
                phone: Some("04 78 00 00 00".to_owned()),
            },
            status: CounsellorStatus::Recruited,
            recruited_on: None,
            training_started_on: None,
            active_since: None,
            ended_on: None,
            contract_type: None,
            contract_start: None,
            contract_end: None,
            training_completed_on: None,
            pix_certified: false,
            host_share: 0,
            is_coordinator: false,
            coordinator_id: None,
        }
    }

    #[test]
    fn a_good_structure_is_trimmed_and_blank_optional_texts_are_absent() {
        let s = NewStructure::try_from(structure()).unwrap();
        assert_eq!(s.name, "Mairie");
        assert_eq!(s.address, None);
        assert_eq!(
            s.postal_code.as_ref().map(PostalCode::as_str),
            Some("69001")
        );
    }

    #[test]
    fn every_broken_structure_rule_is_reported_at_once() {
        let err = NewStructure::try_from(StructureDraft {
            siret: "123".to_owned(),
            name: "x".repeat(301),
            department: "999".to_owned(),
            address: Some("a".repeat(301)),
            postal_code: Some("6900".to_owned()),
            commune: Some("c".repeat(201)),
            ..structure()
        })
        .unwrap_err();
        assert_eq!(
            fields(&err),
            [
                "siret",
                "name",
                "department",
                "address",
                "postalCode",
                "commune"
            ]
        );
        assert!(err.iter().all(|p| p.code == Code::InvalidValue));
    }

    #[test]
    fn a_structure_patch_checks_only_what_it_changes() {
        let patch = StructurePatch::try_from(StructurePatchDraft {
            commune: Some(Some(" ".to_owned())),
            ..StructurePatchDraft::default()
        })
        .unwrap();
        assert_eq!(patch.commune, Some(None));
        let err = StructurePatch::try_from(StructurePatchDraft {
            name: Some(" ".to_owned()),
            postal_code: Some(Some("x".to_owned())),
            department: Some("00".to_owned()),
            ..StructurePatchDraft::default()
        })
        .unwrap_err();
        assert_eq!(fields(&err), ["name", "department", "postalCode"]);
    }

    #[test]
    fn every_broken_counsellor_rule_is_reported_at_once() {
        let mut d = counsellor();
        d.external_id = " ".to_owned();
        d.personal = PersonalDraft {
            first_name: String::new(),
            last_name: "n".repeat(101),
            email: Some("not-an-email".to_owned()),
            personal_email: Some("a@b".to_owned()),
            phone: Some("12345".to_owned()),
        };
        d.host_share = 101;
        d.contract_start = NaiveDate::from_ymd_opt(2021, 6, 1);
        d.contract_end = NaiveDate::from_ymd_opt(2021, 5, 1);
        let err = NewCounsellor::try_from(d).unwrap_err();
        assert_eq!(
            fields(&err),
            [
                "externalId",
                "firstName",
                "lastName",
                "email",
                "personalEmail",
                "phone",
                "hostShare",
                "contractEnd"
            ]
        );
    }

    #[test]
    fn phones_are_normalised_and_the_services_check_applies_the_same_rules() {
        let c = NewCounsellor::try_from(counsellor()).unwrap();
        assert_eq!(c.personal.phone.as_deref(), Some("0478000000"));
        let mut p = FieldProblems::new();
        assert_eq!(
            rule::phone(&mut p, Some("+33 4.78-00-00-00")).as_deref(),
            Some("+33478000000")
        );
        assert!(p.is_empty());
        let mut bad = c;
        bad.personal.phone = Some("call me".to_owned());
        bad.personal.first_name = "  ".to_owned();
        let err = bad.checked().unwrap_err();
        assert_eq!(fields(&err), ["firstName", "phone"]);
    }

    #[test]
    fn post_rules_relate_counts_decision_and_dates() {
        let draft = PostDraft {
            renewal: false,
            requested: 2,
            granted: 1,
            decision: None,
            committee_date: None,
            agreement_start: NaiveDate::from_ymd_opt(2021, 1, 1),
            agreement_end: NaiveDate::from_ymd_opt(2020, 1, 1),
        };
        let err = NewPost::try_from(draft.clone()).unwrap_err();
        assert_eq!(fields(&err), ["granted", "agreementEnd"]);
        let err = NewPost::try_from(PostDraft {
            requested: 1001,
            granted: -1,
            agreement_end: None,
            ..draft.clone()
        })
        .unwrap_err();
        assert_eq!(fields(&err), ["requested", "granted"]);
        let ok = NewPost::try_from(PostDraft {
            decision: Some(CommitteeDecision::Accepted),
            agreement_end: None,
            ..draft
        })
        .unwrap();
        assert_eq!(ok.granted, 1);
    }

    #[test]
    fn a_personal_patch_reports_every_problem_and_clears_with_blank() {
        let err = PersonalPatch::try_from(PersonalPatchDraft {
            first_name: Some(String::new()),
            email: Some(Some("x".to_owned())),
            phone: Some(Some("0".to_owned())),
            ..PersonalPatchDraft::default()
        })
        .unwrap_err();
        assert_eq!(fields(&err), ["firstName", "email", "phone"]);
        let patch = PersonalPatch::try_from(PersonalPatchDraft {
            phone: Some(Some(" ".to_owned())),
            ..PersonalPatchDraft::default()
        })
        .unwrap();
        assert_eq!(patch.phone, Some(None));
    }
}
