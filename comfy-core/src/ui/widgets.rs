//! Which widgets the editor builds for a node class, in order, and how the saved
//! `widgets_values` map onto them (ComfyUI_frontend 1.27.10).
//!
//! `litegraphService.ts` `#addInputs` walks the inputs in `getOrderedInputSpecs` order
//! (`input_order.required`, `input_order.optional`, then inputs that extensions injected) and,
//! for every input whose type has a widget constructor and that is not `forceInput`, calls the
//! constructor, which may add more than one widget:
//!
//! - `INT`: the value, then a `control_after_generate` combo when the input asks for one — or,
//!   when it does not say, when it is named `seed`/`noise_seed` (`useIntWidget.ts`);
//! - `COMBO`: the value; for a `remote` combo the auto-refresh toggle and, with
//!   `refresh_button`, a `refresh` button whose value `"refresh"` *is* sent in the prompt (as
//!   the 3D loader's buttons are); then `control_after_generate` and `control_filter_list` when
//!   asked;
//! - the upload button of `image_upload`/`video_upload`/`animated_image_upload` combos
//!   (`IMAGEUPLOAD`, value `"image"`) and of `audio_upload` (`AUDIOUPLOAD`, value `""`), injected
//!   as an `upload` input by `uploadImage.ts`/`uploadAudio.ts`;
//! - the `audioUI` player of the audio load/save/preview nodes (not saved, sent as `""`);
//! - the 3D viewers (`LOAD_3D`: three buttons and the viewer, whose value is a capture taken when
//!   queueing; `PREVIEW_3D` on Preview3D/SaveGLB), the webcam and the audio recorder;
//!
//! and `nodeCreated` hooks add PreviewAny's `preview` text (not saved, sent as `""`) and the
//! webcam's capture button. Control widgets never reach the prompt; buttons do (their value
//! is their label) unless they opt out, as the upload and webcam buttons do.
//!
//! Saving writes `widgets_values[i]` by widget index (unsaved widgets leave holes); loading
//! assigns the values *sequentially* to the widgets that are saved (`LGraphNode.configure`),
//! after `migrateWidgetsValues` dropped the slots old files kept for `forceInput` inputs.

use serde_json::{Map, Value};

use crate::catalog::{InputDef, InputKind, NodeDef, Section};

use super::model::WidgetValues;

/// What a widget is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The widget of a declared input: its value is the input's value.
    Value,
    /// `control_after_generate` (`fixed`, `increment`, `decrement`, `randomize`).
    Control,
    /// `control_filter_list` of a combo with a control.
    ControlFilter,
    /// Buttons, players and viewers an extension adds.
    Ui,
    /// A value the editor computes when queueing (3D capture, webcam frame, recording): the saved
    /// value is sent, with a warning.
    Computed,
}

/// One widget of a node.
#[derive(Debug, Clone)]
pub(crate) struct Widget {
    pub name: String,
    pub role: Role,
    /// Written to `widgets_values` (`widget.serialize !== false`).
    pub saved: bool,
    /// Sent in the prompt (`widget.options.serialize !== false`, and a defined value).
    pub in_prompt: bool,
    /// The value a fresh widget has (`None`: `undefined`, left out of the prompt).
    pub default: Option<Value>,
    /// A DOM widget without a value store: loading consumes a slot but the value stays.
    pub fixed: bool,
    /// The declared input behind a [`Role::Value`]/[`Role::Computed`] widget.
    pub input: Option<usize>,
    /// For the file combo of an upload: the folder annotation added to its value
    /// (`image_folder` other than `input`, e.g. `" [output]"`).
    pub folder: Option<String>,
    /// A STRING widget with `dynamicPrompts: true`.
    pub dynamic: bool,
}

impl Widget {
    fn new(name: &str, role: Role, saved: bool, in_prompt: bool, default: Option<Value>) -> Widget {
        Widget {
            name: name.to_owned(),
            role,
            saved,
            in_prompt,
            default,
            fixed: false,
            input: None,
            folder: None,
            dynamic: false,
        }
    }
}

