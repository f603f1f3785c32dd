//! Sites as a GeoJSON `FeatureCollection` (RFC 7946), for uMap, QGIS or any web map.
//!
//! One `Feature` per site, a `Point` at `[longitude, latitude]` (WGS84, the RFC's order), or a `null` geometry for a
//! site without valid coordinates (kept, so a count matches the other exports; map tools skip it). Properties are
//! flat strings and lists, the national standard's vocabulary; e-mails only for callers who may read them.

use crate::export::{for_each_page, io_error};
use crate::{Site, SiteFilter, SitesError, ValueKind};
use maillage_core::Actor;
use sea_orm::ConnectionTrait;
use serde::Serialize;
use serde_json::{Value, json};
use std::io::Write;

/// The properties of one site's feature.
#[derive(Debug, Serialize)]
struct Properties<'a> {
    id: String,
    source: &'a str,
    source_id: &'a str,
    nom: &'a str,
    adresse: &'a str,
    complement_adresse: Option<&'a str>,
    code_postal: String,
    commune: &'a str,
    code_insee: Option<String>,
    departement: Option<&'a str>,
    telephone: Option<&'a str>,
    courriels: Option<Vec<&'a str>>,
    site_web: Option<&'a str>,
    horaires: Option<&'a str>,
    services: Vec<&'a str>,
    publics: Vec<&'a str>,
    frais: Vec<&'a str>,
    labels: Vec<&'a str>,
    prise_rdv: Option<&'a str>,
    date_maj: String,
}

/// One site as a GeoJSON feature.
pub fn feature(site: &Site, actor: &Actor) -> Value {
    let d = &site.data;
    let geometry = match (d.longitude, d.latitude) {
        (Some(lon), Some(lat))
            if lon.is_finite() && lat.is_finite() && lon.abs() <= 180.0 && lat.abs() <= 90.0 =>
        {
            json!({ "type": "Point", "coordinates": [lon, lat] })
        }
        _ => Value::Null,
    };
    let mut labels = d.mapped_values(ValueKind::NationalProgramme);
    labels.extend(d.mapped_values(ValueKind::TrainingLabel));
    let properties = Properties {
        id: format!("{}:{}", site.source, d.source_id),
        source: &site.source,
        source_id: &d.source_id,
        nom: &d.name,
        adresse: &d.address,
        complement_adresse: d.address_complement.as_deref(),
        code_postal: d.postal_code.to_string(),
        commune: &d.commune,
        code_insee: d.insee_code.as_ref().map(ToString::to_string),
        departement: site.department_code.as_ref().map(|c| c.as_str()),
        telephone: d.phone.as_deref(),
        courriels: site
            .emails_for(actor)
            .map(|e| e.iter().map(|e| e.as_str()).collect()),
        site_web: d.website.as_deref(),
        horaires: d.opening_hours.as_deref(),
        services: d.mapped_values(ValueKind::Service),
        publics: d.mapped_values(ValueKind::Public),
        frais: d.mapped_values(ValueKind::Fee),
        labels,
        prise_rdv: d.booking_url.as_deref(),
        date_maj: d.updated_on.format("%Y-%m-%d").to_string(),
    };
    json!({
        "type": "Feature",
        "id": site.id.0,
        "geometry": geometry,
        "properties": properties,
    })
}

/// Writes the sites matching `filter` as one `FeatureCollection`, page by page; returns how many features.
#[tracing::instrument(skip_all)]
pub async fn write_geojson<C: ConnectionTrait, W: Write>(
    db: &C,
    actor: &Actor,
    filter: &SiteFilter,
    mut out: W,
) -> Result<u64, SitesError> {
    out.write_all(br#"{"type":"FeatureCollection","features":["#)
        .map_err(io_error)?;
    let mut first = true;
    let count = for_each_page(db, filter, |sites| {
        for site in sites {
            if !first {
                out.write_all(b",\n").map_err(io_error)?;
            }
            first = false;
            serde_json::to_writer(&mut out, &feature(site, actor))
                .map_err(|e| io_error(std::io::Error::other(e)))?;
        }
        out.flush().map_err(io_error)
    })
    .await?;
    out.write_all(b"]}\n").map_err(io_error)?;
    out.flush().map_err(io_error)?;
    Ok(count)
}
