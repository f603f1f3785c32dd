//! Site lists read brief rows (`SiteParts::Brief`) when every selected field allows it: every field of `Site`,
//! asked alone, answers exactly as when the same sites are read whole.

use crate::support::TestApp;
use serde_json::{Value, json};
use std::fmt::Write as _;

/// Sites with every column of the v1.0.2 standard filled, in two departments of one hub, each with its own values.
fn full_sites(dir: &std::path::Path) -> std::path::PathBuf {
    let mut csv = String::from(
        "id,pivot,nom,commune,code_postal,code_insee,adresse,complement_adresse,latitude,longitude,typologie,\
         telephone,courriels,site_web,horaires,presentation_resume,presentation_detail,source,itinerance,\
         structure_parente,date_maj,services,publics_specifiquement_adresses,prise_en_charge_specifique,\
         frais_a_charge,dispositif_programmes_nationaux,formations_labels,autres_formations_labels,modalites_acces,\
         modalites_accompagnement,fiche_acces_libre,prise_rdv\n",
    );
    let places = [
        ("Lyon", "69003", "69383", 45.7605, 4.8590),
        ("Villeurbanne", "69100", "69266", 45.7719, 4.8902),
        ("Bourg-en-Bresse", "01000", "01053", 46.2052, 5.2255),
    ];
    for i in 0..7 {
        let (commune, postal, insee, lat, lon) = places[i % places.len()];
        writeln!(
            csv,
            "site-{i},4349331230002{i},Lieu numérique {i} de {commune},{commune},{postal},{insee},{i} rue de la République,\
             Bâtiment {i},{lat},{lon},TIERS_LIEUX|ASSO,+3347862040{i},contact{i}@lieu.fr|responsable{i}@lieu.fr,\
             https://lieu{i}.fr/,Mo-Fr 09:00-12:00; Sa 10:00-1{i}:00,Résumé {i},Présentation détaillée du lieu {i},\
             Source {i},Itinérant,Structure parente {i},2024-04-0{},Maîtrise des outils numériques du quotidien|\
             Aide aux démarches administratives,Jeunes|Seniors,Surdité,Gratuit sous condition,Aidants Connect|\
             Conseillers numériques,Formé à « Mon Espace Santé »,Label {i},Se présenter|Téléphoner,\
             Accompagnement individuel,https://acceslibre.beta.gouv.fr/{i}/,https://rdv.fr/{i}",
            i + 1
        )
        .unwrap();
    }
    let path = dir.join("full-sites.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

/// The named type under `NON_NULL` and `LIST` wrappers: (kind, name).
fn named(t: &Value) -> (&str, &str) {
    match t["ofType"].as_object() {
        Some(_) if t["kind"] == "NON_NULL" || t["kind"] == "LIST" => named(&t["ofType"]),
        _ => (t["kind"].as_str().unwrap(), t["name"].as_str().unwrap()),
    }
}

/// Every field of `Site` from the schema's introspection, each as a selection (see [`field_selections`]).
async fn site_field_selections(app: &TestApp, token: &str) -> Vec<(String, String)> {
    field_selections(app, token, "Site").await
}

/// Every field of the object type `of` from the schema's introspection, each as a selection: the field alone, or,
/// for an object, the field with every scalar field of its type that takes no argument.
pub(crate) async fn field_selections(
    app: &TestApp,
    token: &str,
    of: &str,
) -> Vec<(String, String)> {
    const TYPE: &str = "query($name: String!) { __type(name: $name) { fields { name args { name } \
        type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }";
    let fields_of = |name: &str| {
        let vars = json!({ "name": name });
        async move {
            let (_, body) = app.post_as(Some(token), TYPE, vars).await;
            body["data"]["__type"]["fields"].as_array().unwrap().clone()
        }
    };
    let mut out = Vec::new();
    for field in fields_of(of).await {
        let name = field["name"].as_str().unwrap().to_owned();
        assert!(
            field["args"].as_array().unwrap().is_empty(),
            "{of}.{name} takes arguments: give it some here"
        );
        let (kind, type_name) = named(&field["type"]);
        let selection = if kind == "OBJECT" || kind == "INTERFACE" {
            let scalars: Vec<String> = fields_of(type_name)
                .await
                .iter()
                .filter(|f| f["args"].as_array().unwrap().is_empty())
                .filter(|f| matches!(named(&f["type"]).0, "SCALAR" | "ENUM"))
                .map(|f| f["name"].as_str().unwrap().to_owned())
                .collect();
            assert!(!scalars.is_empty(), "{type_name} has no scalar field");
            format!("{name} {{ __typename {} }}", scalars.join(" "))
        } else {
            name.clone()
        };
        out.push((name, selection));
    }
    out
}

/// Every `edges` list in an answer, in document order, concatenated (a nested query has one per department).
fn all_edges(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "edges"
                    && let Some(list) = v.as_array()
                {
                    out.extend(list.iter().cloned());
                } else {
                    all_edges(v, out);
                }
            }
        }
        Value::Array(list) => list.iter().for_each(|v| all_edges(v, out)),
        _ => {}
    }
}

