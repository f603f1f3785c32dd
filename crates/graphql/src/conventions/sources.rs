//! The conventions the sources themselves keep: file length and the import graph between top-level modules.

/// The most lines a source file of this crate may have ("about 600": one screenful of concerns per file).
pub const MAX_FILE_LINES: usize = 600;

/// Files of this crate over [`MAX_FILE_LINES`], as `path: N lines`, from the sources under `src`.
pub fn long_files(src: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for (path, text) in sources(src) {
        let lines = text.lines().count();
        if lines > MAX_FILE_LINES {
            out.push(format!(
                "{path}: {lines} lines (over {MAX_FILE_LINES}): split it"
            ));
        }
    }
    out
}

/// Every `.rs` file under `dir`, as (path relative to `dir`, text), sorted by path.
fn sources(dir: &std::path::Path) -> Vec<(String, String)> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<(String, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let rel = path.strip_prefix(root).unwrap_or(&path);
                out.push((rel.display().to_string(), text));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The top-level modules each top-level module of `src` names through `crate::…` (in `use` lines, grouped
/// `use crate::{a, b}` lines and paths in code; comments are skipped).
pub fn module_graph(
    src: &std::path::Path,
) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let mut graph: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        std::collections::BTreeMap::new();
    for (path, text) in sources(src) {
        let module = path
            .split(['/', '\\'])
            .next()
            .unwrap_or_default()
            .trim_end_matches(".rs")
            .to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let deps = graph.entry(module.clone()).or_default();
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut rest = code.as_str();
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                group[..end]
                    .split(',')
                    .map(|part| part.trim().split("::").next().unwrap_or_default().trim())
                    .collect()
            } else {
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                vec![&rest[..end]]
            };
            for name in names {
                let is_module = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
                if is_module && name != module && name != "self" {
                    deps.insert(name.to_owned());
                }
            }
        }
    }
    // Only the crate's own top-level modules count (not macros reached through `$crate::`).
    let modules: std::collections::BTreeSet<String> = graph.keys().cloned().collect();
    for deps in graph.values_mut() {
        deps.retain(|d| modules.contains(d));
    }
    graph
}

/// The import circles between top-level modules of `src` (each as `a -> b -> a`), and every dependency of the kit on
/// a domain module (the kit is what domains share; it depends on none of them).
pub fn import_problems(src: &std::path::Path) -> Vec<String> {
    let graph = module_graph(src);
    let mut problems = Vec::new();
    // Depth-first search from every module; a path that comes back to where it started is a circle.
    for start in graph.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        while let Some((at, path)) = stack.pop() {
            for next in graph.get(&at).into_iter().flatten() {
                if next == start {
                    let mut circle = path.clone();
                    circle.push(start.clone());
                    // Report each circle once, from its smallest module.
                    if path.iter().min() == Some(start) {
                        problems.push(format!("import circle: {}", circle.join(" -> ")));
                    }
                } else if !path.contains(next) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    const KIT_MAY_USE: &[&str] = &["telemetry"];
    for dep in graph.get("kit").into_iter().flatten() {
        if !KIT_MAY_USE.contains(&dep.as_str()) {
            problems.push(format!(
                "the kit depends on the module {dep}: move what it needs into the kit"
            ));
        }
    }
    problems.sort();
    problems.dedup();
    problems
}
