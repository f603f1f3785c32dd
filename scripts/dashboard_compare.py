"""Compares the numbers a /dashboard DOM (dumped by headless Chromium) shows with the GraphQL API's answer.

Usage: dashboard_compare.py GRAPHQL_URL LEVEL ITEM DOM_FILE   (exit 1 and a list of differences when they differ)
"""
import html.parser
import json
import re
import sys
import urllib.request

url, level, item, dom_file = sys.argv[1:5]


def gql(query, variables=None):
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json", "Accept": "application/json"})
    answer = json.load(urllib.request.urlopen(req))
    if answer.get("errors"):
        sys.exit(f"dashboard-check: API error {answer['errors']}")
    return answer["data"]


class Shown(html.parser.HTMLParser):
    """Collects the text of the elements carrying data-figure, data-chart/data-key or data-indicator/data-kind."""

    def __init__(self):
        super().__init__()
        self.stack, self.figures, self.ready = [], {}, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.ready = a.get("data-ready")
        key = None
        if "data-figure" in a:
            key = ("figure", a["data-figure"])
        elif "data-chart" in a:
            key = (a["data-chart"], a.get("data-key"))
        elif "data-indicator" in a:
            key = ("indicator-" + a.get("data-kind", ""), a["data-indicator"])
        self.stack.append([key, ""])

    def handle_endtag(self, tag):
        if self.stack:
            key, text = self.stack.pop()
            if key:
                self.figures[key] = text

    def handle_data(self, data):
        for entry in self.stack:
            entry[1] += data


def number(text):
    digits = re.sub(r"[^0-9,-]", "", text).replace(",", ".")
    return float(re.match(r"-?[0-9.]+", digits).group(0)) if re.match(r"-?[0-9.]+", digits) else None


shown = Shown()
shown.feed(open(dom_file, encoding="utf-8").read())
if shown.ready != "1":
    sys.exit(f"dashboard-check: the page did not finish ({level} {item}): data-ready={shown.ready!r}")

site_filter = {"nation": {}, "hub": {"hub": item}, "department": {"departments": [item]}}[level]
data = gql(
    """query($f: SiteFilter) { sites(filter: $f, first: 0) { totalCount }
       departments { code hubs { slug } sites(first: 0) { totalCount } }
       hubs { slug departments { code } reportedIndicators { code value } }
       hubNetworkIndicators { code value } }""",
    {"f": site_filter},
)
expected = {("figure", "total-sites"): data["sites"]["totalCount"]}
for d in data["departments"]:
    in_scope = level == "nation" or (level == "hub" and any(h["slug"] == item for h in d["hubs"])) or (
        level == "department" and d["code"] == item)
    if in_scope and d["sites"]["totalCount"] > 0:
        expected[("departments", d["code"])] = d["sites"]["totalCount"]
if level == "nation":
    for i in data["hubNetworkIndicators"]:
        expected[("indicator-reported", i["code"])] = i["value"]
    expected[("indicator-measured", "sites_mapped")] = data["sites"]["totalCount"]
    expected[("indicator-measured", "hubs")] = len(data["hubs"])
    expected[("indicator-measured", "departments_covered")] = sum(1 for d in data["departments"] if d["hubs"])
elif level == "hub":
    hub = next(h for h in data["hubs"] if h["slug"] == item)
    for i in hub["reportedIndicators"]:
        expected[("indicator-reported", i["code"])] = i["value"]

problems = []
for key, value in expected.items():
    text = shown.figures.get(key)
    if text is None:
        problems.append(f"{key}: not shown (API: {value})")
    elif number(text.replace("\u202f", "").replace("\u00a0", "").replace(" ", "")) != float(value):
        problems.append(f"{key}: shown {text!r}, API {value}")
extra = [k for k in shown.figures if k[0] == "departments" and k not in expected]
problems += [f"{k}: shown but the API has no site there" for k in extra]
if problems:
    sys.exit("dashboard-check: the page differs from the API (%s %s):\n  %s" % (level, item, "\n  ".join(problems)))
print(f"dashboard-check: {level} {item or ''}: {len(expected)} numbers shown equal the API's "
      f"({data['sites']['totalCount']} sites)")