/// For every field of `Site` and every list that can read brief rows (root list flat and by distance, by relevance,
/// a department's list, a hub's departments' lists, a department's list by distance), the page asked with that
/// field alone equals, node for node and cursor for cursor, the page asked with `sourceRecords` too: that field
/// makes the list read whole rows with their values (its resolver refuses any other read), so a field wrongly
/// served from a brief row differs here. The sites have every column filled; the caller is an admin (e-mails).
#[tokio::test]
async fn every_site_field_answers_the_same_from_brief_and_whole_rows() {
    // About 600 requests: no rate limit.
    let mut config = maillage_server::config::ServeConfig::default();
    config.protection.rate_limit_per_minute = 0;
    let app = TestApp::spawn_with(config).await;
    app.import_with(&full_sites(app.dir.path()), "brief", &["--standard", "v1"])
        .await;
    let token = app.token("admin", None).await;
    let near = "filter: { near: { latitude: 45.76, longitude: 4.85, radiusKm: 100 } }";
    let lists = [
        ("root", "{ sites(first: 10) CONN }".to_owned()),
        ("root near", format!("{{ sites(first: 10, {near}) CONN }}")),
        (
            "root text",
            "{ sites(first: 10, filter: { text: \"lieu numérique\" }) CONN }".to_owned(),
        ),
        (
            "department",
            "{ department(code: \"69\") { sites(first: 10) CONN } }".to_owned(),
        ),
        (
            "hub departments",
            "{ hub(slug: \"hinaura\") { departments { code sites(first: 10) CONN } } }".to_owned(),
        ),
        (
            "department near",
            format!("{{ department(code: \"69\") {{ sites(first: 10, {near}) CONN }} }}"),
        ),
    ];
    let fields = site_field_selections(&app, &token).await;
    assert!(fields.len() > 40, "{} fields of Site", fields.len());
    let mut brief_reads: Vec<&str> = Vec::new();
    let mut names_reads: Vec<&str> = Vec::new();
    let mut places_reads: Vec<&str> = Vec::new();
    for (name, selection) in &fields {
        let mut brief_everywhere = true;
        let mut names_somewhere = false;
        let mut places_somewhere = false;
        for (list, template) in &lists {
            let conn = |extra: &str| {
                template.replace(
                    "CONN",
                    &format!("{{ totalCount edges {{ cursor node {{ {selection} {extra} }} }} }}"),
                )
            };
            app.db.statement_counter().start_log();
            let (_, alone) = app.post_as(Some(&token), &conn(""), json!({})).await;
            let log = app.db.statement_counter().take_log();
            let (_, whole) = app
                .post_as(
                    Some(&token),
                    &conn("wholeRowsReference: sourceRecords { id }"),
                    json!({}),
                )
                .await;
            assert!(alone.get("errors").is_none(), "{list} {name}: {alone}");
            assert!(whole.get("errors").is_none(), "{list} {name}: {whole}");
            let (mut a, mut w) = (Vec::new(), Vec::new());
            all_edges(&alone["data"], &mut a);
            all_edges(&whole["data"], &mut w);
            for edge in &mut w {
                edge["node"]
                    .as_object_mut()
                    .unwrap()
                    .remove("wholeRowsReference");
            }
            assert!(a.len() >= 3, "{list} {name}: {} sites", a.len());
            assert_eq!(
                a, w,
                "{list}: Site.{name} differs between brief and whole rows"
            );
            // A brief read leaves the long columns out: only a whole row names the site's `description`.
            let read_whole = log
                .iter()
                .any(|sql| sql.contains("\"site\".\"description\""));
            brief_everywhere &= !read_whole;
            // A names-only read leaves out even the brief columns (`SiteParts::Names`); a names-and-places one
            // reads the commune too, not the other brief columns (`SiteParts::Places`).
            let reads = |column: &str| log.iter().any(|sql| sql.contains(column));
            let brief_columns = reads("\"site\".\"latitude\"");
            names_somewhere |= !brief_columns && !reads("\"site\".\"commune\"");
            places_somewhere |= !brief_columns && reads("\"site\".\"commune\"");
        }
        if brief_everywhere {
            brief_reads.push(name);
        }
        if names_somewhere {
            names_reads.push(name);
        }
        if places_somewhere {
            places_reads.push(name);
        }
    }
    eprintln!("fields served from names-only rows: {names_reads:?}");
    for field in [
        "id",
        "sourceId",
        "name",
        "department",
        "hubs",
        "counsellors",
    ] {
        assert!(
            names_reads.contains(&field),
            "{field} is not served from names-only rows: {names_reads:?}"
        );
    }
    for field in ["commune", "postalCode", "version", "updatedAt", "latitude"] {
        assert!(!names_reads.contains(&field), "{field}: {names_reads:?}");
    }
    eprintln!("fields served from names-and-places rows: {places_reads:?}");
    for field in ["commune", "postalCode"] {
        assert!(
            places_reads.contains(&field),
            "{field} is not served from names-and-places rows: {places_reads:?}"
        );
    }
    for field in ["inseeCode", "version", "updatedAt", "latitude"] {
        assert!(!places_reads.contains(&field), "{field}: {places_reads:?}");
    }
    eprintln!("fields served from brief rows: {brief_reads:?}");
    // The comparison is worth something only if the brief read happens: the bench's fields are served by it.
    for field in [
        "id",
        "sourceId",
        "name",
        "commune",
        "postalCode",
        "department",
    ] {
        assert!(
            brief_reads.contains(&field),
            "{field} is not served from brief rows: {brief_reads:?}"
        );
    }
    for field in ["description", "services", "emails", "sourceRecords"] {
        assert!(!brief_reads.contains(&field), "{field}: {brief_reads:?}");
    }
}

