//! The input rules of organisations and aidants, in one place: drafts (what a caller typed) parsed once into the
//! domain's values, and the same rules run again by the write services on what they are asked to store.
//!
//! Every way in (the GraphQL API, the CSV imports, the CLI) builds a draft and converts it with `TryFrom`, which
//! collects **every** broken rule ([`FieldProblems`], paths named as the API names the fields: `name`, `siret`,
//! `postalCode`…). The services call [`NewOrganisation::checked`] and [`NewAidant::checked`] before writing, so a
//! caller that builds a value by hand cannot store what a draft would refuse. Each rule is one function of
//! [`rule`], called from both places.

use crate::model::{
    AidantPatch, AidantPerson, AidantStatus, CounsellorRef, NewAidant, NewOrganisation,
    OrganisationId, OrganisationKind, OrganisationPatch,
};
use chrono::NaiveDate;
use maillage_core::error::FieldPath;
use maillage_core::{Code, DepartmentCode, Email, FieldProblems, HubId, Siret, SiteId};

/// The rules, one function each; the drafts call them on what was typed, the services on what is to be stored.
/// Each returns the value as stored (trimmed, normalised) or `None` with the problem recorded.
pub mod rule {
    use super::{Code, FieldPath, FieldProblems, OrganisationId};
    use maillage_core::PostalCode;

    /// Longest organisation name.
    pub const ORGANISATION_NAME_MAX: usize = 300;
    /// Longest street address.
    pub const ADDRESS_MAX: usize = 300;
    /// Longest commune name.
    pub const COMMUNE_MAX: usize = 200;
    /// Longest first or last name of an aidant.
    pub const PERSON_NAME_MAX: usize = 200;
    /// Longest profession.
    pub const PROFESSION_MAX: usize = 200;

    fn at(field: &str) -> FieldPath {
        FieldPath::new(field)
    }

    /// An organisation's name: 1 to 300 characters.
    pub fn organisation_name(p: &mut FieldProblems, v: &str) -> Option<String> {
        p.text(at("name"), v, ORGANISATION_NAME_MAX)
    }

    /// An organisation's street address: required, 1 to 300 characters.
    pub fn address(p: &mut FieldProblems, v: &str) -> Option<String> {
        p.text(at("address"), v, ADDRESS_MAX)
    }

    /// An optional postal code: 5 digits; blank is absent.
    pub fn postal_code(p: &mut FieldProblems, v: Option<&str>) -> Option<String> {
        let v = v.map(str::trim).filter(|v| !v.is_empty())?;
        p.parse(at("postalCode"), PostalCode::parse(v))
            .map(|c| c.as_str().to_owned())
    }

    /// An optional commune, at most 200 characters; blank is absent.
    pub fn commune(p: &mut FieldProblems, v: Option<&str>) -> Option<String> {
        p.opt_text(at("commune"), v, COMMUNE_MAX)
    }

    /// An aidant's first or last name (`field` is `firstName` or `lastName`): 1 to 200 characters.
    pub fn person_name(p: &mut FieldProblems, field: &str, v: &str) -> Option<String> {
        p.text(at(field), v, PERSON_NAME_MAX)
    }

    /// An optional profession, at most 200 characters; blank is absent.
    pub fn profession(p: &mut FieldProblems, v: Option<&str>) -> Option<String> {
        p.opt_text(at("profession"), v, PROFESSION_MAX)
    }

    /// An aidant's organisations: at least one, returned sorted without duplicates.
    pub fn organisations(
        p: &mut FieldProblems,
        v: &[OrganisationId],
    ) -> Option<Vec<OrganisationId>> {
        if v.is_empty() {
            p.push(
                at("organisations"),
                Code::InvalidValue,
                "an aidant works for at least one organisation",
            );
            return None;
        }
        let mut list = v.to_vec();
        list.sort();
        list.dedup();
        Some(list)
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

/// `Some(v)` for a changed field whose rule passed, `None` for an unchanged one; `Err` when its rule failed (the
/// problem is recorded already).
fn changed<T>(v: Option<Option<T>>) -> Result<Option<T>, ()> {
    v.map(|v| v.ok_or(())).transpose()
}

// ------------------------------------------------------------------------------------------------------------
// Organisations
// ------------------------------------------------------------------------------------------------------------

/// An organisation as typed: identity, texts and codes not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganisationDraft {
    /// Name.
    pub name: String,
    /// SIRET (14 digits, Luhn key).
    pub siret: String,
    /// Type of structure.
    pub kind: OrganisationKind,
    /// Street address (required).
    pub address: String,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Commune.
    pub commune: Option<String>,
    /// Department (INSEE code).
    pub department: String,
    /// France Services label.
    pub france_services: bool,
    /// The site it runs.
    pub site: Option<SiteId>,
}

impl TryFrom<OrganisationDraft> for NewOrganisation {
    type Error = FieldProblems;

