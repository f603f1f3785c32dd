//! What a GraphQL document will cost, known before it runs (GitHub/Shopify style).
//!
//! The HTTP layer refuses a document whose depth, cost, aliases or directives exceed the configured limits before
//! async-graphql validates or executes it, and charges the caller's budget with the cost. The rules:
//!
//! - every field costs 1, plus the cost of its selection;
//! - a connection (a field returning a `…Connection` type) costs `first` or `last` (clamped to 0…100, default 20) × its
//!   selection + 1: its `edges`/`nodes` lists are then not multiplied again;
//! - a list field with a list argument (`nodes(ids:)`, `_entities(representations:)`) costs the argument's length ×
//!   its selection + 1;
//! - any other list of objects costs its size estimate × its selection + 1 ([`LIST_ESTIMATES`], else
//!   [`DEFAULT_LIST_ESTIMATE`]); lists of scalars cost 1;
//! - introspection fields cost 1 each plus their selection, so GraphiQL's introspection query fits easily; but an
//!   introspection list nested below [`INTROSPECTION_FREE_LIST_NESTING`] other introspection lists (the shape of an
//!   amplification attack: `types { fields { type { fields { type { fields … } } } } }`) is multiplied by
//!   [`INTROSPECTION_LIST_ESTIMATE`];
//! - `@skip`/`@include` are ignored: the cost is the worst case.
//!
//! The cost is the same measure as async-graphql's complexity where the schema declares one (so its own limit,
//! kept as a backstop, never fires first), extended to every list.

use async_graphql::parser::types::Field;
use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, OperationDefinition, Selection, SelectionSet,
    TypeKind, TypeSystemDefinition,
};
use async_graphql::{Name, Value, Variables};
use std::collections::HashMap;

/// Size assumed for a list of objects the schema does not bound by an argument.
pub const DEFAULT_LIST_ESTIMATE: u64 = 10;

/// Upper bounds of the reference-data lists (18 regions, 101 departments, 13 departments at most per region…),
/// with room to grow: `(parent type, field, size)`.
pub const LIST_ESTIMATES: &[(&str, &str, u64)] = &[
    ("QueryRoot", "regions", 18),
    ("QueryRoot", "departments", 101),
    ("QueryRoot", "hubs", 20),
    ("Region", "departments", 13),
    ("Hub", "departments", 15),
    ("Department", "hubs", 3),
    ("Site", "hubs", 3),
    // Statistics: a table has at most departments × a vocabulary's labels rows in practice (101 × 11); keys are
    // one per dimension, at most two.
    ("StatisticsTable", "rows", 1000),
    ("StatisticsRow", "keys", 2),
    ("QueryRoot", "vocabularies", 15),
    ("Vocabulary", "values", 15),
    // AMI: a few campaigns; grids of a handful of criteria; dossiers hold at most 100 lines of each list (the
    // domain's cap) but a few in practice; a few reviewers per dossier.
    ("QueryRoot", "amiCampaigns", 10),
    ("AmiCampaign", "criteria", 10),
    ("AmiCampaign", "priorityRegions", 18),
    ("AmiApplication", "departments", 15),
    ("AmiApplication", "consortium", 20),
    ("AmiApplication", "budget", 20),
    ("AmiApplication", "coFunding", 10),
    ("AmiApplication", "attachments", 10),
    ("AmiApplication", "scoreSheets", 10),
    ("AmiApplication", "conflicts", 10),
    ("AmiScoreSheet", "scores", 10),
];

/// What a site filter adds to its connection's cost, beyond the page itself: its latency over a plain page of 20
/// sites at 100 000 sites, in units of such a page. Estimates from the query plans (full-text and typo look-ups,
/// haversine over the bounding box's candidates, one indexed look-up per site for `openAt`), to be replaced by the
/// figures of `cargo bench -p maillage-sites --bench search`. Other filters are indexed comparisons.
pub const SITE_FILTER_COSTS: &[(&str, u64)] = &[("text", 10), ("near", 10), ("openAt", 2)];

/// Page size of a connection whose `first` is not given.
pub const DEFAULT_PAGE_SIZE: u64 = 20;

/// Largest page size of a connection.
pub const MAX_PAGE_SIZE: u64 = 100;

/// How many introspection lists may nest at no extra cost: GraphiQL's query nests three (`types`, `fields`,
/// `args`).
pub const INTROSPECTION_FREE_LIST_NESTING: usize = 3;

/// Size assumed for an introspection list nested deeper than [`INTROSPECTION_FREE_LIST_NESTING`].
pub const INTROSPECTION_LIST_ESTIMATE: u64 = 50;

