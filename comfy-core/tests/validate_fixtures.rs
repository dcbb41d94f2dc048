//! Our validator must agree with ComfyUI's own verdicts on every captured `POST /prompt`.
//!
//! For each `prompts/<name>.request.json` in the shared fixtures, `http/<name>.json` holds what a
//! real ComfyUI 0.3.64 answered. Rejected prompts must be rejected by us with the same nodes (and
//! inputs where ComfyUI names one); accepted prompts must pass. Deliberate differences are listed
//! in `EXPECTED_DIFFERENCES` with the reason.

use std::collections::BTreeSet;
use std::path::PathBuf;

use comfy_core::validate::{ProblemCode, ValidateOptions, ValidationReport, validate_value};
use comfy_core::{Catalog, NodeId};
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/comfyui")
}

fn read(path: PathBuf) -> Value {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Prompts ComfyUI accepted that we reject on purpose, with the problem we raise.
/// `prompt_v3_combo_value_not_validated`: SaveWEBM's V3 combo `codec` = "mpeg2" is accepted by
/// ComfyUI 0.3.64 at queue time and then fails at run time with a KeyError
/// (`history_prompt_v3_combo_runtime_error.json`); rejecting it up front saves a GPU round trip.
const EXPECTED_DIFFERENCES: &[(&str, &str, &str, ProblemCode)] =
    &[("prompt_v3_combo_value_not_validated", "2", "codec", ProblemCode::ValueNotInList)];

fn catalog() -> Catalog {
    let text = std::fs::read_to_string(fixtures().join("http/object_info_full.json")).unwrap();
    Catalog::from_json_str(&text).unwrap()
}

fn input_files() -> Vec<String> {
    let listing = read(fixtures().join("http/internal_files_input_after_uploads.json"));
    listing.as_array().unwrap().iter().filter_map(Value::as_str).map(str::to_owned).collect()
}

fn error_nodes(report: &ValidationReport) -> BTreeSet<String> {
    report.errors().filter_map(|p| p.node_id.as_ref().map(|n| n.0.clone())).collect()
}

fn has_error(report: &ValidationReport, node: &str, input: Option<&str>) -> bool {
    report.errors().any(|p| {
        p.node_id.as_ref().map(NodeId::as_str) == Some(node)
            && (input.is_none() || p.input.as_deref() == input)
    })
}

#[test]
fn verdicts_agree_with_comfyui_on_every_captured_prompt() {
    let catalog = catalog();
    let mut dir: Vec<_> = std::fs::read_dir(fixtures().join("prompts")).unwrap().flatten().collect();
    dir.sort_by_key(|e| e.file_name());
    let mut checked = 0;
    let mut rejected = 0;
    for entry in dir {
        let file = entry.file_name().to_string_lossy().to_string();
        let Some(name) = file.strip_suffix(".request.json") else { continue };
        let request = read(entry.path());
        let response = read(fixtures().join(format!("http/{name}.json")));
        let options = ValidateOptions {
            outputs: request
                .get("partial_execution_targets")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(NodeId::from).collect()),
            // The catalogue's LoadImage list is a snapshot taken before the fixture uploads; the
            // server's input folder as captured after them is the truth at queue time.
            input_files: input_files(),
            ..Default::default()
        };
        let report = match request.get("prompt") {
            Some(prompt) => validate_value(prompt, &catalog, &options),
            // ComfyUI: 400 no_prompt. A body without a graph is no workflow for us either.
            None => {
                assert_eq!(response["error"]["type"], "no_prompt", "{name}");
                assert!(comfy_core::Workflow::from_value(request.clone()).is_err(), "{name}");
                checked += 1;
                rejected += 1;
                continue;
            }
        };
        checked += 1;

        if let Some((_, node, input, code)) = EXPECTED_DIFFERENCES.iter().find(|d| d.0 == name) {
            assert!(response.get("error").is_none(), "{name}: ComfyUI accepted it");
            let p =
                report.errors().find(|p| p.code == *code).unwrap_or_else(|| panic!("{name}: {report:#?}"));
            assert_eq!(p.node_id.as_ref().unwrap().as_str(), *node, "{name}");
            assert_eq!(p.input.as_deref(), Some(*input), "{name}");
            continue;
        }

        let node_errors = response["node_errors"].as_object().cloned().unwrap_or_default();
        match response.get("error") {
            None => {
                // Accepted. With node_errors it was queued with only the untouched outputs.
                assert!(
                    report.comfyui_would_queue(),
                    "{name}: ComfyUI queued it but we would not:\n{report:#?}"
                );
                let mut blocked = BTreeSet::new();
                for (node, err) in &node_errors {
                    assert!(
                        has_error(&report, node, None),
                        "{name}: missing error on node {node}:\n{report:#?}"
                    );
                    for e in err["errors"].as_array().unwrap() {
                        let input = e["extra_info"]["input_name"].as_str();
                        assert!(has_error(&report, node, input), "{name}: node {node} input {input:?}");
                    }
                    for o in err["dependent_outputs"].as_array().unwrap() {
                        blocked.insert(o.as_str().unwrap().to_string());
                    }
                }
                if node_errors.is_empty() {
                    assert!(report.is_ok(), "{name}: ComfyUI accepted it but we report:\n{report:#?}");
                }
                let runnable: BTreeSet<String> =
                    report.runnable_outputs.iter().map(|n| n.0.clone()).collect();
                let expected: BTreeSet<String> =
                    report.outputs.iter().map(|n| n.0.clone()).filter(|o| !blocked.contains(o)).collect();
                assert_eq!(runnable, expected, "{name}");
            }
            Some(error) => {
                rejected += 1;
                assert!(!report.comfyui_would_queue(), "{name}: ComfyUI rejected it but we would queue it");
                assert!(!report.is_ok(), "{name}");
                let kind = error["type"].as_str().unwrap();
                match kind {
                    // "Node ID '#2'": the node with the missing or unknown class.
                    "invalid_prompt" => {
                        let details = error["details"].as_str().unwrap();
                        let node = details.trim_start_matches("Node ID '#").trim_end_matches('\'');
                        assert!(has_error(&report, node, None), "{name}: {report:#?}");
                    }
                    "prompt_no_outputs" => {
                        assert!(report.errors().any(|p| p.code == ProblemCode::NoOutputNode), "{name}");
                    }
                    "prompt_outputs_failed_validation" if node_errors.is_empty() => {
                        // Only the cycle fixture: ComfyUI recurses until RecursionError and loses the reason.
                        let cycle = report.errors().find(|p| p.code == ProblemCode::Cycle);
                        assert!(cycle.is_some(), "{name}: {report:#?}");
                    }
                    "prompt_outputs_failed_validation" => {
                        assert_eq!(
                            error_nodes(&report),
                            node_errors.keys().cloned().collect::<BTreeSet<_>>(),
                            "{name}: the same nodes must be in error:\n{report:#?}"
                        );
                        for (node, err) in &node_errors {
                            for e in err["errors"].as_array().unwrap() {
                                let info = &e["extra_info"];
                                let input = match e["type"].as_str() {
                                    // ComfyUI names the *consumer's* input here (it validates the missing
                                    // node from the downstream side); the offending input is the one on
                                    // this node that holds the link, which is what we name.
                                    Some("exception_during_inner_validation") => None,
                                    _ => info["input_name"].as_str(),
                                };
                                assert!(
                                    has_error(&report, node, input),
                                    "{name}: node {node} input {input:?}:\n{report:#?}"
                                );
                            }
                        }
                    }
                    other => panic!("{name}: unexpected ComfyUI error type {other}"),
                }
            }
        }
    }
    assert!(checked >= 37, "only {checked} prompts checked");
    assert!(rejected >= 15, "only {rejected} rejections checked");
}

#[test]
fn link_to_missing_node_names_the_holding_input() {
    let request = read(fixtures().join("prompts/prompt_error_link_to_missing_node.request.json"));
    let report = validate_value(&request["prompt"], &catalog(), &ValidateOptions::default());
    let p = report.errors().next().unwrap();
    assert_eq!(p.code, ProblemCode::LinkToMissingNode);
    assert_eq!(p.node_id.as_ref().unwrap().as_str(), "2");
    assert_eq!(p.input.as_deref(), Some("image"));
    assert!(p.message.contains("\"99\""));
    assert_eq!(p.dependent_outputs, vec![NodeId::from("3")]);
}
