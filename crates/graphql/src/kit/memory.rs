//! Objects whose plain fields are answered from what they already hold, without a future per field.
//!
//! async-graphql resolves every selected field of every object as its own boxed future, run in a
//! `FuturesUnordered` of the object: an allocation per field, a task per field and one per object, then a poll of
//! each. For a page of sites asking `sourceId name`, that machinery costs more than the values themselves, and
//! PostGraphile, which builds such rows in one pass, is about as fast per request as Maillage's whole pipeline
//! (issue #16, docs/PERFORMANCE.md). [`resolve_object`] answers the fields an object can give from memory in one
//! pass, and only the others (a relation through a DataLoader, a field reading the caller, one with arguments)
//! through async-graphql's own per-field path, all awaited together as async-graphql does. An object below it that
//! is in memory too (a site's department, the department's region), with a selection all in memory, is answered in
//! the same pass ([`FromMemory::object_from_memory`]), with no future of its own.
//!
//! The answer is the one async-graphql's `resolve_container` gives: the same values (each field's value is made by the
//! same `ScalarType::to_value` its resolver's return type uses, and the e2e test
//! `brief::fields_from_memory_answer_as_their_resolvers` compares both paths field by field), the same errors at the
//! same paths, and keys in the order of the selection, which is the order the GraphQL specification asks for
//! (async-graphql puts a field that waited after the ones that did not). A selection this path does not reproduce
//! exactly falls back to `resolve_container` whole: a fragment, a field with a directive, or two fields under one
//! response key (which async-graphql merges).
//!
//! It relies on the schema having no async-graphql extension (see [`crate::engine`]): with one, async-graphql sends
//! each field through the extensions, which this path does not.

use crate::kit::json::{self, Fragment, JsonFragments};
use crate::kit::selection;
use async_graphql::indexmap::IndexMap;
use async_graphql::indexmap::map::raw_entry_v1::{RawEntryApiV1, RawEntryMut};
use async_graphql::parser::types::{Field, Selection};
use async_graphql::resolver_utils::{ContainerType, resolve_container};
use async_graphql::{ContextSelectionSet, Name, Positioned, ScalarType, ServerResult, Value};
use std::borrow::Cow;
use std::cell::RefCell;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;

/// An object that can give some of its fields from memory, exactly as their resolvers would.
pub trait FromMemory: ContainerType + Sync {
    /// The value of the field named `name` (a field that takes no argument and has no selection below it), made
    /// as its resolver's return type makes it, or `None` to resolve it through its resolver: a field that needs the
    /// context, waits, or may fail.
    fn field_from_memory(&self, name: &str) -> Option<Answer<'_>>;

    /// Puts into `out` the value of `field`, a field without arguments whose value is an object this one already
    /// holds (a site's department, a department's region), resolved in place by [`object_in_memory`]; or returns
    /// `false` to resolve it through its resolver: an object that is not in memory, or a selection below it that
    /// is not all in memory.
    ///
    /// Why: a page of 50 sites asking `department { code name region { name } }` spent a third of its CPU on the
    /// two objects below each site, each resolved through its resolver's future, a `join_all` and a look-up of the
    /// reference territories, though both were in memory before the page was read (issue #16).
    fn object_from_memory(
        &self,
        _ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
        _out: &mut Out<'_>,
    ) -> bool {
        false
    }
}

/// A field's value given from memory.
pub enum Answer<'a> {
    /// A string, as a resolver returning `&str` gives it: copied only into async-graphql's tree, not when written
    /// straight to JSON.
    Text(&'a str),
    /// Any other value, made as its resolver's return type makes it.
    Value(Value),
}

impl Answer<'_> {
    /// The value in async-graphql's tree.
    fn into_value(self) -> Value {
        match self {
            Answer::Text(text) => Value::String(text.to_owned()),
            Answer::Value(value) => value,
        }
    }

    /// Writes the value as JSON, as [`json::write_data`] writes it in the tree.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match self {
            Answer::Text(text) => json::write_str(out, text),
            Answer::Value(value) => json::write_data(out, value),
        }
    }
}

