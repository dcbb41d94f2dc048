//! `execution.validate_prompt`: comfy-core's validator, mapped onto ComfyUI's verdicts and
//! its exact error JSON (`invalid_prompt`, `prompt_no_outputs`,
//! `prompt_outputs_failed_validation` with `node_errors`).

use std::collections::{HashMap, HashSet};

use comfy_core::catalog::{InputKind, NodeDef};
use comfy_core::validate::{ProblemCode, Severity, ValidateOptions, validate_value};
use comfy_core::{Catalog, NodeId, Workflow};
use serde_json::{Map, Value, json};

use crate::pyfmt::{py_repr, py_str};

/// What validation decided.
pub(crate) enum Verdict {
    /// Queue it with these outputs; `node_errors` for the outputs that were dropped.
    Accept {
        outputs: Vec<String>,
        node_errors: Value,
        workflow: Workflow,
        v3_combo_errors: Vec<(String, String)>,
    },
    /// 400 with `{"error", "node_errors"}`.
    Reject { error: Value, node_errors: Value },
    /// Python would have raised outside the validator: 500.
    Crash,
}

fn error(kind: &str, message: &str, details: &str) -> Value {
    json!({"type": kind, "message": message, "details": details, "extra_info": {}})
}

/// Parses every well-formed node; malformed ones are left out (they were already reported).
pub(crate) fn parse_lenient(prompt: &Map<String, Value>) -> Workflow {
    let mut wf = Workflow::new();
    for (id, node) in prompt {
        let mut single = Map::new();
        single.insert(id.clone(), node.clone());
        if let Ok(parsed) = Workflow::from_value(Value::Object(single))
            && let Some((nid, n)) = parsed.nodes().next()
        {
            wf.insert(nid.clone(), n.clone());
        }
    }
    wf
}

