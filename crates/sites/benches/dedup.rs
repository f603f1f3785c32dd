//! Matching bench: generates sites with realistic duplicates, times `find_candidates`, and checks its output
//! against the generator's truth (precision and recall on known duplicates).
//!
//! `cargo bench -p maillage-sites --bench dedup` runs 10 000 and 100 000 sites; pass sizes to run others
//! (`cargo bench -p maillage-sites --bench dedup -- 1000 20000`). Deterministic: a fixed seed.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use maillage_sites::dedup::{MatchInput, find_candidates};
use std::collections::{HashMap, HashSet};
use std::time::Instant;

mod common;
use common::Rng;

const KINDS: &[&str] = &[
    "Médiathèque",
    "Mairie de",
    "France services",
    "Espace numérique",
    "Centre social",
    "Tiers-lieu",
    "EPN",
    "Association",
    "Bibliothèque",
    "Maison de quartier",
    "CCAS de",
    "Fab lab",
];
const NAMES: &[&str] = &[
    "Jean Moulin",
    "Louis Aragon",
    "Victor Hugo",
    "les Tilleuls",
    "la Fontaine",
    "du Centre",
    "Saint-Martin",
    "Pasteur",
    "Jules Ferry",
    "des Écrins",
    "Émile Zola",
    "la Gare",
    "Marie Curie",
    "du Lac",
    "Montaigne",
    "Voltaire",
    "les Cèdres",
    "la Source",
    "Sainte-Anne",
    "du Port",
    "Molière",
    "Rabelais",
    "Colette",
];
const STREETS: &[&str] = &[
    "rue",
    "avenue",
    "boulevard",
    "place",
    "chemin",
    "allée",
    "impasse",
    "route",
    "quai",
    "cours",
];
const STREET_NAMES: &[&str] = &[
    "de la République",
    "Victor Hugo",
    "Jean Jaurès",
    "du Général de Gaulle",
    "Pasteur",
    "de la Gare",
    "Gambetta",
    "des Écoles",
    "de l'Église",
    "Saint-Pierre",
    "du 8 Mai 1945",
    "Carnot",
    "Foch",
    "de la Liberté",
    "des Lilas",
    "du Moulin",
];
const SOURCES: &[&str] = &[
    "hub",
    "conseiller-numerique",
    "france-services",
    "dora",
    "cartographie",
];

struct Place {
    name: String,
    commune: String,
    department: String,
    address: String,
    lat: f64,
    lon: f64,
    phone: Option<String>,
    email: Option<String>,
    web: Option<String>,
}

fn place(rng: &mut Rng, i: usize, communes: usize) -> Place {
    let commune = rng.below(communes);
    let department = format!("{:02}", 1 + commune % 95);
    // Communes on a grid over mainland France, each a few kilometres wide.
    let (clat, clon) = (
        42.5 + (commune / 200) as f64 * 0.035,
        -1.5 + (commune % 200) as f64 * 0.045,
    );
    let name = format!("{} {}", rng.pick(KINDS), rng.pick(NAMES));
    Place {
        name,
        commune: format!("Commune {commune}"),
        department,
        address: format!(
            "{} {} {}",
            1 + rng.below(120),
            rng.pick(STREETS),
            rng.pick(STREET_NAMES)
        ),
        lat: clat + (rng.below(2000) as f64 - 1000.0) * 0.00002,
        lon: clon + (rng.below(2000) as f64 - 1000.0) * 0.00003,
        phone: rng
            .chance(55)
            .then(|| format!("+33{}", 100_000_000 + i * 7 % 899_999_999)),
        email: rng.chance(40).then(|| format!("contact{i}@lieu{i}.fr")),
        web: rng
            .chance(30)
            .then(|| format!("https://www.lieu{i}.fr/accueil")),
    }
}