/// Widget constructors of the editor beyond INT/FLOAT/STRING/BOOLEAN/COMBO (`ComfyWidgets` and
/// the core extensions' `getCustomWidgets`).
const WIDGET_TYPES: &[&str] = &[
    "MARKDOWN",
    "IMAGEUPLOAD",
    "FILEUPLOAD",
    "COLOR",
    "IMAGECOMPARE",
    "TREESELECT",
    "MULTISELECT",
    "CHART",
    "GALLERIA",
    "SELECTBUTTON",
    "TEXTAREA",
    "LOAD_3D",
    "LOAD_3D_ANIMATION",
    "PREVIEW_3D",
    "PREVIEW_3D_ANIMATION",
    "AUDIO_UI",
    "AUDIOUPLOAD",
    "AUDIO_RECORD",
    "WEBCAM",
];

/// Classes that get the `audioUI` player (`uploadAudio.ts`, 1.27.10).
const AUDIO_UI_CLASSES: &[&str] =
    &["LoadAudio", "SaveAudio", "PreviewAudio", "SaveAudioMP3", "SaveAudioOpus"];

/// JavaScript truthiness of an option value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// The widget type of an input: `widgetType` if given, else its type.
fn widget_type(input: &InputDef) -> &str {
    if let Some(Value::String(t)) = input.options.raw.get("widgetType") {
        return t;
    }
    input.kind.type_name()
}

/// Whether the editor makes a widget for this input.
pub(crate) fn has_widget(input: &InputDef) -> bool {
    if input.options.force_input || input.section == Section::Hidden {
        return false;
    }
    let t = widget_type(input);
    matches!(t, "INT" | "FLOAT" | "STRING" | "BOOLEAN" | "COMBO") || WIDGET_TYPES.contains(&t)
}

/// A combo's default (`getDefaultValue`): a truthy default, else the first option, else
/// `"Loading..."` for remote combos, else undefined.
fn combo_default(input: &InputDef, options: &[Value]) -> Option<Value> {
    if let Some(d) = input.options.default.as_ref().filter(|d| truthy(d)) {
        return Some(d.clone());
    }
    if let Some(first) = options.first() {
        return Some(first.clone());
    }
    input.options.remote.then(|| Value::String("Loading...".into()))
}

/// The value a fresh widget of this input has.
pub(crate) fn default_value(input: &InputDef) -> Option<Value> {
    let declared = input.options.default.clone().filter(|d| !d.is_null());
    match &input.kind {
        InputKind::Int | InputKind::Float => Some(declared.unwrap_or_else(|| Value::from(0))),
        InputKind::Boolean => Some(declared.unwrap_or(Value::Bool(false))),
        InputKind::String => Some(declared.unwrap_or_else(|| Value::String(String::new()))),
        InputKind::Combo { multiselect: true, .. } => {
            Some(declared.unwrap_or_else(|| Value::Array(Vec::new())))
        }
        InputKind::Combo { options, .. } => combo_default(input, options),
        InputKind::Connection { .. } => Some(declared.unwrap_or_else(|| Value::String(String::new()))),
    }
}

fn is_media_upload(input: &InputDef) -> bool {
    matches!(input.kind, InputKind::Combo { .. })
        && ["image_upload", "video_upload", "animated_image_upload"]
            .iter()
            .any(|k| input.options.raw.get(*k) == Some(&Value::Bool(true)))
}

/// Inputs extensions inject into a class: `(name, widget type)`.
fn injected(def: &NodeDef) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    let required = |i: &&InputDef| i.section == Section::Required;
    if AUDIO_UI_CLASSES.contains(&def.name.as_str()) {
        out.push(("audioUI", "AUDIO_UI"));
    }
    if def
        .inputs
        .iter()
        .filter(required)
        .any(|i| i.name == "audio" && i.options.raw.get("audio_upload") == Some(&Value::Bool(true)))
    {
        out.push(("upload", "AUDIOUPLOAD"));
    }
    if def.inputs.iter().filter(required).any(is_media_upload) {
        out.push(("upload", "IMAGEUPLOAD"));
    }
    match def.name.as_str() {
        "Preview3D" | "SaveGLB" => out.push(("image", "PREVIEW_3D")),
        "Preview3DAnimation" => out.push(("image", "PREVIEW_3D_ANIMATION")),
        _ => {}
    }
    out
}

