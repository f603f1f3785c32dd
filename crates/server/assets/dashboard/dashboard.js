// Maillage dashboard: reads the public GraphQL API only (with the token typed in, if any) and draws a map, charts
// and the reported-versus-measured table. Every figure can be downloaded as CSV, built here from the same answer.
// Scope and measure can be set in the URL: /dashboard?level=hub&item=hinaura&measure=sites
"use strict";

const API = "/graphql";
const PAGE = 100; // the API's largest page
const MAX_PAGES = 60; // 6 000 sites per scope at most: the page stays light; the summary says when it stops short

// The vendored map (viewBox 613×585) is a Mercator projection; these constants were fitted on the bounding boxes of
// seven departments at the edges of France (Finistère, Nord, Bas-Rhin, Alpes-Maritimes, Pyrénées-Atlantiques,
// Pyrénées-Orientales, Corse-du-Sud): residuals under 4 px.
const MAP = { sx: 41.949, tx: 212.683, sy: 41.397, ty: 2467.921 };
function project(lon, lat) {
  const mercY = -Math.log(Math.tan(Math.PI / 4 + (lat * Math.PI) / 360)) * (180 / Math.PI);
  return [MAP.sx * lon + MAP.tx, MAP.sy * mercY + MAP.ty];
}

const META = `{
  regions { code name }
  departments { code name region { code } hubs { slug } sites(first: 0) { totalCount } }
  hubs { slug name website departments { code } reportedIndicators { code name value unit observedOn source } }
  hubNetworkIndicators { code name value unit observedOn source }
}`;
const SITES = `query($filter: SiteFilter, $after: String) {
  sites(filter: $filter, first: ${PAGE}, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { latitude longitude services updatedOn department { code } }
  }
}`;

const $ = (id) => document.getElementById(id);
const fmt = (n) => new Intl.NumberFormat("fr-FR").format(n);
const state = { meta: null, figures: {} };

async function gql(query, variables) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  const token = $("token").value.trim();
  if (token) headers.Authorization = "Bearer " + token;
  const response = await fetch(API, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  const body = await response.json();
  if (body.errors) throw new Error(body.errors.map((e) => e.message).join(" ; "));
  return body.data;
}

// The scope as chosen: which departments it covers, the sites filter, its reported figures.
function scope() {
  const m = state.meta;
  const level = $("level").value;
  const item = $("item").value;
  const all = m.departments;
  if (level === "region") {
    const r = m.regions.find((x) => x.code === item);
    return { title: r.name, filter: { region: item }, departments: all.filter((d) => d.region.code === item),
      reported: null };
  }
  if (level === "hub") {
    const h = m.hubs.find((x) => x.slug === item);
    const codes = new Set(h.departments.map((d) => d.code));
    return { title: "Hub " + h.name, filter: { hub: item }, departments: all.filter((d) => codes.has(d.code)),
      reported: h.reportedIndicators, hub: h };
  }
  if (level === "department") {
    const d = all.find((x) => x.code === item);
    return { title: d.name + " (" + d.code + ")", filter: { departments: [item] }, departments: [d], reported: null };
  }
  return { title: "France entière", filter: {}, departments: all, reported: m.hubNetworkIndicators, nation: true };
}

function fillItems() {
  const m = state.meta;
  const level = $("level").value;
  const options = {
    region: m.regions.map((r) => [r.code, r.name]),
    hub: m.hubs.map((h) => [h.slug, h.name]),
    department: m.departments.map((d) => [d.code, d.code + " " + d.name]),
  }[level] || [];
  $("item").replaceChildren(...options.map(([value, label]) => new Option(label, value)));
  $("item-label").hidden = options.length === 0;
}

async function loadSites(filter) {
  const nodes = [];
  let after = null;
  let total = 0;
  for (let page = 0; page < MAX_PAGES; page++) {
    const { sites } = await gql(SITES, { filter, after });
    total = sites.totalCount;
    nodes.push(...sites.nodes);
    if (!sites.pageInfo.hasNextPage) break;
    after = sites.pageInfo.endCursor;
  }
  return { total, nodes };
}

function count(values) {
  const out = new Map();
  for (const v of values) out.set(v, (out.get(v) || 0) + 1);
  return [...out.entries()];
}

