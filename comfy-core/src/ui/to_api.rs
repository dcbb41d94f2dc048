//! UI → API: the steps of `graphToPrompt` (ComfyUI_frontend 1.27.10, `executionUtil.ts`).

use std::collections::HashMap;
use std::rc::Rc;

use indexmap::IndexMap;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Map, Value};

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::workflow::{Input, Link, Node, NodeId, Workflow};

use super::flatten::{Flat, Kind, flatten, is_active};
use super::model::{Document, UiNode, parse_document};
use super::resolve::{Promoted, Resolved, Resolver};
use super::state::{SAVE_CLASSES, States, default_title, saved_list};
use super::text::{Clock, dynamic_prompt};
use super::widgets::Role;
use super::{UiConversion, UiOptions};

/// Where a promoted widget's value comes from when the instance did not save one.
#[derive(Debug, Clone)]
enum Source {
    Widget(Value),
    /// The file marks the inner socket as a widget the catalogue does not know (the template was
    /// saved for a newer version of the node): the instance's value is used if it has one.
    Unknown,
    /// The input feeds an instance of another subgraph: that instance's promoted widget.
    Nested {
        scope: usize,
        node: usize,
        def: usize,
        io: usize,
    },
}

#[derive(Debug, Clone)]
struct PromotedInput {
    io: usize,
    has_control: bool,
    source: Source,
}

/// Promoted widgets of subgraph instances (`SubgraphNode`): one per definition input whose
/// first link reaches a widget inside; the instance's `widgets_values` hold their values in
/// input order (older files add a slot after each one that has a control_after_generate).
struct Promotions<'a> {
    doc: &'a Document,
    flat: &'a Flat,
    states: &'a States,
    lists: HashMap<usize, Rc<Vec<PromotedInput>>>,
}

impl Promotions<'_> {
    fn list(&mut self, def: usize) -> Rc<Vec<PromotedInput>> {
        if let Some(l) = self.lists.get(&def) {
            return l.clone();
        }
        let scope = &self.doc.scopes[def];
        let mut list = Vec::new();
        for (io, slot) in scope.io_inputs.iter().enumerate() {
            for link_id in &slot.link_ids {
                let Some(link) = scope.links.get(link_id) else { continue };
                let Some((t, target)) = scope.node(&link.target) else { continue };
                let Some(input) = target.inputs.iter().find(|i| i.link.as_ref() == Some(link_id)) else {
                    continue;
                };
                if let Some(state) = self.states.nodes.get(&(def, t)) {
                    let Some(name) = input.widget.as_deref() else { continue };
                    let source = match state.get(name) {
                        Some(value) => Source::Widget(value.clone()),
                        None => Source::Unknown,
                    };
                    list.push(PromotedInput { io, has_control: state.has_control(name), source });
                    break;
                }
                if let Some(&inner_def) = self.doc.subgraphs.get(&target.type_)
                    && let Some(inner_io) =
                        self.doc.scopes[inner_def].io_inputs.iter().position(|s| s.name == input.name)
                {
                    list.push(PromotedInput {
                        io,
                        has_control: false,
                        source: Source::Nested { scope: def, node: t, def: inner_def, io: inner_io },
                    });
                    break;
                }
            }
        }
        let list = Rc::new(list);
        self.lists.insert(def, list.clone());
        list
    }

    fn value_for(&mut self, node: &UiNode, mut def: usize, mut io: usize) -> Option<Value> {
        let doc = self.doc;
        let mut node: &UiNode = node;
        for _ in 0..=64 {
            let list = self.list(def);
            let pos = list.iter().position(|p| p.io == io)?;
            let saved = saved_list(node.widgets_values.as_ref());
            let extra = saved.len() > list.len();
            let index: usize = list[..pos].iter().map(|p| if extra && p.has_control { 2 } else { 1 }).sum();
            if let Some(v) = saved.get(index) {
                return Some(v.clone());
            }
            match &list[pos].source {
                Source::Widget(v) => return Some(v.clone()),
                Source::Unknown => return None,
                Source::Nested { scope, node: n, def: d, io: i } => {
                    node = &doc.scopes[*scope].nodes[*n];
                    def = *d;
                    io = *i;
                }
            }
        }
        None
    }
}

impl Promoted for Promotions<'_> {
    fn promoted_value(&mut self, dto: usize, io_index: usize) -> Option<Value> {
        let d = &self.flat.dtos[dto];
        let Kind::Subgraph(def) = d.kind else { return None };
        let node = &self.doc.scopes[d.scope].nodes[d.node];
        self.value_for(node, def, io_index)
    }
}