fn declared_widgets(out: &mut Vec<Widget>, index: usize, input: &InputDef) {
    let name = input.name.as_str();
    let value = |role: Role, default: Option<Value>| {
        let mut w = Widget::new(name, role, true, true, default);
        w.input = Some(index);
        w
    };
    match widget_type(input) {
        "LOAD_3D" | "LOAD_3D_ANIMATION" => {
            for (button, v) in [
                ("upload 3d model", "upload3dmodel"),
                ("upload extra resources", "uploadExtraResources"),
                ("clear", "clear"),
            ] {
                out.push(Widget::new(button, Role::Ui, true, true, Some(Value::String(v.into()))));
            }
            let mut viewer = value(Role::Computed, Some(Value::String(String::new())));
            viewer.fixed = true;
            out.push(viewer);
        }
        "AUDIO_RECORD" => {
            let mut recorder = value(Role::Computed, Some(Value::String(String::new())));
            recorder.fixed = true;
            out.push(recorder);
            out.push(Widget::new(name, Role::Ui, true, false, Some(Value::String(String::new()))));
        }
        "WEBCAM" => {
            let mut camera = value(Role::Computed, Some(Value::String(String::new())));
            camera.fixed = true;
            out.push(camera);
        }
        "INT" => {
            out.push(value(Role::Value, default_value(input)));
            let control = match input.options.raw.get("control_after_generate") {
                Some(v) => truthy(v),
                None => name == "seed" || name == "noise_seed",
            };
            if control {
                out.push(control_widget(input));
            }
        }
        "COMBO" => {
            let mut w = value(Role::Value, default_value(input));
            if is_media_upload(input)
                && let Some(Value::String(folder)) = input.options.raw.get("image_folder")
                && folder != "input"
            {
                w.folder = Some(folder.clone());
            }
            out.push(w);
            let multiselect = matches!(input.kind, InputKind::Combo { multiselect: true, .. });
            if !multiselect && let Some(remote) = input.options.raw.get("remote").filter(|r| truthy(r)) {
                remote_widgets(out, remote);
            }
            if !multiselect && input.options.raw.get("control_after_generate").is_some_and(truthy) {
                out.push(control_widget(input));
                out.push(Widget::new(
                    "control_filter_list",
                    Role::ControlFilter,
                    true,
                    false,
                    Some(Value::from("")),
                ));
            }
        }
        "STRING" => {
            let mut w = value(Role::Value, default_value(input));
            w.dynamic = input.options.raw.get("dynamicPrompts") == Some(&Value::Bool(true));
            out.push(w);
        }
        _ => out.push(value(Role::Value, default_value(input))),
    }
}

/// What `useRemoteWidget.ts` adds after a remote combo: the "Auto-refresh after generation"
/// toggle (saved as `false`, `options.serialize: false` keeps it out of the prompt) and, with
/// `refresh_button`, the `refresh` button (`node.addWidget('button', 'refresh', 'refresh')`):
/// a plain widget, so its value `"refresh"` is saved *and* sent as the input `refresh`.
fn remote_widgets(out: &mut Vec<Widget>, remote: &Value) {
    out.push(Widget::new(AUTO_REFRESH, Role::Ui, true, false, Some(Value::Bool(false))));
    if remote.get("refresh_button").is_some_and(truthy) {
        out.push(Widget::new("refresh", Role::Ui, true, true, Some(Value::String("refresh".into()))));
    }
}

/// The name of the toggle every remote combo gets.
const AUTO_REFRESH: &str = "Auto-refresh after generation";