impl From<Value> for Answer<'_> {
    fn from(value: Value) -> Self {
        Answer::Value(value)
    }
}

/// Where [`object_in_memory`] puts an object: a value of async-graphql's tree, or the JSON fragment being written
/// ([`json`]).
pub struct Out<'o>(Sink<'o>);

impl Out<'_> {
    /// `make`'s value, made once for the JSON fragment being written (a list's: once for all its objects) and kept
    /// there ([`Fragment::kept`]); made each time when the object goes into async-graphql's tree. For what an
    /// object needs from the request and does not hold: the same for every object of one response.
    pub fn kept<T: std::any::Any + Clone + Send + Sync>(
        &mut self,
        make: impl FnOnce() -> Option<T>,
    ) -> Option<T> {
        match &mut self.0 {
            Sink::Tree(_) => make(),
            Sink::Json(fragment) => fragment.kept(make),
        }
    }
}

enum Sink<'o> {
    /// The object's value, once resolved.
    Tree(Option<Value>),
    /// The fragment of the object this one is below.
    Json(&'o mut Fragment),
}

/// Resolves `field`, whose value is `object`, in place into `out` when every field selected below it is in memory
/// ([`plan`] gives them all from memory), as its resolver would give it: `false` when something below needs a
/// resolver, so that the field goes through its own. `object: None` is the null of a nullable field, and only that:
/// an object that is merely not in memory must not be passed as `None`.
pub fn object_in_memory<T: FromMemory>(
    ctx: &ContextSelectionSet<'_>,
    field: &Positioned<Field>,
    object: Option<&T>,
    out: &mut Out<'_>,
) -> bool {
    let ctx_field = ctx.with_field(field);
    let ctx_object = ctx_field.with_selection_set(&field.node.selection_set);
    match &mut out.0 {
        Sink::Tree(value) => {
            let Some(object) = object else {
                *value = Some(Value::Null);
                return true;
            };
            let Some(slots) = plan(&ctx_object, object) else {
                return false;
            };
            if !slots.iter().all(|(_, slot)| matches!(slot, Slot::Ready(_))) {
                return false;
            }
            *value = Some(self::object(&ctx_object, slots, std::iter::empty()));
            true
        }
        Sink::Json(fragment) => match object {
            None => {
                fragment.text().extend_from_slice(b"null");
                true
            }
            Some(object) => write_object(&ctx_object, object, fragment),
        },
    }
}

/// A scalar as its resolver's return type gives it.
pub fn scalar<T: ScalarType>(value: &T) -> Answer<'static> {
    Answer::Value(value.to_value())
}

/// A nullable scalar as its resolver's `Option` return type gives it.
pub fn nullable<T: ScalarType>(value: Option<&T>) -> Answer<'static> {
    Answer::Value(value.map_or(Value::Null, ScalarType::to_value))
}

/// A string as a resolver returning `&str` gives it.
pub fn text(value: &str) -> Answer<'_> {
    Answer::Text(value)
}

/// A nullable string as a resolver returning `Option<&str>` gives it.
pub fn nullable_text(value: Option<&str>) -> Answer<'_> {
    value.map_or(Answer::Value(Value::Null), text)
}

/// A field resolved through its object's resolver.
type FieldFuture<'a> = Pin<Box<dyn Future<Output = ServerResult<Option<Value>>> + Send + 'a>>;

/// What one selected field becomes: its value already, or its place among the fields still to resolve.
enum Slot<'a> {
    /// Given from memory.
    Ready(Value),
    /// To resolve through the object's resolver.
    Later(&'a Positioned<Field>),
}