    fn try_from(d: OrganisationDraft) -> Result<Self, FieldProblems> {
        let mut p = FieldProblems::new();
        let name = rule::organisation_name(&mut p, &d.name);
        let siret = parse(&mut p, "siret", Siret::parse(&d.siret));
        let address = rule::address(&mut p, &d.address);
        let postal_code = rule::postal_code(&mut p, d.postal_code.as_deref());
        let commune = rule::commune(&mut p, d.commune.as_deref());
        let department = parse(&mut p, "department", DepartmentCode::parse(&d.department));
        p.finish(|| {
            Some(NewOrganisation {
                name: name?,
                siret: siret?,
                kind: d.kind,
                address: address?,
                postal_code,
                commune,
                department: department?,
                france_services: d.france_services,
                site: d.site,
            })
        })
    }
}

impl NewOrganisation {
    /// This value if it keeps every rule (texts trimmed), else every broken rule: what the services store.
    pub fn checked(self) -> Result<Self, FieldProblems> {
        let mut p = FieldProblems::new();
        let name = rule::organisation_name(&mut p, &self.name);
        let address = rule::address(&mut p, &self.address);
        let postal_code = rule::postal_code(&mut p, self.postal_code.as_deref());
        let commune = rule::commune(&mut p, self.commune.as_deref());
        p.finish(|| {
            Some(Self {
                name: name?,
                address: address?,
                postal_code,
                commune,
                ..self
            })
        })
    }
}

/// A change to an organisation as typed: `None` leaves a field, `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrganisationPatchDraft {
    /// New name.
    pub name: Option<String>,
    /// New type.
    pub kind: Option<OrganisationKind>,
    /// New address.
    pub address: Option<String>,
    /// New postal code, or cleared (blank clears too).
    pub postal_code: Option<Option<String>>,
    /// New commune, or cleared (blank clears too).
    pub commune: Option<Option<String>>,
    /// New department (INSEE code).
    pub department: Option<String>,
    /// New France Services label.
    pub france_services: Option<bool>,
    /// Active or not.
    pub active: Option<bool>,
    /// New site link, or cleared.
    pub site: Option<Option<SiteId>>,
}

impl TryFrom<OrganisationPatchDraft> for OrganisationPatch {
    type Error = FieldProblems;

    fn try_from(d: OrganisationPatchDraft) -> Result<Self, FieldProblems> {
        let mut p = FieldProblems::new();
        let name = d
            .name
            .as_deref()
            .map(|v| rule::organisation_name(&mut p, v));
        let address = d.address.as_deref().map(|v| rule::address(&mut p, v));
        let postal_code = d
            .postal_code
            .map(|v| rule::postal_code(&mut p, v.as_deref()));
        let commune = d.commune.map(|v| rule::commune(&mut p, v.as_deref()));
        let department = d
            .department
            .as_deref()
            .map(|v| parse(&mut p, "department", DepartmentCode::parse(v)));
        p.finish(|| {
            Some(OrganisationPatch {
                name: changed(name).ok()?,
                kind: d.kind,
                address: changed(address).ok()?,
                postal_code,
                commune,
                department: changed(department).ok()?,
                france_services: d.france_services,
                active: d.active,
                site: d.site,
            })
        })
    }
}

// ------------------------------------------------------------------------------------------------------------
// Aidants
// ------------------------------------------------------------------------------------------------------------