/// The name of a control widget: `control_after_generate`, or the string the input gives.
fn control_name(input: &InputDef) -> &str {
    match input.options.raw.get("control_after_generate") {
        Some(Value::String(s)) => s,
        _ => "control_after_generate",
    }
}

/// The control widget the editor adds after a seed-like value (default `randomize`).
fn control_widget(input: &InputDef) -> Widget {
    Widget::new(control_name(input), Role::Control, true, false, Some(Value::from("randomize")))
}

fn injected_widgets(out: &mut Vec<Widget>, name: &str, widget_type: &str) {
    let blank = || Some(Value::String(String::new()));
    match widget_type {
        "AUDIO_UI" => {
            let mut w = Widget::new(name, Role::Ui, false, true, blank());
            w.fixed = true;
            out.push(w);
        }
        "AUDIOUPLOAD" => out.push(Widget::new(name, Role::Ui, true, false, blank())),
        "IMAGEUPLOAD" => {
            out.push(Widget::new(name, Role::Ui, true, false, Some(Value::String("image".into()))))
        }
        _ => {
            // PREVIEW_3D / PREVIEW_3D_ANIMATION: a viewer whose value is always "".
            let mut w = Widget::new(name, Role::Ui, true, true, blank());
            w.fixed = true;
            out.push(w);
        }
    }
}

/// The widgets of a node of class `def`, in editor order.
pub(crate) fn layout(def: &NodeDef) -> Vec<Widget> {
    let mut out = Vec::new();
    let extra = injected(def);
    // Without `input_order`, injected (required) inputs come before the optional ones.
    let ordered = def.has_input_order();
    let mut injected_done = false;
    for (index, input) in def.inputs.iter().enumerate() {
        if !ordered && !injected_done && input.section != Section::Required {
            for (name, t) in &extra {
                injected_widgets(&mut out, name, t);
            }
            injected_done = true;
        }
        if has_widget(input) {
            declared_widgets(&mut out, index, input);
        }
    }
    if !injected_done {
        for (name, t) in &extra {
            injected_widgets(&mut out, name, t);
        }
    }
    match def.name.as_str() {
        "PreviewAny" => {
            let mut w = Widget::new("preview", Role::Ui, false, true, Some(Value::String(String::new())));
            w.fixed = true;
            out.push(w);
        }
        "WebcamCapture" => {
            out.push(Widget::new(
                "waiting for camera...",
                Role::Ui,
                true,
                false,
                Some(Value::String("capture".into())),
            ));
        }
        _ => {}
    }
    out
}

/// The input slots a node of class `def` has once loaded (`ComfyNode.configure`): the link-only
/// inputs, then one socket per widget input (declared, then injected), each taking the saved
/// slot of the same name (its link and label; type and widget follow the definition), then the
/// saved slots the definition does not know.
pub(crate) fn live_inputs(def: &NodeDef, saved: &[super::model::Slot]) -> Vec<super::model::Slot> {
    use super::model::Slot;
    let mut defined: Vec<Slot> = Vec::new();
    let visible = || def.inputs.iter().filter(|i| i.section != Section::Hidden);
    for input in visible().filter(|i| !has_widget(i)) {
        defined.push(Slot {
            name: input.name.clone(),
            type_: input.kind.type_name().to_owned(),
            link: None,
            widget: None,
        });
    }
    for input in visible().filter(|i| has_widget(i)) {
        let widget = Some(input.name.clone());
        defined.push(Slot {
            name: input.name.clone(),
            type_: input.kind.type_name().to_owned(),
            link: None,
            widget,
        });
    }
    for (name, t) in injected(def) {
        defined.push(Slot {
            name: name.to_owned(),
            type_: t.to_owned(),
            link: None,
            widget: Some(name.to_owned()),
        });
    }
    for slot in &mut defined {
        // Like a JavaScript Map built from the saved slots, the last one of a name wins.
        if let Some(s) = saved.iter().rev().find(|s| s.name == slot.name) {
            slot.link = s.link.clone();
        }
    }
    let extras: Vec<Slot> =
        saved.iter().filter(|s| !defined.iter().any(|d| d.name == s.name)).cloned().collect();
    defined.extend(extras);
    defined
}

