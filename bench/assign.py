#!/usr/bin/env python3
"""Assigns each counsellor to two sites of its department through Maillage's own `setCounsellorAssignments`.

Usage: assign.py URL TOKEN      (URL: the GraphQL endpoint; TOKEN: an admin token)

The CSV import has no assignment column (they are set by the mutation only), so the bench sets them the way a hub
coordinator would: counsellor k of a department (by id) gets the department's sites 2k and 2k+1 by name (40 % each,
20 % for the host), so the first pages of `Department.sites` have counsellors. 25 mutations per document (under
the default alias limit). Prints how many counsellors got sites.
"""

import json
import sys
import urllib.request


def gql(url, token, query, variables=None):
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(url, body, {"content-type": "application/json", "authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=120) as r:
        out = json.load(r)
    if out.get("errors"):
        raise SystemExit(f"GraphQL errors: {out['errors'][:3]}")
    return out["data"]


def main():
    url, token = sys.argv[1], sys.argv[2]
    counsellors, after = [], None
    while True:
        page = gql(url, token, """query($after: String) { counsellors(first: 100, after: $after) {
            pageInfo { hasNextPage endCursor } nodes { id version departmentCode } } }""", {"after": after})
        conn = page["counsellors"]
        counsellors += conn["nodes"]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    by_dep = {}
    for c in counsellors:
        by_dep.setdefault(c["departmentCode"], []).append(c)
    inputs = []
    for dep, cs in sorted(by_dep.items()):
        want = min(100, 2 * len(cs))
        sites = gql(url, token, "query($d: String!, $n: Int!) { department(code: $d) { sites(first: $n) { nodes { id } } } }",
                    {"d": dep, "n": want})["department"]["sites"]["nodes"]
        for k, c in enumerate(cs):
            mine = sites[2 * k:2 * k + 2]
            if mine:
                inputs.append({"counsellorId": c["id"], "version": c["version"], "hostShare": 20,
                               "assignments": [{"siteId": s["id"], "share": 40} for s in mine]})
    done = 0
    for i in range(0, len(inputs), 25):
        chunk = inputs[i:i + 25]
        decl = ", ".join(f"$i{j}: SetCounsellorAssignmentsInput!" for j in range(len(chunk)))
        body = " ".join(f"a{j}: setCounsellorAssignments(input: $i{j}) {{ userErrors {{ message }} }}"
                        for j in range(len(chunk)))
        data = gql(url, token, f"mutation({decl}) {{ {body} }}", {f"i{j}": x for j, x in enumerate(chunk)})
        for j in range(len(chunk)):
            errors = data[f"a{j}"]["userErrors"]
            if errors:
                raise SystemExit(f"setCounsellorAssignments: {errors}")
            done += 1
    print(f"{done} of {len(counsellors)} counsellors assigned to sites")


if __name__ == "__main__":
    main()