/// Resolves `root` for the selection `ctx`, giving from memory the fields [`FromMemory`] gives and resolving the
/// others concurrently through their resolvers; see the module's documentation for what falls back to
/// async-graphql's `resolve_container`.
pub async fn resolve_object<'a, T: FromMemory>(
    ctx: &ContextSelectionSet<'a>,
    root: &'a T,
) -> ServerResult<Value> {
    // The paths that wait are boxed, so that this future stays small where it is awaited most: a list holds one
    // per item, and moves each of them as it polls (a page of 50 sites whose fields are all in memory waits for
    // nothing).
    if ctx.data_opt::<JsonFragments>().is_some() {
        let mut fragment = Fragment::new(FRAGMENT_CAPACITY);
        if write_object(ctx, root, &mut fragment) {
            return Ok(fragment.finish());
        }
    }
    let Some(slots) = plan(ctx, root) else {
        return Box::pin(resolve_container(ctx, root)).await;
    };
    if slots.iter().all(|(_, slot)| matches!(slot, Slot::Ready(_))) {
        return Ok(object(ctx, slots, std::iter::empty()));
    }
    Box::pin(resolve_later(ctx, root, slots)).await
}

/// The object of `slots`, the fields given from memory resolved concurrently through their resolvers.
async fn resolve_later<'a, T: FromMemory>(
    ctx: &ContextSelectionSet<'a>,
    root: &'a T,
    slots: Vec<(Name, Slot<'a>)>,
) -> ServerResult<Value> {
    let later = slots.iter().filter_map(|(_, slot)| match slot {
        Slot::Later(field) => Some(*field),
        Slot::Ready(_) => None,
    });
    // Concurrently, as async-graphql does: sibling fields that go through DataLoaders share their batches.
    // Boxed, as async-graphql boxes each field: an object's fields may hold objects of its own type
    // (`Site.sourceRecords`), and an unboxed future would contain itself.
    let resolved = futures::future::join_all(later.map(|field| {
        let ctx = ctx.clone();
        let future: FieldFuture<'a> = Box::pin(async move {
            let ctx_field = ctx.with_field(field);
            root.resolve_field(&ctx_field).await
        });
        future
    }))
    .await;
    Ok(object(ctx, slots, resolved.into_iter()))
}

/// The object of `slots` in their order, each field to resolve taking the next of `resolved`; a field whose
/// resolver failed is left out, its error added to the response's, as async-graphql does.
fn object<'a>(
    ctx: &ContextSelectionSet<'a>,
    slots: Vec<(Name, Slot<'a>)>,
    mut resolved: impl Iterator<Item = ServerResult<Option<Value>>>,
) -> Value {
    let map = KEY_HASHES.with_borrow_mut(|hashes| {
        let mut map = IndexMap::with_capacity_and_hasher(slots.len(), hashes.state.clone());
        for (key, slot) in slots {
            let value = match slot {
                Slot::Ready(value) => value,
                Slot::Later(_) => match resolved.next() {
                    Some(Ok(value)) => value.unwrap_or_default(),
                    Some(Err(error)) => {
                        ctx.add_error(error);
                        continue;
                    }
                    None => continue,
                },
            };
            let hash = hashes.hash(&key);
            // As `IndexMap::insert`, with the hash already known.
            match map.raw_entry_mut_v1().from_hash(hash, |k| *k == key) {
                RawEntryMut::Vacant(entry) => {
                    entry.insert_hashed_nocheck(hash, key, value);
                }
                RawEntryMut::Occupied(mut entry) => {
                    entry.insert(value);
                }
            }
        }
        map
    });
    // As `resolve_container` gives an object whose selection gave nothing.
    if map.is_empty() {
        Value::Null
    } else {
        Value::Object(map)
    }
}

/// The most response keys whose hashes [`KeyHashes`] keeps.
const KEPT_HASHES: usize = 64;

thread_local! {
    /// This thread's hasher of response objects and the hashes of the keys it last built objects with.
    static KEY_HASHES: RefCell<KeyHashes> = RefCell::new(KeyHashes {
        state: RandomState::new(),
        keys: Vec::new(),
        next: 0,
    });
}

