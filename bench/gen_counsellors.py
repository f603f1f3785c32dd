#!/usr/bin/env python3
"""Writes host structures, conseillers numériques and Aidants Connect organisations for the GraphQL bench.

Usage: gen_counsellors.py DIR [COUNSELLORS]   (default 4 000 counsellors)

Writes DIR/structures.csv, DIR/counsellors.csv (for `maillage counsellors import structures|counsellors`) and
DIR/organisations.csv (for `maillage aidants import organisations`), deterministically. Structures are spread over
every department of the communes reference table, one structure per four counsellors, each with an accepted first
post request; every counsellor is active and fills its structure's post. Site assignments are not part of the CSV
import (only the `setCounsellorAssignments` mutation sets them): bench/assign.py does that after the import.
"""

import csv
import os
import random
import sys


def departments():
    """The department codes of the communes reference table, in table order, with one commune each."""
    table = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "sites", "data", "communes.csv")
    seen = {}
    with open(table, encoding="utf-8") as f:
        for r in csv.DictReader(f):
            # The 101 departments: not the overseas collectivities the table also lists (975, 977, 978, 98x).
            if r["departement"] in ("975", "977", "978") or r["departement"].startswith("98"):
                continue
            if r["codes_postaux"] and r["departement"] not in seen:
                seen[r["departement"]] = (r["nom"], r["codes_postaux"].split()[0])
    return list(seen.items())


def siret(n):
    """A 14-digit SIRET whose Luhn key is valid."""
    body = f"{n:013d}"
    for key in range(10):
        digits = [int(c) for c in body + str(key)]
        total = 0
        for i, d in enumerate(reversed(digits)):
            if i % 2 == 1:
                d *= 2
                if d > 9:
                    d -= 9
            total += d
        if total % 10 == 0:
            return body + str(key)
    raise ValueError(n)


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 4000
    deps = departments()
    structures = max(1, n // 4)
    rng = random.Random(42)
    with open(os.path.join(out, "structures.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["siret", "nom", "type", "departement", "code_postal", "commune", "france_services",
                    "postes_demandes", "postes_accordes", "decision_comite", "date_comite",
                    "date_debut_convention", "date_fin_convention"])
        for s in range(structures):
            dep, (commune, cp) = deps[s % len(deps)]
            w.writerow([siret(2000000000 + s), f"Structure {s}", rng.choice(["commune", "association", "epci"]),
                        dep, cp, commune, "oui" if s % 3 == 0 else "non", 4, 4, "validee", "2021-02-10",
                        "2021-03-01", "2023-02-28"])
    with open(os.path.join(out, "counsellors.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "siret_structure", "prenom", "nom", "statut", "email", "date_recrutement", "type_contrat",
                    "part_structure", "poste"])
        for c in range(n):
            s = c % structures
            w.writerow([f"cn-{c:05d}", siret(2000000000 + s), f"Prénom{c}", f"Nom{c}", "actif",
                        f"cn{c}@conseiller-numerique.example", "2021-03-15", "cdd", 20, "initial"])
    with open(os.path.join(out, "organisations.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["siret", "nom", "type", "adresse", "code_postal", "commune", "departement", "france_services",
                    "actif"])
        for o in range(n // 4):
            dep, (commune, cp) = deps[o % len(deps)]
            w.writerow([siret(3000000000 + o), f"Organisation {o}", "commune", "1 place de la Mairie", cp, commune, dep,
                        "oui" if o % 2 == 0 else "non", "oui"])


if __name__ == "__main__":
    main()
