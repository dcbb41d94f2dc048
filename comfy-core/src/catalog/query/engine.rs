//! Running a parsed query over a catalogue: a type index (who produces, who accepts each link
//! type), predicates, neighbours and breadth-first typed path-finding.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::parse::{Pred, Query, SortKey, Source, Stage};
use super::{ClassHit, PathStep, QueryResult, TypePath};
use crate::catalog::{Catalog, InputKind, NodeDef, Section};
use crate::error::{Error, Result};

/// Classes listed when the query sets no limit.
const DEFAULT_CLASS_LIMIT: usize = 50;
/// Paths listed when the query sets no limit.
const DEFAULT_PATH_LIMIT: usize = 10;
/// Partial paths the search may hold before it stops (and says the result is truncated).
const MAX_FRONTIER: usize = 20_000;
/// Steps the search may try in all, and complete paths it may collect, before it stops (and
/// says the result is truncated): a query answers in well under a second.
const MAX_WORK: usize = 200_000;
/// Complete paths collected at most.
const MAX_PATHS: usize = 2_000;

/// The link types of a class: its outputs, and its link inputs (name, the types it takes,
/// required or not). `*` (any) is left out: it would connect everything to everything.
struct Links<'a> {
    node: &'a NodeDef,
    outputs: Vec<String>,
    inputs: Vec<(String, Vec<String>, bool)>,
}

impl<'a> Links<'a> {
    fn of(node: &'a NodeDef) -> Self {
        let mut outputs: Vec<String> = Vec::new();
        for o in &node.outputs {
            if o.type_name != "*" && !outputs.contains(&o.type_name) {
                outputs.push(o.type_name.clone());
            }
        }
        let inputs = node
            .inputs
            .iter()
            .filter(|i| i.section != Section::Hidden)
            .filter_map(|i| match &i.kind {
                InputKind::Connection { type_name } => {
                    let types: Vec<String> = type_name
                        .split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty() && *t != "*")
                        .map(str::to_owned)
                        .collect();
                    (!types.is_empty()).then(|| (i.name.clone(), types, i.is_required()))
                }
                _ => None,
            })
            .collect();
        Links { node, outputs, inputs }
    }

    fn accepts(&self, t: &str) -> bool {
        self.inputs.iter().any(|(_, types, _)| types.iter().any(|x| x == t))
    }
}

/// The catalogue seen as a typed graph.
pub(super) struct Graph<'a> {
    classes: Vec<Links<'a>>,
    by_name: HashMap<&'a str, usize>,
    producers: HashMap<String, Vec<usize>>,
    acceptors: HashMap<String, Vec<usize>>,
    /// Every link type, keyed by its upper-case form (types are matched case-insensitively).
    types: BTreeMap<String, String>,
}

impl<'a> Graph<'a> {
    pub(super) fn new(catalog: &'a Catalog) -> Self {
        let classes: Vec<Links<'a>> = catalog.nodes().map(Links::of).collect();
        let mut g = Graph {
            by_name: classes.iter().enumerate().map(|(i, l)| (l.node.name.as_str(), i)).collect(),
            producers: HashMap::new(),
            acceptors: HashMap::new(),
            types: BTreeMap::new(),
            classes: Vec::new(),
        };
        for (i, l) in classes.iter().enumerate() {
            for t in &l.outputs {
                g.producers.entry(t.clone()).or_default().push(i);
                g.types.entry(t.to_ascii_uppercase()).or_insert_with(|| t.clone());
            }
            let mut seen = HashSet::new();
            for t in l.inputs.iter().flat_map(|(_, types, _)| types) {
                if seen.insert(t) {
                    g.acceptors.entry(t.clone()).or_default().push(i);
                    g.types.entry(t.to_ascii_uppercase()).or_insert_with(|| t.clone());
                }
            }
        }
        g.classes = classes;
        g
    }

    /// The catalogue's spelling of a type, or an error naming the closest ones.
    fn resolve_type(&self, t: &str, col: usize) -> Result<String> {
        if let Some(found) = self.types.get(&t.to_ascii_uppercase()) {
            return Ok(found.clone());
        }
        let close = crate::suggest::closest(t, self.types.values().map(String::as_str), 3);
        let expected = match close.is_empty() {
            true => "a link type of the catalogue (e.g. IMAGE, LATENT, MODEL)".to_owned(),
            false => format!("a link type of the catalogue ({})", crate::suggest::did_you_mean(&close)),
        };
        Err(Error::InvalidQuery { column: col, expected, found: format!("'{t}'") })
    }

    fn resolve_class(&self, c: &str, col: usize) -> Result<usize> {
        if let Some(i) = self.by_name.get(c) {
            return Ok(*i);
        }
        let close = crate::suggest::closest(c, self.by_name.keys().copied(), 3);
        let expected = match close.is_empty() {
            true => "a node class name (exact, quoted if it has spaces)".to_owned(),
            false => format!("a node class name ({})", crate::suggest::did_you_mean(&close)),
        };
        Err(Error::InvalidQuery { column: col, expected, found: format!("'{c}'") })
    }