/// Validates a prompt like ComfyUI 0.3.64 does.
pub(crate) fn validate(
    prompt: &Value,
    catalog: &Catalog,
    targets: Option<&Value>,
    input_files: Vec<String>,
) -> Verdict {
    let Some(map) = prompt.as_object() else { return Verdict::Crash };

    // Every node needs a known class_type; the first offender stops everything.
    let mut outputs: Vec<String> = Vec::new();
    for (id, node) in map {
        let Some(class) = node.as_object().and_then(|n| n.get("class_type")) else {
            return reject_invalid("Cannot execute because a node is missing the class_type property.", id);
        };
        let class_name = py_str(class);
        let Some(def) = class.as_str().and_then(|c| catalog.node(c)) else {
            return reject_invalid(&format!("Cannot execute because node {class_name} does not exist."), id);
        };
        if def.output_node {
            let selected = match targets {
                None | Some(Value::Null) => true,
                Some(Value::Array(list)) => list.iter().any(|t| t.as_str() == Some(id)),
                Some(Value::String(s)) => s.contains(id.as_str()),
                Some(_) => return Verdict::Crash,
            };
            if selected {
                outputs.push(id.clone());
            }
        }
    }
    if outputs.is_empty() {
        return Verdict::Reject {
            error: error("prompt_no_outputs", "Prompt has no outputs", ""),
            node_errors: json!({}),
        };
    }

    let workflow = parse_lenient(map);
    let options = ValidateOptions {
        outputs: Some(outputs.iter().map(|o| NodeId::from(o.as_str())).collect()),
        input_files,
        ..Default::default()
    };
    let report = validate_value(prompt, catalog, &options);

    // Per-node ComfyUI errors, in problem order.
    let mut errors: Vec<(String, Vec<Value>)> = Vec::new();
    let mut exceptions: HashMap<String, Value> = HashMap::new();
    let mut v3_combo_errors = Vec::new();
    let mut cycle = false;
    for p in report.problems.iter().filter(|p| p.severity == Severity::Error) {
        let Some(node_id) = p.node_id.as_ref().map(|n| n.0.clone()) else { continue };
        let Some(node) = map.get(&node_id) else { continue };
        let Some(def) = node.get("class_type").and_then(Value::as_str).and_then(|c| catalog.node(c)) else {
            continue;
        };
        let ctx = Ctx { catalog, map, def, node, input: p.input.as_deref().unwrap_or("") };
        let err = match p.code {
            // ComfyUI does not check these at queue time.
            ProblemCode::LiteralForLinkInput | ProblemCode::UnknownInput | ProblemCode::CoercedValue => {
                continue;
            }
            ProblemCode::ValueNotInList if ctx.is_v3_combo() => {
                v3_combo_errors.push((node_id, ctx.input.to_string()));
                continue;
            }
            ProblemCode::Cycle => {
                cycle = true;
                continue;
            }
            ProblemCode::LinkToMissingNode => {
                let missing = ctx.link().map(|(n, _)| n).unwrap_or_default();
                exceptions.entry(node_id).or_insert_with(|| exception("KeyError", &format!("'{missing}'")));
                continue;
            }
            ProblemCode::LinkBadOutputIndex => {
                exceptions
                    .entry(node_id)
                    .or_insert_with(|| exception("IndexError", "tuple index out of range"));
                continue;
            }
            ProblemCode::InvalidNode => {
                exceptions.entry(node_id).or_insert_with(|| exception("TypeError", &p.message));
                continue;
            }
            _ => ctx.to_comfy(p.code, &p.message),
        };
        match errors.iter_mut().find(|(id, _)| *id == node_id) {
            Some((_, list)) => list.push(err),
            None => errors.push((node_id, vec![err])),
        }
    }

    // An exception while validating a node replaces that node's other findings. On an output it
    // is `exception_during_validation`; on an inner node it is reported by the consumer that
    // was recursing into it, naming the consumer's input.
    for (node_id, exc) in exceptions {
        let err = if outputs.contains(&node_id) {
            exc_during_validation(&exc)
        } else {
            inner_exception(catalog, map, &workflow, &node_id, &exc)
        };
        errors.retain(|(id, _)| *id != node_id);
        errors.push((node_id, vec![err]));
    }

    let cycle_nodes: HashSet<String> = if cycle {
        workflow.find_cycle().unwrap_or_default().into_iter().map(|n| n.0).collect()
    } else {
        HashSet::new()
    };
    let error_nodes: HashSet<&str> = errors.iter().map(|(id, _)| id.as_str()).collect();
    let mut node_errors = Map::new();
    let mut good = Vec::new();
    let mut details = Vec::new();
    for out in &outputs {
        let ancestors: Vec<String> = workflow
            .ancestors(&[NodeId::from(out.as_str())])
            .unwrap_or_default()
            .into_iter()
            .map(|n| n.0)
            .collect();
        let bad: Vec<&String> = ancestors.iter().filter(|a| error_nodes.contains(a.as_str())).collect();
        let in_cycle = ancestors.iter().any(|a| cycle_nodes.contains(a));
        if bad.is_empty() && !in_cycle {
            good.push(out.clone());
            continue;
        }
        for (id, errs) in errors.iter().filter(|(id, _)| bad.contains(&id)) {
            let entry = node_errors.entry(id.clone()).or_insert_with(|| {
                let class = map.get(id).and_then(|n| n.get("class_type")).cloned().unwrap_or(Value::Null);
                json!({"errors": errs, "dependent_outputs": [], "class_type": class})
            });
            if let Some(deps) = entry.get_mut("dependent_outputs").and_then(Value::as_array_mut) {
                deps.push(Value::String(out.clone()));
            }
            if id == out {
                for e in errs {
                    details.push(format!("{}: {}", py_str(&e["message"]), py_str(&e["details"])));
                }
            }
        }
    }
    // Listed in the order ComfyUI found them: by output, then as validated.
    let node_errors = Value::Object(node_errors);
    if good.is_empty() {
        return Verdict::Reject {
            error: json!({
                "type": "prompt_outputs_failed_validation",
                "message": "Prompt outputs failed validation",
                "details": details.join("\n"),
                "extra_info": {}
            }),
            node_errors,
        };
    }
    Verdict::Accept { outputs: good, node_errors, workflow, v3_combo_errors }
}

fn reject_invalid(message: &str, id: &str) -> Verdict {
    Verdict::Reject {
        error: error("invalid_prompt", message, &format!("Node ID '#{id}'")),
        node_errors: json!({}),
    }
}

fn exception(kind: &str, message: &str) -> Value {
    json!({"exception_type": kind, "message": message})
}

fn fake_traceback(line: &str) -> Value {
    json!([
        "  File \"<COMFYUI_ROOT>/execution.py\", line 1010, in validate_prompt\n    m = await validate_inputs(prompt_id, prompt, o, validated)\n",
        format!("  File \"<COMFYUI_ROOT>/execution.py\", line 790, in validate_inputs\n    {line}\n"),
    ])
}

