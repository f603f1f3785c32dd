//! Sites in the data·inclusion v1 format: one **structure** per site, and one **service** per site (its digital
//! mediation offer), as the JSON arrays data·inclusion's own API publishes.
//!
//! The mapping from the national standard's vocabulary is the one below, kept conservative: a value
//! data·inclusion has no word for is left out rather than guessed, and a field the schema would refuse (a name
//! under 3 characters, a URL that is not `http(s)`, a description under 5 characters) is adjusted or left empty,
//! so every object validates against `data-inclusion-v1-{structure,service}.schema.json` (a test checks it).
//! E-mail addresses follow the API's rule ([`Site::emails_for`]): only for callers who may read them.

use crate::export::{for_each_page, io_error};
use crate::{Site, SiteFilter, SitesError, ValueKind};
use maillage_core::Actor;
use sea_orm::ConnectionTrait;
use serde::Serialize;
use std::collections::BTreeSet;
use std::io::Write;

/// Which of the two data·inclusion collections to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    /// `structures`: the places.
    Structures,
    /// `services`: what each place offers.
    Services,
}

/// A data·inclusion v1 structure.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Structure {
    /// Producer: the site's Maillage source.
    pub source: String,
    /// `{source}--{source id}`.
    pub id: String,
    /// 3 to 150 characters, no final full stop.
    pub nom: String,
    /// `date_maj` of the source, `YYYY-MM-DD`.
    pub date_maj: String,
    /// The site's pivot when it is a SIRET.
    pub siret: Option<String>,
    /// Commune name.
    pub commune: Option<String>,
    /// Postal code.
    pub code_postal: Option<String>,
    /// INSEE code.
    pub code_insee: Option<String>,
    /// Street address.
    pub adresse: Option<String>,
    /// Address complement.
    pub complement_adresse: Option<String>,
    /// WGS84 longitude.
    pub longitude: Option<f64>,
    /// WGS84 latitude.
    pub latitude: Option<f64>,
    /// Phone.
    pub telephone: Option<String>,
    /// First e-mail address, for callers who may read it.
    pub courriel: Option<String>,
    /// Website (`http(s)` only).
    pub site_web: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Opening hours (OSM syntax), when they parse.
    pub horaires_accueil: Option<String>,
    /// Accesslibre page.
    pub accessibilite_lieu: Option<String>,
    /// Networks carrying the place, from the national programmes.
    pub reseaux_porteurs: Option<Vec<&'static str>>,
}

/// A data·inclusion v1 service: the digital mediation offer of one site.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Service {
    /// Producer.
    pub source: String,
    /// The structure's id.
    pub structure_id: String,
    /// Same as the structure's (one service per structure).
    pub id: String,
    /// Service name.
    pub nom: String,
    /// At least 5 characters.
    pub description: String,
    /// `date_maj` of the source.
    pub date_maj: String,
    /// `accompagnement` or `atelier`.
    #[serde(rename = "type")]
    pub kind: Option<&'static str>,
    /// `numerique--…` themes from the standard's services.
    pub thematiques: Option<Vec<&'static str>>,
    /// `gratuit` or `payant`.
    pub frais: Option<&'static str>,
    /// The standard's fee wording when it says more than free or paid.
    pub frais_precisions: Option<String>,
    /// Audiences.
    pub publics: Option<Vec<&'static str>>,
    /// In person and/or remotely.
    pub modes_accueil: Option<Vec<&'static str>>,
    /// How to get the service.
    pub modes_mobilisation: Option<Vec<&'static str>>,
    /// Who may ask for it.
    pub mobilisable_par: Option<Vec<&'static str>>,
    /// Booking link.
    pub lien_mobilisation: Option<String>,
    /// Commune name.
    pub commune: Option<String>,
    /// Postal code.
    pub code_postal: Option<String>,
    /// INSEE code.
    pub code_insee: Option<String>,
    /// Street address.
    pub adresse: Option<String>,
    /// Address complement.
    pub complement_adresse: Option<String>,
    /// WGS84 longitude.
    pub longitude: Option<f64>,
    /// WGS84 latitude.
    pub latitude: Option<f64>,
    /// Phone.
    pub telephone: Option<String>,
    /// First e-mail address, for callers who may read it.
    pub courriel: Option<String>,
    /// Opening hours (OSM syntax), when they parse.
    pub horaires_accueil: Option<String>,
}

