//! The funding domain's beneficiary port, implemented where every domain is reachable.
//!
//! `maillage-funding` cannot read host structures (counsellors), hubs (territories) or AMI dossiers (ami): domains
//! never depend on each other. It asks a [`funding::BeneficiaryDirectory`] instead, and this is the one the API and
//! the command line (`maillage funding import grants`) use, so both check a grant against the same facts.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use maillage_core::{Actor, DepartmentCode, HubId, RegionCode};
use maillage_counsellors::{FundingKind, Structure, StructureFilter, StructureId};
use maillage_funding as funding;
use maillage_funding::{BeneficiaryClaim, BeneficiaryKind, FundedPosts, VerifiedBeneficiary};
use sea_orm::DatabaseConnection;

/// Resolves grant beneficiaries in their own domains, as `actor` may see them (an AMI dossier the actor may not
/// read is "not found").
pub struct Directory<'a> {
    /// The database.
    pub db: &'a DatabaseConnection,
    /// Who asks.
    pub actor: &'a Actor,
}

/// The integer key of a reference given as `prefix:N`, `N`, or a global ID `Type:N` of this API.
fn key(raw: &str, prefix: &str, type_name: &str) -> Option<i32> {
    let raw = raw.trim();
    if let Some(n) = raw.strip_prefix(prefix).and_then(|r| r.strip_prefix(':')) {
        return n.trim().parse().ok();
    }
    if !raw.is_empty() && raw.len() <= 9 && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw.parse().ok();
    }
    let text = URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())?;
    text.strip_prefix(type_name)
        .and_then(|r| r.strip_prefix(':'))
        .and_then(|n| n.parse().ok())
}

fn host_kind(s: &Structure) -> funding::HostKind {
    match s.funding_kind() {
        FundingKind::Public => funding::HostKind::Public,
        FundingKind::Private => funding::HostKind::Private,
    }
}