async function render() {
  $("status").textContent = "Chargement…";
  document.body.dataset.ready = "";
  const s = scope();
  const { total, nodes } = await loadSites(s.filter);
  $("title").textContent = s.title;
  $("total-sites").textContent = fmt(total);
  const located = new Map(count(nodes.filter((n) => n.latitude != null).map((n) => n.department && n.department.code)));

  const departments = s.departments.map((d) => ({ code: d.code, name: d.name, sites: d.sites.totalCount,
    located: located.get(d.code) || 0 }));
  const services = count(nodes.flatMap((n) => n.services)).sort((a, b) => b[1] - a[1]);
  const months = count(nodes.map((n) => n.updatedOn.slice(0, 7))).sort((a, b) => a[0].localeCompare(b[0]));
  state.figures = {
    departments: [["code", "departement", "lieux", "lieux_geolocalises"],
      ...departments.map((d) => [d.code, d.name, d.sites, d.located])],
    services: [["service", "lieux"], ...services],
    months: [["mois", "lieux"], ...months],
    indicators: indicatorRows(s, total),
  };
  drawMap(s, departments, nodes);
  barChart($("chart-departments"), "departments",
    departments.filter((d) => d.sites > 0).sort((a, b) => b.sites - a.sites).map((d) => [d.code, d.code + " " + d.name, d.sites]));
  barChart($("chart-services"), "services", services.map(([k, v]) => [k, k, v]));
  columnChart($("chart-months"), months);
  drawIndicators();
  const shortBy = total - nodes.length;
  $("status").textContent = shortBy > 0
    ? `Carte et graphiques sur ${fmt(nodes.length)} lieux lus (sur ${fmt(total)}).`
    : `${fmt(total)} lieux lus.`;
  document.body.dataset.ready = "1";
}

// Reported figures beside what Maillage measures for the same code (when it measures it).
function indicatorRows(s, totalSites) {
  const measured = {
    sites_mapped: totalSites,
    departments_covered: s.nation
      ? state.meta.departments.filter((d) => d.hubs.length > 0).length
      : s.hub ? s.hub.departments.length : null,
    hubs: s.nation ? state.meta.hubs.length : null,
  };
  return [["code", "indicateur", "declare", "unite", "date", "source", "mesure"],
    ...(s.reported || []).map((i) => [i.code, i.name, i.value, i.unit, i.observedOn, i.source,
      measured[i.code] ?? ""])];
}

function drawIndicators() {
  const rows = state.figures.indicators.slice(1);
  const tbody = $("indicators").tBodies[0];
  if (rows.length === 0) {
    const tr = tbody.insertRow();
    tbody.replaceChildren(tr);
    const td = tr.insertCell();
    td.colSpan = 4;
    td.textContent = "Aucun chiffre déclaré pour ce territoire.";
    return;
  }
  tbody.replaceChildren(...rows.map(([code, name, value, unit, date, source, measured]) => {
    const tr = document.createElement("tr");
    const cell = (text, cls, kind) => {
      const td = tr.insertCell();
      td.textContent = text;
      if (cls) td.className = cls;
      if (kind) { td.dataset.indicator = code; td.dataset.kind = kind; }
    };
    cell(name);
    cell(fmt(value) + " " + unit, "num", "reported");
    cell(new Date(date).toLocaleDateString("fr-FR", { year: "numeric", month: "long", day: "numeric" }) + " — " + source);
    cell(measured === "" ? "—" : fmt(measured) + " " + unit, "num", "measured");
    return tr;
  }));
}

const SVG = "http://www.w3.org/2000/svg";
function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