/// The hasher every object [`object`] builds on one thread shares, and the hashes of the response keys it met last.
///
/// Why: an object is an `IndexMap` whose every insert hashed its key with SipHash, with a hasher of its own; on a
/// page of 50 sites with their departments and regions, 450 inserts per request, about 6 % of its instructions
/// (issue #16). The objects of a list have the same few keys, met in the same order, and the keys of a document sent
/// again are the same strings (parsed documents are kept, their names shared), so with one hasher per thread each
/// key's hash is computed once and found again by the key's address: first where the previous key was found plus
/// one, then anywhere. The maps stay ordinary maps: their hasher hashes any key looked up later to the hash stored
/// with it.
struct KeyHashes {
    state: RandomState,
    /// By the address of the key's text; the same text at two addresses (`name` under a site and under its
    /// department) has two entries.
    keys: Vec<(Name, u64)>,
    /// Where the next key is expected: after the one found last.
    next: usize,
}

impl KeyHashes {
    /// The hash of `key` under `self.state`.
    fn hash(&mut self, key: &Name) -> u64 {
        let same = |kept: &Name| std::ptr::eq(kept.as_str(), key.as_str());
        let at = match self.keys.get(self.next) {
            Some((kept, _)) if same(kept) => Some(self.next),
            _ => self.keys.iter().position(|(kept, _)| same(kept)),
        };
        if let Some((at, (_, hash))) = at.and_then(|at| Some((at, self.keys.get(at)?))) {
            self.next = at + 1;
            return *hash;
        }
        // Another address: the hash of the same text if it was met (another document, or another field of the
        // same name), else hashed now.
        let hash = match self.keys.iter().find(|(kept, _)| kept == key) {
            Some((_, hash)) => *hash,
            None => self.state.hash_one(key),
        };
        if self.keys.len() >= KEPT_HASHES {
            self.keys.clear();
        }
        self.keys.push((key.clone(), hash));
        self.next = self.keys.len();
        hash
    }
}