/// Another source's spelling of `p`: case, abbreviations, accents, formatting, coordinates a few metres off,
/// some fields missing.
fn respell(rng: &mut Rng, p: &Place) -> Place {
    let mut name = p.name.clone();
    if rng.chance(30) {
        name = name.to_uppercase();
    }
    if rng.chance(30) {
        name = name.replace("Saint-", "St ").replace("Sainte-", "Ste ");
    }
    if rng.chance(20) {
        name = name
            .replace("Médiathèque", "Mediatheque")
            .replace('É', "E")
            .replace('é', "e");
    }
    let mut address = p
        .address
        .replace("avenue", "av.")
        .replace("boulevard", "bd");
    if rng.chance(30) {
        address = address.to_uppercase();
    }
    Place {
        name,
        commune: p.commune.to_uppercase(),
        department: p.department.clone(),
        address,
        lat: p.lat + (rng.below(40) as f64 - 20.0) * 0.000_005,
        lon: p.lon + (rng.below(40) as f64 - 20.0) * 0.000_005,
        phone: p
            .phone
            .as_ref()
            .filter(|_| rng.chance(70))
            .map(|t| format!("0{}", &t[3..])),
        email: p.email.clone().filter(|_| rng.chance(60)),
        web: p.web.clone().filter(|_| rng.chance(60)),
    }
}

fn record(id: i32, source: &str, p: Place) -> MatchInput {
    MatchInput {
        id,
        source: source.to_owned(),
        source_label: None,
        pivot: "00000000000000".to_owned(),
        name: p.name,
        commune: p.commune,
        insee_code: None,
        department_code: Some(p.department),
        address: p.address,
        latitude: Some(p.lat),
        longitude: Some(p.lon),
        phone: p.phone,
        emails: p.email,
        website: p.web,
    }
}

/// `n` records: about 80 % distinct places, 20 % second copies of one of them from another source.
fn generate(n: usize) -> (Vec<MatchInput>, HashSet<(i32, i32)>) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // About one commune per 3 sites, as in the national cartography.
    let communes = (n / 3).max(10);
    let mut out = Vec::with_capacity(n);
    let mut truth = HashSet::new();
    let mut places: Vec<(i32, usize, Place)> = Vec::new();
    while out.len() < n {
        let id = out.len() as i32 + 1;
        if !places.is_empty() && rng.chance(20) {
            let (orig_id, orig_source, p) = &places[rng.below(places.len())];
            let copy = respell(&mut rng, p);
            let source = (orig_source + 1 + rng.below(SOURCES.len() - 1)) % SOURCES.len();
            truth.insert((*orig_id, id));
            out.push(record(id, SOURCES[source], copy));
        } else {
            let p = place(&mut rng, id as usize, communes);
            let source = rng.below(SOURCES.len());
            let stored = Place {
                name: p.name.clone(),
                commune: p.commune.clone(),
                department: p.department.clone(),
                address: p.address.clone(),
                lat: p.lat,
                lon: p.lon,
                phone: p.phone.clone(),
                email: p.email.clone(),
                web: p.web.clone(),
            };
            out.push(record(id, SOURCES[source], p));
            places.push((id, source, stored));
        }
    }
    (out, truth)
}

/// CPU time of this process in milliseconds (user + system, from `/proc/self/stat`), when the system tells it:
/// on a shared machine the wall-clock time mostly measures the other processes.
fn cpu_ms() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(ticks * 10)
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    println!(
        "sites\tcandidates\ttrue dups\tprecision\trecall\tgenerate (ms)\tmatch wall (ms)\tmatch cpu (ms)"
    );
    for n in sizes {
        let started = Instant::now();
        let (records, truth) = generate(n);
        let generated = started.elapsed();
        let started = Instant::now();
        let cpu_before = cpu_ms();
        let found = find_candidates(&records, None);
        let matched = started.elapsed();
        let cpu = cpu_before
            .zip(cpu_ms())
            .map_or_else(|| "n/a".to_owned(), |(b, a)| (a - b).to_string());
        // Two copies of one place are also a true pair: compare the places the records stand for.
        let original: HashMap<i32, i32> = truth.iter().map(|(o, c)| (*c, *o)).collect();
        let place_of = |id: i32| original.get(&id).copied().unwrap_or(id);
        let correct = found
            .iter()
            .filter(|c| place_of(c.a) == place_of(c.b))
            .count();
        let pairs: HashSet<(i32, i32)> = found.iter().map(|c| (c.a, c.b)).collect();
        let recalled = truth.iter().filter(|p| pairs.contains(p)).count();
        println!(
            "{n}\t{}\t{}\t{:.3}\t{:.3}\t{}\t{}\t{cpu}",
            found.len(),
            truth.len(),
            correct as f64 / found.len().max(1) as f64,
            recalled as f64 / truth.len().max(1) as f64,
            generated.as_millis(),
            matched.as_millis()
        );
    }
}