/// The upload widget's value transform (`createAnnotatedPath`): a file from another folder than
/// `input` gets ` [folder]` unless it already names one.
/// Whether a widget value holds a template placeholder (`{{name}}` anywhere, or a whole
/// `PARAM_…` value), which [`UiOptions::keep_placeholders`] passes through untouched.
fn is_placeholder(v: &Value) -> bool {
    match v {
        Value::String(s) => crate::template::placeholder::residue(s).is_some(),
        _ => false,
    }
}

fn annotate(v: Value, folder: &str) -> Value {
    let annotated = |s: &str| {
        let lower = s.to_lowercase();
        ["[input]", "[output]", "[temp]"].iter().any(|a| lower.contains(a))
    };
    match v {
        Value::String(s) if !s.is_empty() && !annotated(&s) => Value::String(format!("{s} [{folder}]")),
        Value::Array(items) => match items.into_iter().next() {
            Some(Value::String(first)) => annotate(Value::String(first), folder),
            Some(other) => other,
            None => Value::Array(Vec::new()),
        },
        other => other,
    }
}

/// Array values are wrapped so that they are not read as links.
fn wrap(v: Value) -> Value {
    match v {
        Value::Array(items) => {
            let mut m = Map::new();
            m.insert("__value__".into(), Value::Array(items));
            Value::Object(m)
        }
        other => other,
    }
}

/// JavaScript puts integer-like keys first, ascending, then the others in insertion order.
fn js_key_order(nodes: IndexMap<String, Node>) -> Vec<(String, Node)> {
    let index_like = |k: &str| -> Option<u64> {
        if k == "0"
            || (!k.starts_with('0')
                && !k.is_empty()
                && k.len() <= 10
                && k.bytes().all(|b| b.is_ascii_digit()))
        {
            k.parse::<u64>().ok().filter(|&n| n < u64::from(u32::MAX))
        } else {
            None
        }
    };
    let (mut ints, rest): (Vec<_>, Vec<_>) = nodes.into_iter().partition(|(k, _)| index_like(k).is_some());
    ints.sort_by_key(|(k, _)| index_like(k).unwrap_or(0));
    ints.extend(rest);
    ints
}

/// Per group-node instance: `(inner node, widget)` → the instance's saved value.
fn group_overrides(doc: &Document, flat: &Flat, instance: usize) -> HashMap<(usize, String), Value> {
    let d = &flat.dtos[instance];
    let Kind::Group(def) = d.kind else { return HashMap::new() };
    let saved = saved_list(doc.scopes[d.scope].nodes[d.node].widgets_values.as_ref());
    doc.scopes[def]
        .group_widgets
        .iter()
        .zip(saved)
        .filter_map(|(slot, v)| slot.as_ref().map(|(n, w)| ((*n, w.clone()), v)))
        .collect()
}