fn exc_during_validation(exc: &Value) -> Value {
    json!({
        "type": "exception_during_validation",
        "message": "Exception when validating node",
        "details": exc["message"],
        "extra_info": {"exception_type": exc["exception_type"], "traceback": fake_traceback("received_type = r[val[1]]")}
    })
}

fn inner_exception(
    catalog: &Catalog,
    map: &Map<String, Value>,
    wf: &Workflow,
    node_id: &str,
    exc: &Value,
) -> Value {
    // The first consumer (in prompt order) linking to this node names the input.
    let consumer = wf.links_out(node_id).into_iter().next();
    let (input_name, input_config, slot) = match &consumer {
        Some(link) => {
            let config = map
                .get(link.target.as_str())
                .and_then(|n| n.get("class_type"))
                .and_then(Value::as_str)
                .and_then(|c| catalog.node(c))
                .map(|d| input_config(d, &link.input))
                .unwrap_or(Value::Null);
            (Value::String(link.input.clone()), config, link.output)
        }
        None => (Value::Null, Value::Null, 0),
    };
    json!({
        "type": "exception_during_inner_validation",
        "message": "Exception when validating inner node",
        "details": exc["message"],
        "extra_info": {
            "input_name": input_name,
            "input_config": input_config,
            "exception_message": exc["message"],
            "exception_type": exc["exception_type"],
            "traceback": fake_traceback("o_class_type = prompt[o_id]['class_type']"),
            "linked_node": [node_id, slot]
        }
    })
}

/// The input's `(type, options)` pair as ComfyUI reports it: `[type, {options}]`, with `{}` when
/// the spec declares no options.
fn input_config(def: &NodeDef, name: &str) -> Value {
    for section in ["required", "optional"] {
        if let Some(spec) = def.raw().get("input").and_then(|i| i.get(section)).and_then(|s| s.get(name)) {
            let kind = spec.get(0).cloned().unwrap_or_else(|| spec.clone());
            let options = spec.get(1).filter(|o| o.is_object()).cloned().unwrap_or_else(|| json!({}));
            return json!([kind, options]);
        }
    }
    Value::Null
}

struct Ctx<'a> {
    catalog: &'a Catalog,
    map: &'a Map<String, Value>,
    def: &'a NodeDef,
    node: &'a Value,
    input: &'a str,
}