    /// Distinct classes this one connects to, either way (itself excluded).
    fn connections(&self, i: usize) -> usize {
        let l = &self.classes[i];
        let mut set = HashSet::new();
        for t in l.inputs.iter().flat_map(|(_, types, _)| types) {
            set.extend(self.producers.get(t).into_iter().flatten().copied());
        }
        for t in &l.outputs {
            set.extend(self.acceptors.get(t).into_iter().flatten().copied());
        }
        set.remove(&i);
        set.len()
    }

    fn matches(&self, i: usize, p: &Pred) -> bool {
        let l = &self.classes[i];
        let n = l.node;
        match p {
            Pred::Produces(t) => l.outputs.iter().any(|o| o == t),
            Pred::Accepts(t) => l.accepts(t),
            Pred::Category(c) => {
                let (cat, want) = (n.category.to_lowercase(), c.to_lowercase());
                let want = want.trim_end_matches('/');
                cat == want || cat.starts_with(&format!("{want}/"))
            }
            Pred::Name(s) => {
                let s = s.to_lowercase();
                n.name.to_lowercase().contains(&s)
                    || n.display_name.as_deref().is_some_and(|d| d.to_lowercase().contains(&s))
            }
            Pred::Deprecated => n.deprecated,
            Pred::Experimental => n.experimental,
            Pred::Api => n.api_node,
            Pred::Output => n.output_node,
            Pred::Not(p) => !self.matches(i, p),
            Pred::And(a, b) => self.matches(i, a) && self.matches(i, b),
            Pred::Or(a, b) => self.matches(i, a) || self.matches(i, b),
        }
    }

    fn hit(&self, i: usize, via: Vec<String>) -> ClassHit {
        let l = &self.classes[i];
        let mut accepts: Vec<String> = Vec::new();
        for t in l.inputs.iter().filter(|(_, _, req)| *req).flat_map(|(_, types, _)| types) {
            if !accepts.contains(t) {
                accepts.push(t.clone());
            }
        }
        ClassHit {
            class_type: l.node.name.clone(),
            display_name: l.node.display_name.clone(),
            category: l.node.category.clone(),
            produces: l.outputs.clone(),
            accepts,
            connections: self.connections(i),
            via,
            api_node: l.node.api_node,
            deprecated: l.node.deprecated,
        }
    }

    /// The step a class makes from type `from`: the input that takes it, if every other
    /// required link input has some producer in the catalogue.
    fn step_input(&self, i: usize, from: &str) -> Option<&str> {
        let l = &self.classes[i];
        let input = l.inputs.iter().find(|(_, types, _)| types.iter().any(|t| t == from))?;
        let others_ok =
            l.inputs.iter().filter(|(name, _, req)| *req && *name != input.0).all(|(_, types, _)| {
                types.iter().any(|t| self.producers.get(t).is_some_and(|p| !p.is_empty()))
            });
        others_ok.then_some(input.0.as_str())
    }

    /// Shortest typed paths from `from` to `to` (breadth first, up to `depth` steps, no type
    /// visited twice on one path). Returns the paths and whether the search was cut short.
    fn paths(&self, from: &str, to: &str, depth: usize) -> (Vec<Vec<PathStep>>, bool) {
        let mut done = Vec::new();
        let mut frontier: Vec<(Vec<PathStep>, String)> = vec![(Vec::new(), from.to_owned())];
        let mut truncated = false;
        let mut work = 0usize;
        for _ in 0..depth {
            let mut next = Vec::new();
            'expand: for (path, at) in &frontier {
                for &i in self.acceptors.get(at).into_iter().flatten() {
                    work += 1;
                    if work > MAX_WORK || done.len() >= MAX_PATHS {
                        truncated = true;
                        break 'expand;
                    }
                    let Some(input) = self.step_input(i, at) else { continue };
                    for out in &self.classes[i].outputs {
                        let seen = *out == *from || path.iter().any(|s: &PathStep| s.output == *out);
                        if seen && *out != *to {
                            continue;
                        }
                        let mut p = path.clone();
                        p.push(PathStep {
                            class_type: self.classes[i].node.name.clone(),
                            input: input.to_owned(),
                            from: at.clone(),
                            output: out.clone(),
                        });
                        if *out == *to {
                            done.push(p);
                        } else if next.len() < MAX_FRONTIER {
                            next.push((p, out.clone()));
                        } else {
                            truncated = true;
                            break 'expand;
                        }
                    }
                }
            }
            frontier = next;
            if frontier.is_empty() || truncated {
                break;
            }
        }
        (done, truncated)
    }
}

enum Items {
    Classes(Vec<(usize, Vec<String>)>),
    Paths(Vec<Vec<PathStep>>),
}