/// The selection's fields in order with their values from memory where `root` gives them, or `None` when the
/// selection is one this path does not reproduce exactly (see the module's documentation).
fn plan<'a, T: FromMemory>(
    ctx: &ContextSelectionSet<'a>,
    root: &'a T,
) -> Option<Vec<(Name, Slot<'a>)>> {
    let items = &ctx.item.node.items;
    let mut slots: Vec<(Name, Slot<'a>)> = Vec::with_capacity(items.len());
    for selection in items {
        let Selection::Field(field) = &selection.node else {
            return None;
        };
        let node = &field.node;
        if !node.directives.is_empty() {
            return None;
        }
        let key = &node.response_key().node;
        if slots.iter().any(|(seen, _)| seen == key) {
            return None;
        }
        let name = node.name.node.as_str();
        let value = if name == "__typename" {
            Some(Value::String(root.introspection_type_name().into_owned()))
        } else if !node.arguments.is_empty() {
            None
        } else if node.selection_set.node.items.is_empty() {
            root.field_from_memory(name).map(Answer::into_value)
        } else {
            let mut out = Out(Sink::Tree(None));
            match (root.object_from_memory(ctx, field, &mut out), out.0) {
                (true, Sink::Tree(value)) => value,
                _ => None,
            }
        };
        let slot = match value {
            Some(value) => Slot::Ready(value),
            None => Slot::Later(field),
        };
        slots.push((key.clone(), slot));
    }
    Some(slots)
}

/// Room for the text of one object written as a fragment at first: a site with its department and region is
/// about 200 bytes.
pub(crate) const FRAGMENT_CAPACITY: usize = 256;

/// Writes `root`'s object for the selection `ctx` into `fragment`, as [`plan`] and [`object`] would build it when
/// every field is in memory; `false`, with the fragment to be dropped, when a field is not, or the selection is one
/// [`plan`] does not reproduce.
pub(crate) fn write_object<T: FromMemory>(
    ctx: &ContextSelectionSet<'_>,
    root: &T,
    fragment: &mut Fragment,
) -> bool {
    let type_name = || root.introspection_type_name();
    write_selection(ctx, fragment, &type_name, |fragment, field| {
        let node = &field.node;
        if node.selection_set.node.items.is_empty() {
            match root.field_from_memory(node.name.node.as_str()) {
                Some(answer) => {
                    answer.write(fragment.text());
                    true
                }
                None => false,
            }
        } else {
            root.object_from_memory(ctx, field, &mut Out(Sink::Json(fragment)))
        }
    })
}

/// Writes the object of the selection `ctx` into `fragment`: its keys in order, `__typename` as `type_name` gives
/// it, and each other field's value by `value`, which returns `false` when it cannot write it. `false` also for a
/// selection [`plan`] does not reproduce (a fragment, a directive, a field with arguments, two fields under one
/// key); the fragment is then to be dropped. The selection is checked, and its keys written as JSON, once per
/// fragment ([`crate::kit::selection`]): the objects of a list share them.
pub(crate) fn write_selection(
    ctx: &ContextSelectionSet<'_>,
    fragment: &mut Fragment,
    type_name: &dyn Fn() -> Cow<'static, str>,
    mut value: impl FnMut(&mut Fragment, &Positioned<Field>) -> bool,
) -> bool {
    let items = &ctx.item.node.items;
    // As `object` gives an object whose selection gave nothing.
    if items.is_empty() {
        fragment.text().extend_from_slice(b"null");
        return true;
    }
    // A list's fragment checks the selection once and keeps its keys; another checks each field as it writes it.
    let set = match fragment.checked() {
        Some(checked) => {
            let set = checked.find(items);
            if checked.fields(set).is_none() {
                return false;
            }
            Some(set)
        }
        None => None,
    };
    // One loop, so that `value` is called from one place and inlined there.
    for i in 0..items.len() {
        let (index, typename) = match set {
            Some(set) => {
                let Some(checked) = fragment.write_checked_key(set, i) else {
                    return false;
                };
                checked
            }
            None => {
                let Some((key, typename)) = selection::field(items, i) else {
                    return false;
                };
                let text = fragment.text();
                text.push(if i == 0 { b'{' } else { b',' });
                json::write_key(text, key);
                (i, typename)
            }
        };
        let Some(Selection::Field(field)) = items.get(index).map(|item| &item.node) else {
            return false;
        };
        if typename {
            json::write_str(fragment.text(), &type_name());
        } else if !value(fragment, field) {
            return false;
        }
        fragment.field();
    }
    fragment.text().push(b'}');
    true
}

/// Declares `$fields`, a wrapper of `$node` (`#[repr(transparent)]`, [`ref_cast::RefCast`], dereferencing to
/// `$node`) to carry the object's `#[Object]` impl, and makes `$node` that GraphQL object, resolved through
/// [`resolve_object`] with `$node`'s [`FromMemory`]. The schema is the `#[Object]` impl's, unchanged: `$node`
/// registers it and resolves every field it does not give from memory through it.
#[macro_export]
macro_rules! object_from_memory {
    ($(#[$meta:meta])* $vis:vis struct $fields:ident for $node:ty) => {
        $(#[$meta])*
        #[derive(ref_cast::RefCast)]
        #[repr(transparent)]
        $vis struct $fields($node);

        impl ::std::ops::Deref for $fields {
            type Target = $node;

            fn deref(&self) -> &$node {
                &self.0
            }
        }

        impl async_graphql::OutputType for $node {
            fn type_name() -> ::std::borrow::Cow<'static, str> {
                <$fields as async_graphql::OutputType>::type_name()
            }

            fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
                <$fields as async_graphql::OutputType>::create_type_info(registry)
            }

            async fn resolve(
                &self,
                ctx: &async_graphql::ContextSelectionSet<'_>,
                _field: &async_graphql::Positioned<async_graphql::parser::types::Field>,
            ) -> async_graphql::ServerResult<async_graphql::Value> {
                $crate::kit::memory::resolve_object(ctx, self).await
            }
        }

        impl async_graphql::ContainerType for $node {
            async fn resolve_field(
                &self,
                ctx: &async_graphql::Context<'_>,
            ) -> async_graphql::ServerResult<Option<async_graphql::Value>> {
                <$fields as async_graphql::ContainerType>::resolve_field(
                    <$fields as ref_cast::RefCast>::ref_cast(self),
                    ctx,
                )
                .await
            }
        }

        impl async_graphql::ObjectType for $node {}
    };
}

#[cfg(test)]
mod tests;