impl Directory<'_> {
    /// A host structure by id (`structure:N`, `N`, its global ID) or SIRET.
    async fn structure(&self, reference: &str) -> Result<Option<Structure>, String> {
        let reference = reference.trim();
        if let Some(id) = key(reference, "structure", "HostStructure") {
            return maillage_counsellors::get_structure(self.db, StructureId(id))
                .await
                .map_err(|e| e.to_string());
        }
        let siret: String = reference
            .strip_prefix("siret:")
            .unwrap_or(reference)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if siret.len() != 14 || !siret.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        // No index by SIRET is exposed; grants are rare writes, so one filtered read is fine.
        Ok(
            maillage_counsellors::query::all_structures(self.db, &StructureFilter::default())
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .find(|s| s.data.siret.as_str() == siret),
        )
    }

    async fn host_structure(
        &self,
        claim: &BeneficiaryClaim,
    ) -> Result<Option<VerifiedBeneficiary>, String> {
        let Some(s) = self.structure(&claim.reference).await? else {
            return Ok(None);
        };
        let funded_posts = match claim
            .funded_posts
            .as_deref()
            .and_then(|p| key(p, "post", "FundedPost"))
        {
            Some(post) => maillage_counsellors::posts_of_structures(self.db, &[s.id])
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .find(|p| p.id.0 == post)
                .map(|p| FundedPosts {
                    reference: p.id.0.to_string(),
                    granted: p.data.granted,
                }),
            None => None,
        };
        Ok(Some(VerifiedBeneficiary {
            kind: BeneficiaryKind::HostStructure,
            reference: format!("structure:{}", s.id.0),
            name: s.data.name.clone(),
            host_kind: Some(host_kind(&s)),
            department: Some(s.data.department.clone()),
            hub: None,
            funded_posts,
        }))
    }

    async fn hub(&self, claim: &BeneficiaryClaim) -> Result<Option<VerifiedBeneficiary>, String> {
        let hub = match key(&claim.reference, "hub", "Hub") {
            Some(id) => maillage_territories::hubs_by_ids(self.db, &[HubId(id)])
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .next(),
            None => maillage_territories::hub_by_slug(self.db, claim.reference.trim())
                .await
                .map_err(|e| e.to_string())?,
        };
        let Some(hub) = hub else {
            return Ok(None);
        };
        let departments: Vec<DepartmentCode> =
            maillage_territories::departments_of_hubs(self.db, &[hub.id])
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|(_, d)| d.code)
                .collect();
        // A grant to a hub concerns one of its departments, or the hub as a whole.
        let department = match &claim.department {
            Some(d) if departments.contains(d) => Some(d.clone()),
            Some(_) => None,
            None => match departments.as_slice() {
                [only] => Some(only.clone()),
                _ => None,
            },
        };
        if claim.department.is_some() && department.is_none() {
            // Outside the hub: report one of its departments, so that the grant is refused as a mismatch.
            return Ok(Some(hub_beneficiary(&hub, departments.first().cloned())));
        }
        Ok(Some(hub_beneficiary(&hub, department)))
    }

    async fn dossier(
        &self,
        claim: &BeneficiaryClaim,
    ) -> Result<Option<VerifiedBeneficiary>, String> {
        let Some(id) = key(&claim.reference, "dossier", "AmiApplication") else {
            return Ok(None);
        };
        let app = match maillage_ami::get_application(
            self.db,
            self.actor,
            maillage_ami::ApplicationId(id),
        )
        .await
        {
            Ok(app) => app,
            Err(e) if maillage_core::ErrorCode::is_internal(&e) => return Err(e.to_string()),
            Err(_) => return Ok(None),
        };
        Ok(Some(VerifiedBeneficiary {
            kind: BeneficiaryKind::AmiDossier,
            reference: format!("dossier:{id}"),
            name: app.data.carrier_name.clone(),
            host_kind: None,
            department: match app.data.departments.as_slice() {
                [only] => Some(only.clone()),
                _ => None,
            },
            hub: app.decision.as_ref().and_then(|d| d.hub),
            funded_posts: None,
        }))
    }

    /// A collectivité: a département (`department:69`) or a région (`region:84`) by its INSEE code, or a public
    /// host structure of the counsellors domain (communes, EPCI… by id or SIRET).
    async fn collectivite(
        &self,
        claim: &BeneficiaryClaim,
    ) -> Result<Option<VerifiedBeneficiary>, String> {
        let reference = claim.reference.trim();
        let collectivite = |reference: String, name: String, department| VerifiedBeneficiary {
            kind: BeneficiaryKind::Collectivite,
            reference,
            name,
            host_kind: Some(funding::HostKind::Public),
            department,
            hub: None,
            funded_posts: None,
        };
        if let Some(code) = reference.strip_prefix("department:") {
            let Ok(code) = DepartmentCode::parse(code.trim()) else {
                return Ok(None);
            };
            return Ok(maillage_territories::departments_by_codes(self.db, &[code])
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .next()
                .map(|d| {
                    collectivite(
                        format!("department:{}", d.code),
                        format!("Département {}", d.name),
                        Some(d.code),
                    )
                }));
        }
        if let Some(code) = reference.strip_prefix("region:") {
            let Ok(code) = RegionCode::parse(code.trim()) else {
                return Ok(None);
            };
            return Ok(maillage_territories::regions_by_codes(self.db, &[code])
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .next()
                .map(|r| {
                    collectivite(
                        format!("region:{}", r.code),
                        format!("Région {}", r.name),
                        claim.department.clone(),
                    )
                }));
        }
        Ok(self
            .structure(reference)
            .await?
            .filter(|s| s.funding_kind() == FundingKind::Public)
            .map(|s| {
                collectivite(
                    format!("structure:{}", s.id.0),
                    s.data.name.clone(),
                    Some(s.data.department.clone()),
                )
            }))
    }
}

fn hub_beneficiary(
    hub: &maillage_territories::Hub,
    department: Option<DepartmentCode>,
) -> VerifiedBeneficiary {
    VerifiedBeneficiary {
        kind: BeneficiaryKind::Hub,
        reference: format!("hub:{}", hub.id.0),
        name: hub.name.clone(),
        host_kind: None,
        department,
        hub: Some(hub.id),
        funded_posts: None,
    }
}

impl funding::BeneficiaryDirectory for Directory<'_> {
    async fn resolve(
        &self,
        claim: &BeneficiaryClaim,
    ) -> Result<Option<VerifiedBeneficiary>, String> {
        match claim.kind {
            BeneficiaryKind::HostStructure => self.host_structure(claim).await,
            BeneficiaryKind::Hub => self.hub(claim).await,
            BeneficiaryKind::AmiDossier => self.dossier(claim).await,
            BeneficiaryKind::Collectivite => self.collectivite(claim).await,
        }
    }
}