/// Runs a parsed query.
pub(super) fn run(g: &Graph<'_>, q: &Query) -> Result<QueryResult> {
    // Types named anywhere must exist (a typo would otherwise just match nothing).
    let mut canon: HashMap<String, String> = HashMap::new();
    for (t, col) in &q.type_cols {
        canon.insert(t.clone(), g.resolve_type(t, *col)?);
    }
    let ty = |t: &String| canon.get(t).cloned().unwrap_or_else(|| t.clone());
    let mut truncated = false;
    let mut items = match &q.source {
        Source::All => Items::Classes((0..g.classes.len()).map(|i| (i, Vec::new())).collect()),
        Source::Upstream(c) => {
            let me = &g.classes[g.resolve_class(c, q.source_col)?];
            let mut via: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
            for t in me.inputs.iter().flat_map(|(_, types, _)| types) {
                for &p in g.producers.get(t).into_iter().flatten() {
                    via.entry(p).or_default().insert(t.clone());
                }
            }
            Items::Classes(via.into_iter().map(|(i, v)| (i, v.into_iter().collect())).collect())
        }
        Source::Downstream(c) => {
            let me = &g.classes[g.resolve_class(c, q.source_col)?];
            let mut via: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
            for t in &me.outputs {
                for &a in g.acceptors.get(t).into_iter().flatten() {
                    via.entry(a).or_default().insert(t.clone());
                }
            }
            Items::Classes(via.into_iter().map(|(i, v)| (i, v.into_iter().collect())).collect())
        }
        Source::Path { from, to, depth } => {
            let (paths, cut) = g.paths(&ty(from), &ty(to), *depth);
            truncated = cut;
            Items::Paths(paths)
        }
    };
    let mut limited = false;
    let mut total = None;
    for stage in &q.stages {
        match stage {
            Stage::Filter(p) => {
                let p = canonical(p, &ty);
                match &mut items {
                    Items::Classes(c) => c.retain(|(i, _)| g.matches(*i, &p)),
                    Items::Paths(ps) => ps.retain(|path| {
                        path.iter()
                            .all(|s| g.by_name.get(s.class_type.as_str()).is_some_and(|i| g.matches(*i, &p)))
                    }),
                }
            }
            Stage::Sort { key, desc, col } => match &mut items {
                Items::Classes(c) => {
                    let name = |i: &usize| g.classes[*i].node.name.to_lowercase();
                    match key {
                        SortKey::Name => c.sort_by_key(|(i, _)| name(i)),
                        SortKey::Category => {
                            c.sort_by_key(|(i, _)| (g.classes[*i].node.category.to_lowercase(), name(i)))
                        }
                        SortKey::Connections => c.sort_by_key(|(i, _)| (g.connections(*i), name(i))),
                        SortKey::Length => {
                            return Err(Error::InvalidQuery {
                                column: *col,
                                expected: "a sort key for classes: name, category or connections".into(),
                                found: "'length'".into(),
                            });
                        }
                    }
                    if *desc {
                        c.reverse();
                    }
                }
                Items::Paths(ps) => {
                    if *key != SortKey::Length {
                        return Err(Error::InvalidQuery {
                            column: *col,
                            expected: "the sort key for paths: length".into(),
                            found: format!("'{}'", sort_key_name(*key)),
                        });
                    }
                    ps.sort_by_key(Vec::len);
                    if *desc {
                        ps.reverse();
                    }
                }
            },
            Stage::Limit(n) => {
                let len = match &items {
                    Items::Classes(c) => c.len(),
                    Items::Paths(p) => p.len(),
                };
                total.get_or_insert(len);
                match &mut items {
                    Items::Classes(c) => c.truncate(*n),
                    Items::Paths(p) => p.truncate(*n),
                }
                limited = true;
            }
        }
    }
    let mut out = QueryResult { total: 0, truncated, classes: Vec::new(), paths: Vec::new() };
    match items {
        Items::Classes(mut c) => {
            out.total = total.unwrap_or(c.len());
            if !limited {
                c.truncate(DEFAULT_CLASS_LIMIT);
            }
            out.classes = c.into_iter().map(|(i, via)| g.hit(i, via)).collect();
        }
        Items::Paths(mut p) => {
            out.total = total.unwrap_or(p.len());
            if !limited {
                p.truncate(DEFAULT_PATH_LIMIT);
            }
            out.paths = p.into_iter().map(|steps| TypePath { length: steps.len(), steps }).collect();
        }
    }
    Ok(out)
}

/// The predicate with every type in the catalogue's spelling.
fn canonical(p: &Pred, ty: &impl Fn(&String) -> String) -> Pred {
    match p {
        Pred::Produces(t) => Pred::Produces(ty(t)),
        Pred::Accepts(t) => Pred::Accepts(ty(t)),
        Pred::Not(a) => Pred::Not(Box::new(canonical(a, ty))),
        Pred::And(a, b) => Pred::And(Box::new(canonical(a, ty)), Box::new(canonical(b, ty))),
        Pred::Or(a, b) => Pred::Or(Box::new(canonical(a, ty)), Box::new(canonical(b, ty))),
        other => other.clone(),
    }
}

fn sort_key_name(key: SortKey) -> &'static str {
    match key {
        SortKey::Name => "name",
        SortKey::Category => "category",
        SortKey::Connections => "connections",
        SortKey::Length => "length",
    }
}
