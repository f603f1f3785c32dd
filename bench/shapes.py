#!/usr/bin/env python3
"""The GraphQL bench's query shapes, for Maillage and for PostGraphile v5 (amber preset, Maillage's own tables).

Usage:
  shapes.py list                         the shape names, one a line
  shapes.py body ENGINE SHAPE            the JSON request body (ENGINE: maillage or postgraphile)
  shapes.py check MAILLAGE_URL [POSTGRAPHILE_URL]
                                         runs every shape once on each engine and compares the data (exit 1 if
                                         they differ); without POSTGRAPHILE_URL only checks Maillage answers

Both engines are asked for the same rows in the same order (sites by folded name then id, Maillage's default
order, which PostGraphile gets as `orderBy: [SORT_NAME_ASC, ROW_ID_ASC]`, and the same `archived_at IS NULL`,
`merged_into IS NULL` conditions); each answer is reduced to plain tuples before comparing, so field names and
nesting may differ. Hubs, departments and counsellors of a site are compared as sets (their order is not the
point of the shape); sites are compared in order. Q6 (sites per department and service for a hub, through
`statistics { sites }`) is Maillage only: PostGraphile has no aggregate over `site_value` without a plugin, which
the bench does not add; the check compares its counts with the sites lists' `totalCount` instead.
"""

import json
import sys
import urllib.error
import urllib.request

HUB = "hinaura"
DEPARTMENT = "69"
SITE = "bench-0000042"
SERVICES = [
    "Aide aux démarches administratives", "Maîtrise des outils numériques du quotidien",
    "Insertion professionnelle via le numérique", "Utilisation sécurisée du numérique",
    "Parentalité et éducation avec le numérique", "Loisirs et créations numériques",
    "Compréhension du monde numérique", "Accès internet et matériel informatique",
    "Acquisition de matériel informatique à prix solidaire",
]
# Q6's counts through the lists' totalCount (9 aliases per department), which the check compares with the
# statistics answer that the bench drives.
Q6_ALIASES = "{ hub(slug: \"%s\") { departments { code %s } } }" % (
    HUB, " ".join(f"s{i}: sites(first: 0, filter: {{services: [{json.dumps(s)}]}}) {{ totalCount }}"
                  for i, s in enumerate(SERVICES)))
# PostGraphile: the sites Maillage lists (live, canonical), in its order.
PG_SITES = "orderBy: [SORT_NAME_ASC, ROW_ID_ASC], condition: {archivedAt: null, mergedInto: null}"

SHAPES = {
    "Q1": {
        "what": "a page of 50 sites with department and region",
        "maillage": """{ sites(first: 50) { nodes { sourceId name commune postalCode
            department { code name region { name } } } } }""",
        "postgraphile": f"""{{ allSites(first: 50, {PG_SITES}) {{ nodes {{ sourceId name commune postalCode
            departmentByDepartmentCode {{ code name regionByRegionCode {{ name }} }} }} }} }}""",
    },
    "Q2": {
        "what": "hubs → departments → first 20 sites each",
        "maillage": """{ hubs { slug departments { code sites(first: 20) { nodes { sourceId name } } } } }""",
        "postgraphile": f"""{{ allHubs {{ nodes {{ slug hubDepartmentsByHubId {{ nodes {{
            departmentByDepartmentCode {{ code sitesByDepartmentCode(first: 20, {PG_SITES}) {{
            nodes {{ sourceId name }} }} }} }} }} }} }} }}""",
    },
    "Q3": {
        "what": f"department {DEPARTMENT}'s first 50 sites with totalCount",
        "maillage": f"""{{ department(code: "{DEPARTMENT}") {{ sites(first: 50) {{ totalCount
            nodes {{ sourceId name }} }} }} }}""",
        "postgraphile": f"""{{ departmentByCode(code: "{DEPARTMENT}") {{ sitesByDepartmentCode(first: 50,
            {PG_SITES}) {{ totalCount nodes {{ sourceId name }} }} }} }}""",
    },
    "Q4": {
        "what": "one site with its department, hubs and counsellors",
        "maillage": f"""{{ site(source: "bench", sourceId: "{SITE}") {{ name department {{ name }}
            hubs {{ slug }} counsellors {{ externalId }} }} }}""",
        "postgraphile": f"""{{ allSites(condition: {{source: "bench", sourceId: "{SITE}"}}) {{ nodes {{ name
            departmentByDepartmentCode {{ name hubDepartmentsByDepartmentCode {{ nodes {{ hubByHubId {{ slug }} }} }} }}
            counsellorAssignmentsBySiteId {{ nodes {{ counsellorByCounsellorId {{ externalId }} }} }} }} }} }}""",
    },
    "Q5": {
        "what": "hubs → departments → sites(first: 20) → counsellors",
        "maillage": """{ hubs { slug departments { code sites(first: 20) { nodes { sourceId
            counsellors { externalId } } } } } }""",
        "postgraphile": f"""{{ allHubs {{ nodes {{ slug hubDepartmentsByHubId {{ nodes {{
            departmentByDepartmentCode {{ code sitesByDepartmentCode(first: 20, {PG_SITES}) {{ nodes {{ sourceId
            counsellorAssignmentsBySiteId {{ nodes {{ counsellorByCounsellorId {{ externalId }} }} }} }} }} }} }} }} }}
            }} }}""",
    },
    "Q6": {
        "what": f"Maillage only: sites per department and service for hub {HUB} (statistics API)",
        "maillage": """{ statistics { sites(by: [DEPARTMENT, SERVICE], filter: {hub: "%s"}) {
            rows { keys { key } count } } } }""" % HUB,
        "postgraphile": None,
    },
}