impl Ctx<'_> {
    fn value(&self) -> Value {
        let v = self.node.get("inputs").and_then(|i| i.get(self.input)).cloned().unwrap_or(Value::Null);
        match v {
            Value::Object(ref m) if m.len() == 1 && m.contains_key("__value__") => m["__value__"].clone(),
            other => other,
        }
    }

    fn kind(&self) -> Option<&InputKind> {
        self.def.input(self.input).map(|i| &i.kind)
    }

    fn is_v3_combo(&self) -> bool {
        matches!(self.kind(), Some(InputKind::Combo { v3: true, .. }))
    }

    fn link(&self) -> Option<(String, u64)> {
        let v = self.node.get("inputs")?.get(self.input)?.as_array()?;
        Some((py_str(v.first()?), v.get(1)?.as_f64()? as u64))
    }

    fn config(&self) -> Value {
        input_config(self.def, self.input)
    }

    fn err(&self, kind: &str, message: String, details: String, extra: Value) -> Value {
        let mut extra_info = Map::new();
        extra_info.insert("input_name".into(), Value::String(self.input.to_string()));
        if let Value::Object(m) = extra {
            extra_info.extend(m);
        }
        json!({"type": kind, "message": message, "details": details, "extra_info": extra_info})
    }

    /// A ComfyUI error object for one comfy-core problem.
    fn to_comfy(&self, code: ProblemCode, fallback: &str) -> Value {
        let x = self.input;
        let val = self.value();
        match code {
            ProblemCode::RequiredInputMissing => {
                self.err("required_input_missing", "Required input is missing".into(), x.into(), json!({}))
            }
            ProblemCode::BadLinkedInput => self.err(
                "bad_linked_input",
                "Bad linked input, must be a length-2 list of [node_id, slot_index]".into(),
                x.into(),
                json!({"input_config": self.config(), "received_value": val}),
            ),
            ProblemCode::ReturnTypeMismatch => {
                let (src, slot) = self.link().unwrap_or_default();
                let received = self
                    .map
                    .get(&src)
                    .and_then(|n| n.get("class_type"))
                    .and_then(Value::as_str)
                    .and_then(|c| self.catalog.node(c))
                    .and_then(|d| d.raw().get("output").and_then(|o| o.get(slot as usize)).cloned())
                    .unwrap_or(Value::Null);
                let expected = self.kind().map(|k| k.type_name().to_string()).unwrap_or_default();
                self.err(
                    "return_type_mismatch",
                    "Return type mismatch between linked nodes".into(),
                    format!("{x}, received_type({}) mismatch input_type({expected})", py_str(&received)),
                    json!({"input_config": self.config(), "received_type": received, "linked_node": [src, slot]}),
                )
            }
            ProblemCode::InvalidInputType => {
                let type_name = self.kind().map(|k| k.type_name().to_string()).unwrap_or_default();
                let ex = conversion_error(&type_name, &val);
                self.err(
                    "invalid_input_type",
                    format!("Failed to convert an input value to a {type_name} value"),
                    format!("{x}, {}, {ex}", py_str(&val)),
                    json!({"input_config": self.config(), "received_value": val, "exception_message": ex}),
                )
            }
            ProblemCode::ValueSmallerThanMin | ProblemCode::ValueBiggerThanMax => {
                let converted = self.converted(&val);
                let (kind, word, key) = if code == ProblemCode::ValueSmallerThanMin {
                    ("value_smaller_than_min", "smaller than min", "min")
                } else {
                    ("value_bigger_than_max", "bigger than max", "max")
                };
                let bound = self.config().get(1).and_then(|o| o.get(key)).cloned().unwrap_or(Value::Null);
                self.err(
                    kind,
                    format!("Value {} {word} of {}", py_str(&converted), py_str(&bound)),
                    x.into(),
                    json!({"input_config": self.config(), "received_value": converted}),
                )
            }
            ProblemCode::ValueNotInList => {
                let is_upload = self.def.input(x).is_some_and(|i| i.options.upload.is_some());
                if is_upload {
                    // LoadImage-style VALIDATE_INPUTS replaces the list check.
                    return self.err(
                        "custom_validation_failed",
                        "Custom validation failed for node".into(),
                        format!("{x} - Invalid image file: {}", py_str(&val)),
                        json!({}),
                    );
                }
                let options = match self.kind() {
                    Some(InputKind::Combo { options, .. }) => options.clone(),
                    _ => Vec::new(),
                };
                let (list_info, config) = if options.len() > 20 {
                    (format!("(list of length {})", options.len()), Value::Null)
                } else {
                    (py_repr(&Value::Array(options)), self.config())
                };
                self.err(
                    "value_not_in_list",
                    "Value not in list".into(),
                    format!("{x}: '{}' not in {list_info}", py_str(&val)),
                    json!({"input_config": config, "received_value": val}),
                )
            }
            other => self.err(other.as_str(), fallback.to_string(), x.into(), json!({})),
        }
    }

    /// `int(val)` / `float(val)` as ComfyUI applies them before the bounds check.
    fn converted(&self, val: &Value) -> Value {
        let as_f64 = match val {
            Value::String(s) => s.trim().parse::<f64>().ok(),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            other => other.as_f64(),
        };
        match (self.kind(), as_f64) {
            (Some(InputKind::Int), _) if val.is_i64() || val.is_u64() => val.clone(),
            (Some(InputKind::Int), Some(f)) => json!(f.trunc() as i64),
            (Some(InputKind::Float), Some(f)) => json!(f),
            _ => val.clone(),
        }
    }
}

/// Python's exception text for a failed `int()` / `float()` conversion.
fn conversion_error(type_name: &str, val: &Value) -> String {
    match (type_name, val) {
        ("INT", Value::String(_)) => format!("invalid literal for int() with base 10: {}", py_repr(val)),
        ("FLOAT", Value::String(_)) => format!("could not convert string to float: {}", py_repr(val)),
        ("INT", Value::Null) => {
            "int() argument must be a string, a bytes-like object or a real number, not 'NoneType'".into()
        }
        ("FLOAT", Value::Null) => "float() argument must be a string or a real number, not 'NoneType'".into(),
        (t, v) => format!("cannot convert {} to {t}", py_repr(v)),
    }
}