/// How the saved values fitted the layout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Fit {
    /// Entries the editor writes for this layout (unsaved widgets before a saved one leave holes).
    pub expected: usize,
    /// Values in the file.
    pub found: usize,
}

/// `migrateWidgetsValues`: files from before `forceInput` inputs lost their widgets keep a value
/// for them; when the count says so, those values are dropped.
fn migrate(def: &NodeDef, layout: &[Widget], values: &[Value]) -> Option<Vec<Value>> {
    let names: std::collections::HashSet<&str> = layout.iter().map(|w| w.name.as_str()).collect();
    let original: Vec<&InputDef> = def
        .inputs
        .iter()
        .filter(|i| {
            i.section != Section::Hidden && (names.contains(i.name.as_str()) || i.options.force_input)
        })
        .collect();
    if !original.iter().any(|i| i.options.force_input) {
        return None;
    }
    let count: usize = original
        .iter()
        .map(|i| {
            let control = i.options.raw.get("control_after_generate").is_some_and(truthy)
                || i.name == "seed"
                || i.name == "noise_seed";
            if control { 2 } else { 1 }
        })
        .sum();
    // es-toolkit's `zip` pads the shorter list, so values past the inputs are kept.
    (count == values.len()).then(|| {
        values
            .iter()
            .enumerate()
            .filter(|(i, _)| !original.get(*i).is_some_and(|d| d.options.force_input))
            .map(|(_, v)| v.clone())
            .collect()
    })
}

/// Current widget values: the saved ones assigned sequentially to the saved widgets, the defaults
/// for the rest. An object-shaped `widgets_values` is read by widget name.
pub(crate) fn read_values(
    def: &NodeDef,
    layout: &[Widget],
    saved: Option<&WidgetValues>,
) -> (Vec<Option<Value>>, Fit) {
    // What the editor writes: one entry per widget up to the last saved one (holes included).
    let expected = layout.iter().rposition(|w| w.saved).map_or(0, |i| i + 1);
    let mut values: Vec<Option<Value>> = layout.iter().map(|w| w.default.clone()).collect();
    let found = match saved {
        None => 0,
        Some(WidgetValues::List(list)) => {
            let migrated = migrate(def, layout, list);
            let list = migrated.as_deref().unwrap_or(list);
            let mut next = list.iter();
            for (slot, w) in values.iter_mut().zip(layout) {
                if !w.saved {
                    continue;
                }
                match next.next() {
                    Some(v) if !w.fixed => *slot = Some(v.clone()),
                    Some(_) => {}
                    None => break,
                }
            }
            list.len()
        }
        Some(WidgetValues::Named(map)) => {
            read_named(layout, map, &mut values);
            map.len()
        }
    };
    (values, Fit { expected, found })
}

fn read_named(layout: &[Widget], map: &Map<String, Value>, values: &mut [Option<Value>]) {
    for (slot, w) in values.iter_mut().zip(layout) {
        if w.saved
            && !w.fixed
            && let Some(v) = map.get(&w.name)
        {
            *slot = Some(v.clone());
        }
    }
}

/// The `widgets_values` the editor would save for these values (holes as `null`, trailing holes
/// dropped, as JavaScript serialises sparse arrays; `undefined` as `null`).
pub(crate) fn write_values(layout: &[Widget], values: &[Option<Value>]) -> Vec<Value> {
    let mut out = Vec::with_capacity(values.len());
    let mut pending_holes = 0usize;
    for (w, v) in layout.iter().zip(values) {
        if !w.saved {
            pending_holes += 1;
            continue;
        }
        out.extend(std::iter::repeat_n(Value::Null, pending_holes));
        pending_holes = 0;
        out.push(v.clone().unwrap_or(Value::Null));
    }
    out
}