def reduce(shape, engine, data):
    """The answer as plain, comparable values."""
    m = engine == "maillage"
    if shape == "Q1":
        nodes = data["sites"]["nodes"] if m else data["allSites"]["nodes"]
        out = []
        for n in nodes:
            d = n["department"] if m else n["departmentByDepartmentCode"]
            r = d["region"] if m else d["regionByRegionCode"]
            out.append((n["sourceId"], n["name"], n["commune"], n["postalCode"], d["code"], d["name"], r["name"]))
        return out
    if shape in ("Q2", "Q5"):
        hubs = {}
        for h in (data["hubs"] if m else data["allHubs"]["nodes"]):
            deps = h["departments"] if m else [x["departmentByDepartmentCode"]
                                               for x in h["hubDepartmentsByHubId"]["nodes"]]
            per = {}
            for d in deps:
                sites = d["sites"]["nodes"] if m else d["sitesByDepartmentCode"]["nodes"]
                if shape == "Q2":
                    per[d["code"]] = [(s["sourceId"], s["name"]) for s in sites]
                else:
                    per[d["code"]] = [(s["sourceId"], sorted(
                        c["externalId"] for c in s["counsellors"]) if m else sorted(
                        a["counsellorByCounsellorId"]["externalId"]
                        for a in s["counsellorAssignmentsBySiteId"]["nodes"])) for s in sites]
            hubs[h["slug"]] = per
        return hubs
    if shape == "Q3":
        c = data["department"]["sites"] if m else data["departmentByCode"]["sitesByDepartmentCode"]
        return (c["totalCount"], [(s["sourceId"], s["name"]) for s in c["nodes"]])
    if shape == "Q4":
        s = data["site"] if m else data["allSites"]["nodes"][0]
        if m:
            return (s["name"], s["department"]["name"], sorted(h["slug"] for h in s["hubs"]),
                    sorted(c["externalId"] for c in s["counsellors"]))
        d = s["departmentByDepartmentCode"]
        return (s["name"], d["name"], sorted(x["hubByHubId"]["slug"] for x in d["hubDepartmentsByDepartmentCode"]["nodes"]),
                sorted(a["counsellorByCounsellorId"]["externalId"] for a in s["counsellorAssignmentsBySiteId"]["nodes"]))
    if shape == "Q6":
        # {(department, service): count} for the bench's nine services, from either Maillage form.
        if "statistics" in data:
            return {(r["keys"][0]["key"], r["keys"][1]["key"]): r["count"]
                    for r in data["statistics"]["sites"]["rows"] if r["keys"][1]["key"] in SERVICES and r["count"]}
        return {(d["code"], SERVICES[i]): d[f"s{i}"]["totalCount"]
                for d in data["hub"]["departments"] for i in range(len(SERVICES)) if d[f"s{i}"]["totalCount"]}
    raise KeyError(shape)


def body(engine, shape):
    return json.dumps({"query": " ".join(SHAPES[shape][engine].split())})


def post(url, payload):
    req = urllib.request.Request(url, payload.encode(), {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            out = json.load(r)
    except urllib.error.HTTPError as e:
        out = json.load(e)
    if out.get("errors"):
        raise SystemExit(f"{url}: {json.dumps(out['errors'])[:600]}")
    return out["data"]


def size(value):
    """Rows in a reduced answer (sites, or departments for Q6), to show the check compared something."""
    if isinstance(value, dict):
        return sum(size(v) for v in value.values()) if value else 0
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], list):
        return len(value[1])
    if isinstance(value, list):
        return len(value)
    return 1


def check(murl, gurl):
    ok = True
    for shape, s in SHAPES.items():
        mine = reduce(shape, "maillage", post(murl, body("maillage", shape)))
        if shape == "Q6":
            # Maillage only: the statistics answer must agree with the lists' totalCount.
            lists = reduce(shape, "maillage", post(murl, json.dumps({"query": " ".join(Q6_ALIASES.split())})))
            if mine == lists:
                print(f"{shape} {s['what']}: same counts as the lists' totalCount ({len(mine)} groups)")
            else:
                ok = False
                print(f"{shape}: statistics and totalCount DIFFER\n  statistics: {str(sorted(mine.items()))[:400]}\n"
                      f"  totalCount: {str(sorted(lists.items()))[:400]}")
            continue
        if not gurl:
            print(f"{shape} {s['what']}: Maillage answered ({size(mine)} rows)")
            continue
        theirs = reduce(shape, "postgraphile", post(gurl, body("postgraphile", shape)))
        if mine == theirs:
            print(f"{shape} {s['what']}: same data ({size(mine)} rows)")
        else:
            ok = False
            print(f"{shape} {s['what']}: DIFFERENT\n  maillage:     {str(mine)[:400]}\n"
                  f"  postgraphile: {str(theirs)[:400]}")
    return ok


def main():
    cmd = sys.argv[1]
    if cmd == "list":
        print("\n".join(SHAPES))
    elif cmd == "what":
        print(SHAPES[sys.argv[2]]["what"])
    elif cmd == "body":
        print(body(sys.argv[2], sys.argv[3]))
    elif cmd == "has":
        sys.exit(0 if SHAPES[sys.argv[3]][sys.argv[2]] else 1)
    elif cmd == "check":
        sys.exit(0 if check(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None) else 1)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