const SHADES = ["#e3e3fd", "#b9b9f7", "#8585f6", "#5151d3", "#000091"];
async function drawMap(s, departments, nodes) {
  if (!state.svg) {
    const text = await (await fetch("/dashboard/france-departments.svg")).text();
    state.svg = new DOMParser().parseFromString(text, "image/svg+xml").documentElement;
  }
  const svg = document.importNode(state.svg, true);
  const key = $("measure").value === "located" ? "located" : "sites";
  const values = new Map(departments.map((d) => [d.code, d[key]]));
  const max = Math.max(1, ...values.values());
  const shade = (v) => SHADES[Math.min(SHADES.length - 1, Math.floor((v / max) * SHADES.length))];
  for (const path of svg.querySelectorAll("path")) {
    const v = values.get(path.id);
    if (v === undefined) path.setAttribute("class", "out");
    else path.setAttribute("fill", v === 0 ? "#f0f0f7" : shade(v));
    const title = el("title", {}, path.getAttribute("aria-label") + (v === undefined ? "" : " : " + fmt(v)));
    path.appendChild(title);
  }
  for (const n of nodes) {
    if (n.latitude == null || n.latitude < 41 || n.longitude < -5.5 || n.longitude > 10) continue; // metropolitan
    const [x, y] = project(n.longitude, n.latitude);
    svg.appendChild(el("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 1.6 }));
  }
  $("map").replaceChildren(svg);
  $("legend").replaceChildren(document.createTextNode("0"), ...SHADES.map((c) => {
    const i = document.createElement("i");
    i.style.background = c;
    return i;
  }), document.createTextNode(fmt(max) + (key === "located" ? " lieux géolocalisés" : " lieux") + " ; points : lieux"));
  const overseas = departments.filter((d) => d.code.length === 3);
  $("overseas").textContent = overseas.length
    ? "Outre-mer (hors carte) : " + overseas.map((d) => `${d.name} ${fmt(d[key])}`).join(", ")
    : "";
}

// Horizontal bars, one per row [key, label, value]; the value is written at the end of its bar.
function barChart(container, name, rows) {
  const width = 520, bar = 16, labelWidth = 210;
  const max = Math.max(1, ...rows.map((r) => r[2]));
  const svg = el("svg", { class: "chart", viewBox: `0 0 ${width} ${rows.length * bar + 4}`, width: "100%" });
  rows.forEach(([key, label, value], i) => {
    const y = i * bar + 2;
    svg.appendChild(el("text", { x: labelWidth - 4, y: y + 11, "text-anchor": "end" }, label.slice(0, 38)));
    const w = ((width - labelWidth - 50) * value) / max;
    svg.appendChild(el("rect", { x: labelWidth, y, width: w.toFixed(1), height: bar - 4 }));
    svg.appendChild(el("text", { x: labelWidth + w + 4, y: y + 11, "data-chart": name, "data-key": key }, fmt(value)));
  });
  container.replaceChildren(rows.length ? svg : document.createTextNode("Aucun lieu."));
}

// Columns per month, with the count above each column.
function columnChart(container, rows) {
  const height = 170, col = Math.max(8, Math.min(40, 1000 / Math.max(1, rows.length)));
  const max = Math.max(1, ...rows.map((r) => r[1]));
  const svg = el("svg", { class: "chart", viewBox: `0 0 ${rows.length * col + 10} ${height + 34}`, width: "100%" });
  rows.forEach(([month, value], i) => {
    const h = ((height - 14) * value) / max;
    const x = i * col + 5;
    svg.appendChild(el("rect", { x, y: height - h, width: col - 2, height: h }));
    svg.appendChild(el("text", { x: x + col / 2, y: height - h - 2, "text-anchor": "middle", "data-chart": "months",
      "data-key": month }, fmt(value)));
    svg.appendChild(el("text", { x: x + col / 2, y: height + 12, "text-anchor": "middle" }, month.slice(2)));
  });
  container.replaceChildren(rows.length ? svg : document.createTextNode("Aucun lieu."));
}

function csvText(rows) {
  const cell = (v) => {
    const s = String(v ?? "");
    return /[",\n;]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  };
  return rows.map((r) => r.map(cell).join(",")).join("\r\n") + "\r\n";
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-csv]");
  if (!link) return;
  const rows = state.figures[link.dataset.csv];
  if (!rows) { event.preventDefault(); return; }
  link.href = URL.createObjectURL(new Blob([csvText(rows)], { type: "text/csv;charset=utf-8" }));
  link.download = `maillage-${link.dataset.csv}-${$("level").value}${$("item").value ? "-" + $("item").value : ""}.csv`;
});

function fail(e) {
  $("status").textContent = "Erreur : " + e.message;
  document.body.dataset.ready = "error";
}

async function start() {
  const params = new URLSearchParams(location.search);
  $("token").value = sessionStorage.getItem("maillage-token") || "";
  state.meta = await gql(META);
  if (params.get("level")) $("level").value = params.get("level");
  fillItems();
  if (params.get("item")) $("item").value = params.get("item");
  if (params.get("measure")) $("measure").value = params.get("measure");
  $("level").addEventListener("change", () => { fillItems(); render().catch(fail); });
  $("item").addEventListener("change", () => render().catch(fail));
  $("measure").addEventListener("change", () => render().catch(fail));
  $("token").addEventListener("change", () => {
    sessionStorage.setItem("maillage-token", $("token").value.trim());
    render().catch(fail);
  });
  await render();
}

start().catch(fail);