fn non_empty(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn http_url(v: Option<&str>) -> Option<String> {
    // The standard allows several sites separated by `|` (v1) or `;` (v0.1): the first one.
    let first = v?.split(['|', ';']).next()?.trim();
    let lower = first.to_ascii_lowercase();
    ((lower.starts_with("https://") || lower.starts_with("http://"))
        && first.len() > "https://".len()
        && first.len() <= 2083
        && !first.contains(char::is_whitespace))
    .then(|| first.to_owned())
}

/// 3 to 150 characters, without a final full stop.
fn name(site: &Site) -> String {
    let mut n: String = site.data.name.trim().chars().take(150).collect();
    while n.ends_with('.') {
        n.pop();
    }
    let n = n.trim_end().to_owned();
    if n.chars().count() >= 3 {
        n
    } else {
        let with_commune = format!("{n} – {}", site.data.commune.trim());
        if with_commune.chars().count() >= 3 {
            with_commune.chars().take(150).collect()
        } else {
            "Lieu de médiation numérique".to_owned()
        }
    }
}

fn description(site: &Site) -> Option<String> {
    let text = [&site.data.summary, &site.data.description]
        .into_iter()
        .flatten()
        .map(|t| t.trim())
        .find(|t| t.chars().count() >= 5)?;
    Some(text.chars().take(10_000).collect())
}

fn id(site: &Site) -> String {
    format!("{}--{}", site.source, site.data.source_id)
}

fn hours(site: &Site) -> Option<String> {
    (site.opening_hours_valid == Some(true))
        .then(|| non_empty(site.data.opening_hours.as_deref()))
        .flatten()
}

fn email(site: &Site, actor: &Actor) -> Option<String> {
    site.emails_for(actor)
        .and_then(|e| e.first())
        .map(|e| e.as_str().to_owned())
}

fn coordinates(site: &Site) -> (Option<f64>, Option<f64>) {
    match (site.data.longitude, site.data.latitude) {
        (Some(lon), Some(lat)) if lon.is_finite() && lat.is_finite() => (Some(lon), Some(lat)),
        _ => (None, None),
    }
}

/// Distinct mapped values, in first-seen order; `None` when nothing maps (the schema refuses empty lists).
fn mapped(
    site: &Site,
    kinds: &[ValueKind],
    map: impl Fn(&str) -> Option<&'static str>,
) -> Option<Vec<&'static str>> {
    let mut seen = BTreeSet::new();
    let out: Vec<&'static str> = kinds
        .iter()
        .flat_map(|k| site.data.mapped_values(*k))
        .filter_map(map)
        .filter(|v| seen.insert(*v))
        .collect();
    (!out.is_empty()).then_some(out)
}

fn network(programme: &str) -> Option<&'static str> {
    Some(match programme {
        "Aidants Connect" => "aidants-connect",
        "Conseillers numériques" => "conseillers-numeriques",
        "France Services" => "france-service",
        "La Croix Rouge" => "croix-rouge",
        "Emmaüs Connect" | "Relais numérique (Emmaüs Connect)" => "emmaus",
        "Point d'accès numérique CAF" => "caf",
        "Grande école du numérique" => "grandes-ecoles-du-numerique",
        _ => return None,
    })
}

fn theme(service: &str) -> Option<&'static str> {
    Some(match service {
        "Aide aux démarches administratives" => "numerique--acceder-a-des-services-en-ligne",
        "Accès internet et matériel informatique" => {
            "numerique--acceder-a-une-connexion-internet"
        }
        "Acquisition de matériel informatique à prix solidaire" => {
            "numerique--acquerir-un-equipement"
        }
        "Maîtrise des outils numériques du quotidien"
        | "Utilisation sécurisée du numérique"
        | "Compréhension du monde numérique"
        | "Parentalité et éducation avec le numérique"
        | "Loisirs et créations numériques"
        | "Insertion professionnelle via le numérique" => {
            "numerique--maitriser-les-fondamentaux-du-numerique"
        }
        _ => return None,
    })
}

fn public(value: &str) -> Option<&'static str> {
    Some(match value {
        "Jeunes" => "jeunes",
        "Étudiants" => "etudiants",
        "Familles et/ou enfants" => "familles",
        "Seniors" => "seniors",
        "Femmes" => "femmes",
        "Surdité" | "Handicaps moteurs" | "Handicaps mentaux" | "Déficience visuelle" => {
            "personnes-en-situation-de-handicap"
        }
        _ => return None,
    })
}

fn mobilisation(access: &str) -> Option<&'static str> {
    Some(match access {
        "Se présenter" => "se-presenter",
        "Téléphoner" => "telephoner",
        "Contacter par mail" | "Envoyer un mail avec une fiche de prescription" => {
            "envoyer-un-courriel"
        }
        "Prendre un RDV en ligne" => "utiliser-lien-mobilisation",
        _ => return None,
    })
}

