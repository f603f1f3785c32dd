#!/usr/bin/env python3
"""Writes N rows of the national standard "lieux de médiation numérique" v1.0.2 as CSV, deterministically.

Usage: gen_v1.py N [--national] > file.csv

Without --national the rows cycle over eight cities (the import bench's file, unchanged); with it each row lies in a
commune drawn from the communes reference table (crates/sites/data/communes.csv, those with a centre), so every
department has sites, in proportion to its number of communes (the GraphQL bench's national-scale data).

Every row is valid (every required field, vocabularies of the schema, French phone numbers, WGS84 coordinates in
metropolitan France, OSM opening hours); rows differ by id, name, place, services and contact fields, and each
multi-valued field holds one to three values, as real hub files do. The same N always gives the same bytes.
"""

import csv
import os
import random
import sys

COLUMNS = [
    "id", "pivot", "nom", "commune", "code_postal", "code_insee", "adresse", "complement_adresse", "latitude",
    "longitude", "typologie", "telephone", "courriels", "site_web", "horaires", "presentation_resume",
    "presentation_detail", "source", "itinerance", "structure_parente", "date_maj", "services",
    "publics_specifiquement_adresses", "prise_en_charge_specifique", "frais_a_charge",
    "dispositif_programmes_nationaux", "formations_labels", "autres_formations_labels", "modalites_acces",
    "modalites_accompagnement", "fiche_acces_libre", "prise_rdv",
]
SERVICES = [
    "Aide aux démarches administratives", "Maîtrise des outils numériques du quotidien",
    "Insertion professionnelle via le numérique", "Utilisation sécurisée du numérique",
    "Parentalité et éducation avec le numérique", "Loisirs et créations numériques",
    "Compréhension du monde numérique", "Accès internet et matériel informatique",
    "Acquisition de matériel informatique à prix solidaire",
]
PUBLICS = ["Jeunes", "Étudiants", "Familles et/ou enfants", "Seniors", "Femmes"]
FEES = ["Gratuit", "Gratuit sous condition", "Payant"]
PROGRAMMES = ["Aidants Connect", "Conseillers numériques", "France Services", "Certification PIX"]
ACCESS = ["Se présenter", "Téléphoner", "Contacter par mail", "Prendre un RDV en ligne"]
SUPPORT = ["En autonomie", "Accompagnement individuel", "Dans un atelier collectif", "À distance"]
TYPOLOGIES = ["MDS", "BIB", "CCAS", "TIERS_LIEUX", "ASSO", "MUNI"]
# (commune, postal code, INSEE code, latitude, longitude)
PLACES = [
    ("Lyon", "69001", "69381", 45.7676, 4.8344),
    ("Dijon", "21000", "21231", 47.3220, 5.0415),
    ("Marseille", "13001", "13201", 43.2965, 5.3698),
    ("Lille", "59000", "59350", 50.6292, 3.0573),
    ("Rennes", "35000", "35238", 48.1173, -1.6778),
    ("Toulouse", "31000", "31555", 43.6047, 1.4442),
    ("Clermont-Ferrand", "63000", "63113", 45.7772, 3.0870),
    ("Grenoble", "38000", "38185", 45.1885, 5.7245),
]
HOURS = ["Mo-Fr 09:00-12:00,14:00-18:00", "Tu-Sa 10:00-17:00", "Mo,We,Fr 09:00-12:30"]


def pick(rng, values, most):
    return "|".join(rng.sample(values, rng.randint(1, most)))


def national_places():
    """(commune, postal code, INSEE code, latitude, longitude) of every commune with a centre, in table order."""
    table = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "sites", "data", "communes.csv")
    places = []
    with open(table, encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["latitude"] and r["longitude"] and r["codes_postaux"]:
                places.append((r["nom"], r["codes_postaux"].split()[0], r["insee"], float(r["latitude"]),
                               float(r["longitude"])))
    return places


def row(i, places=None):
    rng = random.Random(i)
    if places is None:
        commune, cp, insee, lat, lon = PLACES[i % len(PLACES)]
    else:
        commune, cp, insee, lat, lon = places[rng.randrange(len(places))]
    return {
        "id": f"bench-{i:07d}",
        "pivot": f"{21000000000000 + i:014d}",
        "nom": f"Espace numérique {i}",
        "commune": commune,
        "code_postal": cp,
        "code_insee": insee,
        "adresse": f"{rng.randint(1, 200)} rue de la République",
        "complement_adresse": "Bâtiment B" if i % 5 == 0 else "",
        "latitude": f"{lat + rng.uniform(-0.05, 0.05) * (1 if places is None else 0.2):.6f}",
        "longitude": f"{lon + rng.uniform(-0.05, 0.05) * (1 if places is None else 0.2):.6f}",
        "typologie": rng.choice(TYPOLOGIES),
        "telephone": f"+3347{rng.randint(0, 9999999):07d}",
        "courriels": f"contact{i}@example.org",
        "site_web": f"https://lieu-{i}.example.org",
        "horaires": rng.choice(HOURS),
        "presentation_resume": "Accompagnement aux usages numériques.",
        "presentation_detail": "",
        "source": "bench",
        "itinerance": "Fixe",
        "structure_parente": "",
        "date_maj": f"2024-{i % 12 + 1:02d}-{i % 28 + 1:02d}",
        "services": pick(rng, SERVICES, 3),
        "publics_specifiquement_adresses": pick(rng, PUBLICS, 2),
        "prise_en_charge_specifique": "",
        "frais_a_charge": rng.choice(FEES),
        "dispositif_programmes_nationaux": pick(rng, PROGRAMMES, 2),
        "formations_labels": "",
        "autres_formations_labels": "",
        "modalites_acces": pick(rng, ACCESS, 2),
        "modalites_accompagnement": pick(rng, SUPPORT, 2),
        "fiche_acces_libre": "",
        "prise_rdv": "",
    }


def main():
    n = int(sys.argv[1])
    places = national_places() if "--national" in sys.argv[2:] else None
    w = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for i in range(n):
        w.writerow(row(i, places))


if __name__ == "__main__":
    main()