/// An aidant as typed: names, e-mail and profession unchecked, the rest typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AidantDraft {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Professional e-mail.
    pub email: String,
    /// Profession.
    pub profession: Option<String>,
    /// The organisations it works for (at least one).
    pub organisations: Vec<OrganisationId>,
    /// Status.
    pub status: AidantStatus,
    /// When the habilitation was requested.
    pub requested_on: Option<NaiveDate>,
    /// When the aidant was trained.
    pub trained_on: Option<NaiveDate>,
    /// The hub that trained the aidant.
    pub training_hub: Option<HubId>,
    /// When the aidant was authorised.
    pub authorised_on: Option<NaiveDate>,
    /// When the authorisation was revoked.
    pub revoked_on: Option<NaiveDate>,
    /// The conseiller numérique this aidant also is.
    pub counsellor: Option<CounsellorRef>,
}

impl TryFrom<AidantDraft> for NewAidant {
    type Error = FieldProblems;

    fn try_from(d: AidantDraft) -> Result<Self, FieldProblems> {
        let mut p = FieldProblems::new();
        let first_name = rule::person_name(&mut p, "firstName", &d.first_name);
        let last_name = rule::person_name(&mut p, "lastName", &d.last_name);
        let email = parse(&mut p, "email", Email::parse(&d.email));
        let profession = rule::profession(&mut p, d.profession.as_deref());
        let organisations = rule::organisations(&mut p, &d.organisations);
        p.finish(|| {
            Some(NewAidant {
                person: AidantPerson {
                    first_name: first_name?,
                    last_name: last_name?,
                    email: email?,
                    profession,
                },
                organisations: organisations?,
                status: d.status,
                requested_on: d.requested_on,
                trained_on: d.trained_on,
                training_hub: d.training_hub,
                authorised_on: d.authorised_on,
                revoked_on: d.revoked_on,
                counsellor: d.counsellor,
            })
        })
    }
}

impl NewAidant {
    /// This value if it keeps every rule (texts trimmed, organisations sorted), else every broken rule: what the
    /// services store. Whether the organisations and the training hub exist is checked by the services.
    pub fn checked(self) -> Result<Self, FieldProblems> {
        let mut p = FieldProblems::new();
        let first_name = rule::person_name(&mut p, "firstName", &self.person.first_name);
        let last_name = rule::person_name(&mut p, "lastName", &self.person.last_name);
        let profession = rule::profession(&mut p, self.person.profession.as_deref());
        let organisations = rule::organisations(&mut p, &self.organisations);
        p.finish(|| {
            Some(Self {
                person: AidantPerson {
                    first_name: first_name?,
                    last_name: last_name?,
                    profession,
                    ..self.person
                },
                organisations: organisations?,
                ..self
            })
        })
    }
}

/// A change to an aidant as typed: `None` leaves a field, `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AidantPatchDraft {
    /// New first name.
    pub first_name: Option<String>,
    /// New last name.
    pub last_name: Option<String>,
    /// New professional e-mail.
    pub email: Option<String>,
    /// New profession, or cleared (blank clears too).
    pub profession: Option<Option<String>>,
    /// New list of organisations (non-empty).
    pub organisations: Option<Vec<OrganisationId>>,
    /// New status.
    pub status: Option<AidantStatus>,
    /// New request date, or cleared.
    pub requested_on: Option<Option<NaiveDate>>,
    /// New training date, or cleared.
    pub trained_on: Option<Option<NaiveDate>>,
    /// New training hub, or cleared.
    pub training_hub: Option<Option<HubId>>,
    /// New authorisation date, or cleared.
    pub authorised_on: Option<Option<NaiveDate>>,
    /// New revocation date, or cleared.
    pub revoked_on: Option<Option<NaiveDate>>,
    /// New counsellor link, or cleared.
    pub counsellor: Option<Option<CounsellorRef>>,
}

impl TryFrom<AidantPatchDraft> for AidantPatch {
    type Error = FieldProblems;