/// The figures of one document, computed before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Analysis {
    /// Deepest field nesting of the selected operation (a top-level field is depth 1).
    pub depth: usize,
    /// The static cost of the selected operation (see the module documentation).
    pub cost: u64,
    /// Aliased fields in the whole document.
    pub aliases: usize,
    /// Directive uses in the whole document.
    pub directives: usize,
}

#[derive(Debug, Clone)]
struct FieldInfo {
    /// Named type the field returns, lists and non-null stripped.
    ty: String,
    list: bool,
    /// Names of the field's arguments that take a list.
    list_args: Vec<String>,
}

/// The schema's shape as the cost rules need it: for each object or interface, its fields' types.
///
/// Built once from the SDL, so it knows every root and type (including ones added later, e.g. mutations) without
/// access to async-graphql's private registry.
#[derive(Debug, Clone, Default)]
pub struct CostModel {
    query: String,
    mutation: Option<String>,
    subscription: Option<String>,
    types: HashMap<String, HashMap<String, FieldInfo>>,
    leaves: std::collections::HashSet<String>,
}

impl CostModel {
    /// The model of a schema given as SDL; an unparsable SDL gives an empty model (every field costs 1).
    pub fn from_sdl(sdl: &str) -> Self {
        let mut model = Self {
            query: "Query".to_owned(),
            ..Self::default()
        };
        let Ok(doc) = async_graphql::parser::parse_schema(sdl) else {
            tracing::error!("the schema SDL does not parse: query costs are underestimated");
            return model;
        };
        for def in doc.definitions {
            match def {
                TypeSystemDefinition::Schema(s) => {
                    if let Some(q) = &s.node.query {
                        model.query = q.node.to_string();
                    }
                    model.mutation = s.node.mutation.as_ref().map(|m| m.node.to_string());
                    model.subscription = s.node.subscription.as_ref().map(|m| m.node.to_string());
                }
                TypeSystemDefinition::Type(t) => {
                    let name = t.node.name.node.to_string();
                    let fields = match &t.node.kind {
                        TypeKind::Object(o) => &o.fields,
                        TypeKind::Interface(i) => &i.fields,
                        TypeKind::Scalar | TypeKind::Enum(_) => {
                            model.leaves.insert(name);
                            continue;
                        }
                        _ => continue,
                    };
                    let entry = model.types.entry(name).or_default();
                    for f in fields {
                        let (ty, list) = named(&f.node.ty.node.base);
                        let list_args = f
                            .node
                            .arguments
                            .iter()
                            .filter(|a| matches!(a.node.ty.node.base, BaseType::List(_)))
                            .map(|a| a.node.name.node.to_string())
                            .collect();
                        entry.insert(
                            f.node.name.node.to_string(),
                            FieldInfo {
                                ty,
                                list,
                                list_args,
                            },
                        );
                    }
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        for leaf in ["String", "Int", "Float", "Boolean", "ID"] {
            model.leaves.insert(leaf.to_owned());
        }
        model
    }

    /// Depth, cost, aliases and directives of `doc`, for the operation `operation_name` (or the only one; with
    /// several operations and no valid name, the most expensive one).
    pub fn analyze(
        &self,
        doc: &ExecutableDocument,
        operation_name: Option<&str>,
        variables: &Variables,
    ) -> Analysis {
        let mut aliases = 0;
        let mut directives = 0;
        for (_, op) in doc.operations.iter() {
            directives += op.node.directives.len();
            directives += op
                .node
                .variable_definitions
                .iter()
                .map(|v| v.node.directives.len())
                .sum::<usize>();
            count_in_set(&op.node.selection_set.node, &mut aliases, &mut directives);
        }
        for fragment in doc.fragments.values() {
            directives += fragment.node.directives.len();
            count_in_set(
                &fragment.node.selection_set.node,
                &mut aliases,
                &mut directives,
            );
        }

        let selected: Vec<&OperationDefinition> = match (&doc.operations, operation_name) {
            (DocumentOperations::Single(op), _) => vec![&op.node],
            (DocumentOperations::Multiple(ops), Some(name)) if ops.contains_key(name) => {
                ops.get(name).map(|op| &op.node).into_iter().collect()
            }
            (DocumentOperations::Multiple(ops), _) => ops.values().map(|op| &op.node).collect(),
        };
        let mut depth = 0;
        let mut cost = 0;
        for op in selected {
            let root = match op.ty {
                async_graphql::parser::types::OperationType::Query => Some(self.query.as_str()),
                async_graphql::parser::types::OperationType::Mutation => self.mutation.as_deref(),
                async_graphql::parser::types::OperationType::Subscription => {
                    self.subscription.as_deref()
                }
            };
            let mut walker = Walker {
                model: self,
                doc,
                op,
                variables,
                memo: HashMap::new(),
                visiting: Vec::new(),
            };
            let (d, c) = walker.selection_set(&op.selection_set.node, root, 0);
            depth = depth.max(d);
            cost = cost.max(c);
        }
        Analysis {
            depth,
            cost,
            aliases,
            directives,
        }
    }

    fn field(&self, parent: Option<&str>, name: &str) -> Option<&FieldInfo> {
        self.types.get(parent?)?.get(name)
    }
}

fn named(base: &BaseType) -> (String, bool) {
    match base {
        BaseType::Named(n) => (n.to_string(), false),
        BaseType::List(inner) => (named(&inner.base).0, true),
    }
}

fn count_in_set(set: &SelectionSet, aliases: &mut usize, directives: &mut usize) {
    for item in &set.items {
        match &item.node {
            Selection::Field(f) => {
                *aliases += usize::from(f.node.alias.is_some());
                *directives += f.node.directives.len();
                count_in_set(&f.node.selection_set.node, aliases, directives);
            }
            Selection::FragmentSpread(s) => *directives += s.node.directives.len(),
            Selection::InlineFragment(i) => {
                *directives += i.node.directives.len();
                count_in_set(&i.node.selection_set.node, aliases, directives);
            }
        }
    }
}

/// Walks one operation; fragments are computed once per introspection-nesting level (memoized), so a document
/// whose fragments fan out exponentially costs linear time to analyze.
struct Walker<'a> {
    model: &'a CostModel,
    doc: &'a ExecutableDocument,
    op: &'a OperationDefinition,
    variables: &'a Variables,
    memo: HashMap<(Name, usize), (usize, u64)>,
    visiting: Vec<Name>,
}

/// Saturating product, for costs.
fn mul(a: u64, b: u64) -> u64 {
    a.saturating_mul(b)
}

impl Walker<'_> {
    /// (depth, cost) of a selection set whose parent type is `parent` (`None` when unknown, e.g. introspection).
    /// `intro_lists` counts the introspection lists above it.
    fn selection_set(
        &mut self,
        set: &SelectionSet,
        parent: Option<&str>,
        intro_lists: usize,
    ) -> (usize, u64) {
        let mut depth = 0;
        let mut cost: u64 = 0;
        for item in &set.items {
            let (d, c) = match &item.node {
                Selection::Field(f) => self.field(&f.node, parent, intro_lists),
                Selection::InlineFragment(i) => {
                    let ty = i
                        .node
                        .type_condition
                        .as_ref()
                        .map(|t| t.node.on.node.to_string());
                    let parent = ty.as_deref().or(parent);
                    self.selection_set(&i.node.selection_set.node, parent, intro_lists)
                }
                Selection::FragmentSpread(s) => {
                    self.spread(&s.node.fragment_name.node, intro_lists)
                }
            };
            depth = depth.max(d);
            cost = cost.saturating_add(c);
        }
        (depth, cost)
    }

    fn spread(&mut self, name: &Name, intro_lists: usize) -> (usize, u64) {
        let key = (name.clone(), intro_lists);
        if let Some(known) = self.memo.get(&key) {
            return *known;
        }
        // A cycle is a validation error reported later by async-graphql; here it just stops the walk.
        if self.visiting.contains(name) {
            return (0, 0);
        }
        let doc = self.doc;
        let Some(fragment) = doc.fragments.get(name) else {
            return (0, 0);
        };
        self.visiting.push(name.clone());
        let ty = fragment.node.type_condition.node.on.node.to_string();
        let result = self.selection_set(
            &fragment.node.selection_set.node,
            Some(ty.as_str()),
            intro_lists,
        );
        self.visiting.pop();
        self.memo.insert(key, result);
        result
    }

    fn field(&mut self, field: &Field, parent: Option<&str>, intro_lists: usize) -> (usize, u64) {
        let name = field.name.node.as_str();
        let info = self.model.field(parent, name).cloned();
        let introspection = parent.is_none_or(|p| p.starts_with("__")) || name.starts_with("__");
        let child_type = info.as_ref().map(|i| i.ty.clone()).or_else(|| {
            // Introspection types are not in the SDL; name the ones that hold lists so they can be recognised.
            introspection_type(parent, name).map(str::to_owned)
        });
        let is_intro_list = introspection && is_introspection_list(parent, name);
        let child_intro_lists = intro_lists + usize::from(is_intro_list);
        let (child_depth, child_cost) = if field.selection_set.node.items.is_empty() {
            (0, 0)
        } else {
            self.selection_set(
                &field.selection_set.node,
                child_type.as_deref(),
                child_intro_lists,
            )
        };
        let depth = child_depth + 1;
        let Some(info) = info else {
            let multiplier = if is_intro_list && intro_lists >= INTROSPECTION_FREE_LIST_NESTING {
                INTROSPECTION_LIST_ESTIMATE
            } else {
                1
            };
            return (depth, mul(multiplier, child_cost).saturating_add(1));
        };
        let leaf =
            self.model.leaves.contains(&info.ty) || field.selection_set.node.items.is_empty();
        if leaf {
            return (depth, 1);
        }
        let multiplier = if info.ty.ends_with("Connection") {
            self.argument_u64(field, "first")
                .or_else(|| self.argument_u64(field, "last"))
                .unwrap_or(DEFAULT_PAGE_SIZE)
                .min(MAX_PAGE_SIZE)
        } else if !info.list || parent.is_some_and(|p| p.ends_with("Connection")) {
            1
        } else if let Some(len) = info
            .list_args
            .iter()
            .find_map(|arg| self.argument_len(field, arg))
        {
            len
        } else {
            LIST_ESTIMATES
                .iter()
                .find(|(p, f, _)| Some(*p) == parent && *f == name)
                .map_or(DEFAULT_LIST_ESTIMATE, |(_, _, n)| *n)
        };
        let filters = if info.ty == "SiteConnection" {
            self.site_filter_cost(field)
        } else {
            0
        };
        (
            depth,
            mul(multiplier, child_cost)
                .saturating_add(1)
                .saturating_add(filters),
        )
    }

    /// The extra cost of the filters given to a site connection ([`SITE_FILTER_COSTS`]).
    fn site_filter_cost(&self, field: &Field) -> u64 {
        let Some(Value::Object(filter)) = self.argument(field, "filter") else {
            return 0;
        };
        SITE_FILTER_COSTS
            .iter()
            .filter(|(key, _)| filter.get(*key).is_some_and(|v| *v != Value::Null))
            .map(|(_, cost)| cost)
            .sum()
    }

    /// The value of an argument, resolving variables (and their defaults).
    fn argument(&self, field: &Field, name: &str) -> Option<Value> {
        let value = field
            .arguments
            .iter()
            .find(|(n, _)| n.node.as_str() == name)
            .map(|(_, v)| &v.node)?;
        value
            .clone()
            .into_const_with(|var| {
                self.variables
                    .get(&var)
                    .cloned()
                    .or_else(|| {
                        self.op
                            .variable_definitions
                            .iter()
                            .find(|d| d.node.name.node == var)
                            .and_then(|d| d.node.default_value.as_ref())
                            .map(|v| v.node.clone())
                    })
                    .ok_or(())
            })
            .ok()
    }

    fn argument_u64(&self, field: &Field, name: &str) -> Option<u64> {
        match self.argument(field, name)? {
            Value::Number(n) => n
                .as_u64()
                .or_else(|| n.as_i64().map(|i| u64::try_from(i).unwrap_or(0))),
            _ => None,
        }
    }

    fn argument_len(&self, field: &Field, name: &str) -> Option<u64> {
        match self.argument(field, name)? {
            Value::List(items) => u64::try_from(items.len()).ok(),
            Value::Null => None,
            // A single value where a list is expected is coerced to a list of one.
            _ => Some(1),
        }
    }
}

/// The introspection type a field returns, for the fields that lead to lists.
fn introspection_type(parent: Option<&str>, field: &str) -> Option<&'static str> {
    Some(match (parent, field) {
        (_, "__schema") => "__Schema",
        (_, "__type") => "__Type",
        (Some("__Schema"), "types" | "queryType" | "mutationType" | "subscriptionType") => "__Type",
        (Some("__Schema"), "directives") => "__Directive",
        (Some("__Type"), "fields") => "__Field",
        (Some("__Type"), "interfaces" | "possibleTypes" | "ofType") => "__Type",
        (Some("__Type"), "enumValues") => "__EnumValue",
        (Some("__Type"), "inputFields") => "__InputValue",
        (Some("__Field" | "__Directive"), "args") => "__InputValue",
        (Some("__Field" | "__InputValue"), "type") => "__Type",
        _ => return None,
    })
}

fn is_introspection_list(parent: Option<&str>, field: &str) -> bool {
    matches!(
        (parent, field),
        (Some("__Schema"), "types" | "directives")
            | (
                Some("__Type"),
                "fields" | "interfaces" | "possibleTypes" | "enumValues" | "inputFields"
            )
            | (Some("__Field" | "__Directive"), "args")
    )
}

/// The deepest bracket nesting of a document's text (`{`, `[`, `(`), outside strings and comments.
///
/// Checked before parsing: the parser recurses once per level, so a megabyte of `{` would exhaust the stack.
pub fn nesting_depth(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut depth, mut max, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    max
}

/// What a response really contained, in the unit of the static cost; defined with the JSON fragments whose fields
/// it counts.
pub use crate::kit::json::actual_cost;

#[cfg(test)]
mod tests;