/// The site as a data·inclusion structure.
pub fn structure(site: &Site, actor: &Actor) -> Structure {
    let d = &site.data;
    let (longitude, latitude) = coordinates(site);
    let pivot = d.pivot.to_string();
    Structure {
        source: site.source.clone(),
        id: id(site),
        nom: name(site),
        date_maj: d.updated_on.format("%Y-%m-%d").to_string(),
        siret: (pivot.len() == 14
            && pivot.bytes().all(|b| b.is_ascii_digit())
            && pivot != "00000000000000")
            .then_some(pivot),
        commune: non_empty(Some(&d.commune)),
        code_postal: Some(d.postal_code.to_string()).filter(|c| c.len() == 5),
        code_insee: d.insee_code.as_ref().map(ToString::to_string),
        adresse: non_empty(Some(&d.address)),
        complement_adresse: non_empty(d.address_complement.as_deref()),
        longitude,
        latitude,
        telephone: non_empty(d.phone.as_deref()),
        courriel: email(site, actor),
        site_web: http_url(d.website.as_deref()),
        description: description(site),
        horaires_accueil: hours(site),
        accessibilite_lieu: http_url(d.accessibility_url.as_deref()),
        reseaux_porteurs: mapped(site, &[ValueKind::NationalProgramme], network),
    }
}

/// The site's digital mediation offer as a data·inclusion service.
pub fn service(site: &Site, actor: &Actor) -> Service {
    let d = &site.data;
    let (longitude, latitude) = coordinates(site);
    let services = d.mapped_values(ValueKind::Service);
    let fees = d.mapped_values(ValueKind::Fee);
    let support = d.mapped_values(ValueKind::SupportMode);
    let access = d.mapped_values(ValueKind::AccessMode);
    let description = description(site).unwrap_or_else(|| {
        if services.is_empty() {
            "Accompagnement aux usages du numérique.".to_owned()
        } else {
            format!("Médiation numérique : {}.", services.join(", "))
        }
    });
    let booking = http_url(d.booking_url.as_deref());
    let mut modes = mapped(site, &[ValueKind::AccessMode], mobilisation).unwrap_or_default();
    if booking.is_none() {
        // The schema's `utiliser-lien-mobilisation` needs the link.
        modes.retain(|m| *m != "utiliser-lien-mobilisation");
    }
    let mut by = Vec::new();
    if access
        .iter()
        .any(|a| *a != "Envoyer un mail avec une fiche de prescription")
        || access.is_empty()
    {
        by.push("usagers");
    }
    if access.contains(&"Envoyer un mail avec une fiche de prescription") {
        by.push("professionnels");
    }
    let mut reception = Vec::new();
    if !access.contains(&"Ce lieu n'accueille pas de public") {
        reception.push("en-presentiel");
    }
    if support.contains(&"À distance") {
        reception.push("a-distance");
    }
    Service {
        source: site.source.clone(),
        structure_id: id(site),
        id: id(site),
        nom: "Médiation numérique".to_owned(),
        description,
        date_maj: d.updated_on.format("%Y-%m-%d").to_string(),
        kind: Some(
            if !support.is_empty() && support.iter().all(|s| *s == "Dans un atelier collectif") {
                "atelier"
            } else {
                "accompagnement"
            },
        ),
        thematiques: mapped(site, &[ValueKind::Service], theme),
        frais: if fees.contains(&"Payant") {
            Some("payant")
        } else if fees.is_empty() {
            None
        } else {
            Some("gratuit")
        },
        frais_precisions: fees
            .contains(&"Gratuit sous condition")
            .then(|| fees.join(", ")),
        publics: mapped(
            site,
            &[ValueKind::Public, ValueKind::SpecificSupport],
            public,
        )
        .or_else(|| Some(vec!["tous-publics"])),
        modes_accueil: (!reception.is_empty()).then_some(reception),
        modes_mobilisation: (!modes.is_empty()).then_some(modes),
        mobilisable_par: Some(by),
        lien_mobilisation: booking,
        commune: non_empty(Some(&d.commune)),
        code_postal: Some(d.postal_code.to_string()).filter(|c| c.len() == 5),
        code_insee: d.insee_code.as_ref().map(ToString::to_string),
        adresse: non_empty(Some(&d.address)),
        complement_adresse: non_empty(d.address_complement.as_deref()),
        longitude,
        latitude,
        telephone: non_empty(d.phone.as_deref()),
        courriel: email(site, actor),
        horaires_accueil: hours(site),
    }
}

/// Writes the sites matching `filter` as one JSON array of `collection` objects, page by page; returns how many.
#[tracing::instrument(skip_all)]
pub async fn write_datainclusion<C: ConnectionTrait, W: Write>(
    db: &C,
    actor: &Actor,
    filter: &SiteFilter,
    collection: Collection,
    mut out: W,
) -> Result<u64, SitesError> {
    out.write_all(b"[").map_err(io_error)?;
    let mut first = true;
    let count = for_each_page(db, filter, |sites| {
        for site in sites {
            if !first {
                out.write_all(b",\n").map_err(io_error)?;
            }
            first = false;
            let written = match collection {
                Collection::Structures => serde_json::to_writer(&mut out, &structure(site, actor)),
                Collection::Services => serde_json::to_writer(&mut out, &service(site, actor)),
            };
            written.map_err(|e| io_error(std::io::Error::other(e)))?;
        }
        out.flush().map_err(io_error)
    })
    .await?;
    out.write_all(b"]\n").map_err(io_error)?;
    out.flush().map_err(io_error)?;
    Ok(count)
}