    fn try_from(d: AidantPatchDraft) -> Result<Self, FieldProblems> {
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
            .as_deref()
            .map(|v| parse(&mut p, "email", Email::parse(v)));
        let profession = d.profession.map(|v| rule::profession(&mut p, v.as_deref()));
        let organisations = d
            .organisations
            .as_deref()
            .map(|v| rule::organisations(&mut p, v));
        p.finish(|| {
            Some(AidantPatch {
                first_name: changed(first_name).ok()?,
                last_name: changed(last_name).ok()?,
                email: changed(email).ok()?,
                profession,
                organisations: changed(organisations).ok()?,
                status: d.status,
                requested_on: d.requested_on,
                trained_on: d.trained_on,
                training_hub: d.training_hub,
                authorised_on: d.authorised_on,
                revoked_on: d.revoked_on,
                counsellor: d.counsellor,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn fields(p: &FieldProblems) -> Vec<String> {
        p.iter().map(|x| x.field.to_string()).collect()
    }

    fn organisation() -> OrganisationDraft {
        OrganisationDraft {
            name: " Mairie de Lyon ".to_owned(),
            siret: "73282932000074".to_owned(),
            kind: OrganisationKind::Commune,
            address: "1 place de la Comédie".to_owned(),
            postal_code: Some(" 69001 ".to_owned()),
            commune: Some(" ".to_owned()),
            department: "69".to_owned(),
            france_services: false,
            site: None,
        }
    }

    fn aidant() -> AidantDraft {
        AidantDraft {
            first_name: "Camille".to_owned(),
            last_name: "Martin".to_owned(),
            email: "camille@example.org".to_owned(),
            profession: None,
            organisations: vec![OrganisationId(2), OrganisationId(1), OrganisationId(2)],
            status: AidantStatus::Requested,
            requested_on: None,
            trained_on: None,
            training_hub: None,
            authorised_on: None,
            revoked_on: None,
            counsellor: None,
        }
    }

    #[test]
    fn a_good_organisation_is_trimmed() {
        let o = NewOrganisation::try_from(organisation()).unwrap();
        assert_eq!(o.name, "Mairie de Lyon");
        assert_eq!(o.postal_code.as_deref(), Some("69001"));
        assert_eq!(o.commune, None);
    }

    #[test]
    fn every_broken_organisation_rule_is_reported_at_once() {
        let err = NewOrganisation::try_from(OrganisationDraft {
            name: String::new(),
            siret: "1".to_owned(),
            address: "a".repeat(301),
            postal_code: Some("690".to_owned()),
            commune: Some("c".repeat(201)),
            department: "0".to_owned(),
            ..organisation()
        })
        .unwrap_err();
        assert_eq!(
            fields(&err),
            [
                "name",
                "siret",
                "address",
                "postalCode",
                "commune",
                "department"
            ]
        );
        let err = OrganisationPatch::try_from(OrganisationPatchDraft {
            address: Some("  ".to_owned()),
            postal_code: Some(Some("x".to_owned())),
            ..OrganisationPatchDraft::default()
        })
        .unwrap_err();
        assert_eq!(fields(&err), ["address", "postalCode"]);
    }

    #[test]
    fn the_services_check_applies_the_same_rules_to_a_value() {
        let mut o = NewOrganisation::try_from(organisation()).unwrap();
        o.postal_code = Some("1".to_owned());
        o.name = " ".to_owned();
        assert_eq!(fields(&o.checked().unwrap_err()), ["name", "postalCode"]);
        let mut a = NewAidant::try_from(aidant()).unwrap();
        assert_eq!(a.organisations, [OrganisationId(1), OrganisationId(2)]);
        a.organisations.clear();
        a.person.profession = Some("p".repeat(201));
        assert_eq!(
            fields(&a.checked().unwrap_err()),
            ["profession", "organisations"]
        );
    }

    #[test]
    fn every_broken_aidant_rule_is_reported_at_once() {
        let err = NewAidant::try_from(AidantDraft {
            first_name: " ".to_owned(),
            last_name: "n".repeat(201),
            email: "nope".to_owned(),
            profession: Some("p".repeat(201)),
            organisations: Vec::new(),
            ..aidant()
        })
        .unwrap_err();
        assert_eq!(
            fields(&err),
            [
                "firstName",
                "lastName",
                "email",
                "profession",
                "organisations"
            ]
        );
        let patch = AidantPatch::try_from(AidantPatchDraft {
            profession: Some(Some(" ".to_owned())),
            ..AidantPatchDraft::default()
        })
        .unwrap();
        assert_eq!(patch.profession, Some(None));
        let err = AidantPatch::try_from(AidantPatchDraft {
            email: Some("x".to_owned()),
            organisations: Some(Vec::new()),
            ..AidantPatchDraft::default()
        })
        .unwrap_err();
        assert_eq!(fields(&err), ["email", "organisations"]);
    }
}