/// How much of a site the statements of one request read: `"names"` (not even the brief columns), `"places"` (the
/// names and the commune, not the other brief columns), `"brief"` (neither the long columns nor the values),
/// `"without values"` (the whole row, no `site_value`) or `"whole"`.
fn site_read(log: &[String]) -> &'static str {
    if log.iter().any(|sql| sql.contains("site_value")) {
        "whole"
    } else if log
        .iter()
        .any(|sql| sql.contains("\"site\".\"description\""))
    {
        "without values"
    } else if log.iter().any(|sql| sql.contains("\"site\".\"latitude\"")) {
        "brief"
    } else if log.iter().any(|sql| sql.contains("\"site\".\"commune\"")) {
        "places"
    } else {
        "names"
    }
}

/// `Query.site` reads brief, without values or whole by the lists' rule (`SiteParts`): every field of `Site`, asked
/// alone of a site by id, by origin, and by the origin of a source record merged into a canonical site, answers
/// exactly as in a selection of every field (which reads the whole row and its values: `sourceRecords`); and the
/// origin of an archived record gives null whatever the selection.
#[tokio::test]
async fn site_by_id_or_origin_answers_the_same_whatever_part_of_it_is_read() {
    let mut config = maillage_server::config::ServeConfig::default();
    config.protection.rate_limit_per_minute = 0;
    let app = TestApp::spawn_with(config).await;
    let file = full_sites(app.dir.path());
    app.import_with(&file, "brief", &["--standard", "v1"]).await;
    // The same place from a second source: a pair the admin confirms, which merges `brief/site-0` into a
    // canonical site.
    let twin = app.dir.path().join("twin.csv");
    let csv = std::fs::read_to_string(&file).unwrap();
    let mut lines = csv.lines();
    std::fs::write(
        &twin,
        format!("{}\n{}\n", lines.next().unwrap(), lines.next().unwrap()),
    )
    .unwrap();
    app.import_with(&twin, "twin", &["--standard", "v1"]).await;
    let token = app.token("admin", None).await;
    let ask = |query: String| {
        let token = &token;
        let app = &app;
        async move {
            app.db.statement_counter().start_log();
            let (_, body) = app.post_as(Some(token), &query, json!({})).await;
            let log = app.db.statement_counter().take_log();
            assert!(body.get("errors").is_none(), "{query}: {body}");
            (body["data"].clone(), log)
        }
    };
    let (data, _) = ask("{ siteMatches(first: 10) { nodes { id } } }".to_owned()).await;
    let pair = data["siteMatches"]["nodes"][0]["id"].clone();
    assert!(pair.is_string(), "no pair to confirm: {data}");
    let (data, _) = ask(format!(
        "mutation {{ confirmSiteMatch(input: {{ id: {pair} }}) {{ canonicalSiteId userErrors {{ code }} }} }}"
    ))
    .await;
    let canonical = data["confirmSiteMatch"]["canonicalSiteId"].clone();
    assert!(canonical.is_string(), "{data}");
    // `brief/site-6` archived: a tombstone.
    let (data, _) = ask(
        "{ site(source: \"brief\", sourceId: \"site-6\") { id version } one: site(source: \"brief\", sourceId: \"site-1\") { id } }"
            .to_owned(),
    )
    .await;
    let one = data["one"]["id"].clone();
    let (archived, _) = ask(format!(
        "mutation {{ deleteSite(input: {{ id: {}, version: {} }}) {{ deletedSiteId }} }}",
        data["site"]["id"], data["site"]["version"]
    ))
    .await;
    assert!(
        archived["deleteSite"]["deletedSiteId"].is_string(),
        "{archived}"
    );

    let fields = site_field_selections(&app, &token).await;
    let every = fields
        .iter()
        .map(|(_, s)| s.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let lookups = [
        ("by id", format!("site(id: {one})")),
        (
            "by origin",
            "site(source: \"brief\", sourceId: \"site-1\")".to_owned(),
        ),
        (
            "merged record by origin",
            "site(source: \"brief\", sourceId: \"site-0\")".to_owned(),
        ),
        ("canonical by id", format!("site(id: {canonical})")),
    ];
    for (lookup, site) in &lookups {
        let (all, log) = ask(format!("{{ s: {site} {{ {every} }} }}")).await;
        assert_eq!(site_read(&log), "whole", "{lookup}");
        let all = &all["s"];
        assert!(all.is_object(), "{lookup}: {all}");
        if lookup.starts_with("merged") {
            assert_eq!(
                all["id"], canonical,
                "a merged record gives its canonical site"
            );
            assert_eq!(all["source"], "maillage");
        }
        let mut reads: Vec<(&str, &str)> = Vec::new();
        for (name, selection) in &fields {
            let (alone, log) = ask(format!("{{ s: {site} {{ {selection} }} }}")).await;
            assert_eq!(
                alone["s"][name.as_str()],
                all[name.as_str()],
                "{lookup}: Site.{name} differs from the selection of every field"
            );
            reads.push((name.as_str(), site_read(&log)));
        }
        // Each kind of read happened: the comparison covers all three.
        for (name, read) in [
            ("name", "names"),
            ("department", "names"),
            ("counsellors", "names"),
            ("commune", "places"),
            ("postalCode", "places"),
            ("inseeCode", "brief"),
            ("version", "brief"),
            ("description", "without values"),
            ("emails", "without values"),
            ("services", "whole"),
            ("sourceRecords", "whole"),
        ] {
            assert!(
                reads.contains(&(name, read)),
                "{lookup}: {name} is not read {read}: {reads:?}"
            );
        }
    }
    // An archived record's origin gives null, whatever part of it the selection reads.
    for selection in ["name", "description", "services", every.as_str()] {
        let (data, _) = ask(format!(
            "{{ s: site(source: \"brief\", sourceId: \"site-6\") {{ {selection} }} }}"
        ))
        .await;
        assert!(data["s"].is_null(), "{selection}: {data}");
    }
}

/// The fields a `Site` (and its `Department`, `Region` and `Counsellor` objects) gives from memory (`kit::memory`, no
/// future per field) answer exactly as their resolvers: a list asked for every field of `Site` and of the objects
/// below it plainly equals the same list asked with every object's selection inside an inline fragment, and with a
/// directive on one field (selections resolved whole by async-graphql's own path), site by site. The plain
/// answer's keys follow the selection, aliases included, and a field asked twice under one key is answered once.
#[tokio::test]
async fn fields_from_memory_answer_as_their_resolvers() {
    let mut config = maillage_server::config::ServeConfig::default();
    config.protection.rate_limit_per_minute = 0;
    let app = TestApp::spawn_with(config).await;
    let file = full_sites(app.dir.path());
    app.import_with(&file, "brief", &["--standard", "v1"]).await;
    let token = app.token("admin", None).await;
    let ask = |query: String| {
        let token = &token;
        let app = &app;
        async move {
            let (_, body) = app.post_as(Some(token), &query, json!({})).await;
            assert!(body.get("errors").is_none(), "{query}: {body}");
            body["data"]["sites"]["nodes"].as_array().unwrap().clone()
        }
    };
    let fields = site_field_selections(&app, &token).await;
    let every = fields
        .iter()
        .map(|(_, s)| s.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    // Every object below a site (department, its region, hubs, counsellors…) inside a fragment too.
    let in_fragments = fields
        .iter()
        .map(|(_, s)| match s.split_once(" { ") {
            Some((name, inner)) => format!("{name} {{ ... {{ {inner} }}"),
            None => s.clone(),
        })
        .collect::<Vec<_>>()
        .join(" ");
    let region = "department { code region { __typename id code name } }";
    let plain = ask(format!(
        "{{ sites(first: 20) {{ nodes {{ __typename {every} r: {region} }} }} }}"
    ))
    .await;
    assert_eq!(plain.len(), 7, "{plain:?}");
    let fragment = ask(format!(
        "{{ sites(first: 20) {{ nodes {{ ... on Site {{ __typename {in_fragments} \
         r: department {{ ... {{ code region {{ ... {{ __typename id code name }} }} }} }} }} }} }} }}"
    ))
    .await;
    let with_directives = ask(format!(
        "{{ sites(first: 20) {{ nodes {{ __typename @include(if: true) {every} r: {region} }} }} }}"
    ))
    .await;
    let order: Vec<&str> = std::iter::once("__typename")
        .chain(fields.iter().map(|(name, _)| name.as_str()))
        .chain(["r"])
        .collect();
    for (i, site) in plain.iter().enumerate() {
        assert_eq!(site, &fragment[i], "site {i}: plain and inside a fragment");
        assert_eq!(
            site, &with_directives[i],
            "site {i}: plain and with directives"
        );
        let keys: Vec<&str> = site
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, order, "site {i}: keys in the selection's order");
        assert_eq!(site["__typename"], "Site");
        assert!(
            site["name"].is_string() && site["services"].is_array(),
            "{site}"
        );
    }

    // Every field a site gives from memory, with its department and region: written straight to JSON (the
    // endpoint's JSON fragments, `maillage_graphql::kit::json`) plain, and through async-graphql's resolvers inside a
    // fragment: the same text, keys in the same order.
    let scalars = fields
        .iter()
        .filter(|(_, s)| !s.contains('{'))
        .map(|(_, s)| s.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let memory = format!(
        "__typename {scalars} department {{ __typename id code name region {{ __typename id code name }} }}"
    );
    let written = ask(format!("{{ sites(first: 20) {{ nodes {{ {memory} }} }} }}")).await;
    let resolved = ask(format!(
        "{{ sites(first: 20) {{ nodes {{ ... on Site {{ {memory} }} }} }} }}"
    ))
    .await;
    assert_eq!(written.len(), 7);
    for (i, site) in written.iter().enumerate() {
        assert_eq!(
            site.to_string(),
            resolved[i].to_string(),
            "site {i}: written from memory and resolved"
        );
        assert_eq!(site["department"]["code"], plain[i]["r"]["code"]);
    }

    let aliased = ask(
        "{ sites(first: 20) { nodes { b: name a: sourceId name version v: version } } }".to_owned(),
    )
    .await;
    for (i, site) in aliased.iter().enumerate() {
        let keys: Vec<&str> = site
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["b", "a", "name", "version", "v"], "site {i}");
        assert_eq!(site["b"], plain[i]["name"]);
        assert_eq!(site["a"], plain[i]["sourceId"]);
        assert_eq!(site["v"], plain[i]["version"]);
    }
    // Two fields under one key, which async-graphql merges: such a document gets no JSON fragments
    // (`maillage_graphql::kit::json::writes_fragments`), and each site has both parts.
    let merged = ask(
        "{ sites(first: 20) { nodes { name department { code } } nodes { sourceId department { name } } } }"
            .to_owned(),
    )
    .await;
    assert_eq!(merged.len(), plain.len());
    for (i, site) in merged.iter().enumerate() {
        let department = &plain[i]["department"];
        assert_eq!(
            site,
            &json!({
                "name": plain[i]["name"],
                "department": if department.is_null() {
                    json!(null)
                } else {
                    json!({ "code": department["code"], "name": department["name"] })
                },
                "sourceId": plain[i]["sourceId"],
            }),
            "site {i}"
        );
    }
    let twice = ask("{ sites(first: 20) { nodes { name name sourceId } } }".to_owned()).await;
    for (i, site) in twice.iter().enumerate() {
        assert_eq!(
            site,
            &json!({ "name": plain[i]["name"], "sourceId": plain[i]["sourceId"] }),
            "site {i}"
        );
    }
}