pub(crate) fn convert(ui: &Value, catalog: &Catalog, options: &UiOptions) -> Result<UiConversion> {
    let mut doc = parse_document(ui)?;
    let mut warnings = Vec::new();
    super::group::build_scopes(&mut doc, catalog, &mut warnings);
    super::state::load_inputs(&mut doc, catalog);
    let flat = flatten(&doc, catalog)?;

    let mut missing: Vec<(String, String)> = Vec::new();
    for d in &flat.dtos {
        let node = &doc.scopes[d.scope].nodes[d.node];
        if d.kind == Kind::Unknown {
            if is_active(&doc, d) {
                missing.push((d.exec_id.clone(), node.type_.clone()));
            } else {
                warnings.push(format!(
                    "node \"{}\" has class {:?}, which this server does not have; it is muted or bypassed, so it is left out",
                    d.exec_id, node.type_
                ));
            }
        }
    }
    if !missing.is_empty() {
        let mut classes: Vec<String> = missing.iter().map(|(_, c)| c.clone()).collect();
        classes.sort();
        classes.dedup();
        return Err(Error::UnknownNodeClasses { classes, nodes: missing });
    }

    let clock = options.now_unix.map(Clock::from_unix).unwrap_or_else(Clock::now);
    let states = States::build(&doc, catalog, options.strict_widgets, &clock)?;
    warnings.extend(states.warnings.iter().cloned());
    let mut rng = match options.seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_os_rng(),
    };
    let resolver = Resolver { doc: &doc, catalog, flat: &flat };
    let mut promotions = Promotions { doc: &doc, flat: &flat, states: &states, lists: HashMap::new() };
    let mut groups: HashMap<usize, HashMap<(usize, String), Value>> = HashMap::new();
    let mut randomized: Vec<(NodeId, String)> = Vec::new();
    let mut out: IndexMap<String, Node> = IndexMap::new();

    for (i, d) in flat.dtos.iter().enumerate() {
        if !is_active(&doc, d) {
            continue;
        }
        let node = &doc.scopes[d.scope].nodes[d.node];
        let Some(state) = states.nodes.get(&(d.scope, d.node)) else { continue };
        let mut values = state.values.clone();
        if let Some(parent) = d.parent
            && matches!(flat.dtos[parent].kind, Kind::Group(_))
        {
            let overrides = groups.entry(parent).or_insert_with(|| group_overrides(&doc, &flat, parent));
            for (w, v) in state.layout.iter().zip(values.iter_mut()) {
                if let Some(o) = overrides.get(&(d.node, w.name.clone())) {
                    *v = Some(o.clone());
                }
            }
        }
        let mut inputs: IndexMap<String, Input> = IndexMap::new();
        let mut controlled: Vec<String> = Vec::new();
        let mut last_value: Option<&str> = None;
        for (w, v) in state.layout.iter().zip(values) {
            match w.role {
                Role::Value | Role::Computed => last_value = Some(&w.name),
                Role::Control => {
                    if v.as_ref().and_then(Value::as_str).is_some_and(|m| m != "fixed")
                        && let Some(name) = last_value
                    {
                        controlled.push(name.to_owned());
                    }
                }
                _ => {}
            }
            // An undefined value (a combo without options) is left out, as JSON.stringify does.
            let Some(mut v) = v else { continue };
            if !w.in_prompt || w.name.is_empty() {
                continue;
            }
            if w.role == Role::Computed {
                warnings.push(format!(
                    "node \"{}\" ({}) input {:?}: the editor computes this value when it queues (a 3D \
                     capture, webcam frame or recording); {} is sent instead",
                    d.exec_id,
                    node.type_,
                    w.name,
                    crate::json::preview(&v)
                ));
            }
            let placeholder = options.keep_placeholders && is_placeholder(&v);
            if let Some(folder) = w.folder.as_ref().filter(|_| !placeholder) {
                v = annotate(v, folder);
            }
            let save_prefix = w.name == "filename_prefix" && SAVE_CLASSES.contains(&node.type_.as_str());
            if let Value::String(text) = &v
                && !placeholder
            {
                if save_prefix {
                    let (replaced, dated) = states.replace_text(&doc, catalog, text, &clock);
                    if dated {
                        randomized.push((NodeId(d.exec_id.clone()), w.name.clone()));
                    }
                    v = Value::String(replaced);
                } else if w.dynamic {
                    let (processed, chose) = dynamic_prompt(text, &mut rng);
                    if chose {
                        randomized.push((NodeId(d.exec_id.clone()), w.name.clone()));
                    }
                    v = Value::String(processed);
                }
            }
            inputs.insert(w.name.clone(), Input::Value(wrap(v)));
        }
        for (slot_index, slot) in node.inputs.iter().enumerate() {
            match resolver.resolve_input(i, slot_index, &mut promotions)? {
                Resolved::Nothing => {}
                Resolved::Widget(v) => {
                    inputs.insert(slot.name.clone(), Input::Value(wrap(v)));
                }
                Resolved::Link { dto, slot: output } => {
                    let link = Link { node: NodeId(flat.dtos[dto].exec_id.clone()), output: output as u32 };
                    inputs.insert(slot.name.clone(), Input::Link(link));
                }
            }
        }
        for name in controlled {
            if inputs.get(&name).is_some_and(|v| v.as_value().is_some()) {
                randomized.push((NodeId(d.exec_id.clone()), name));
            }
        }
        let mut api = Node::new(node.type_.clone()).with_title(default_title(&doc, catalog, node));
        api.inputs = inputs;
        out.insert(d.exec_id.clone(), api);
    }

    // Links to nodes that are not in the prompt (muted, or without a class) are removed.
    let present: std::collections::HashSet<String> = out.keys().cloned().collect();
    for node in out.values_mut() {
        node.inputs.retain(|_, v| v.as_link().is_none_or(|l| present.contains(l.node.as_str())));
    }
    randomized.retain(|(id, name)| out.get(id.as_str()).is_some_and(|n| n.inputs.contains_key(name)));

    let mut workflow = Workflow::new();
    for (id, node) in js_key_order(out) {
        workflow.insert(id, node);
    }
    Ok(UiConversion { workflow, warnings, randomized })
}
