//! Test helpers: fixtures, an HTTP client and a WebSocket client for the fake.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use comfy_fake::FakeComfyUi;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

pub const TIMEOUT: Duration = Duration::from_secs(15);

pub fn fixtures() -> PathBuf {
    comfy_fake::fixtures_dir().expect("shared fixtures")
}

pub fn fixture(rel: &str) -> Value {
    let path = fixtures().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// `prompts/<name>.request.json`.
pub fn request(name: &str) -> Value {
    fixture(&format!("prompts/{name}.request.json"))
}

/// The server→client messages of a WebSocket transcript.
pub fn transcript(name: &str) -> Vec<Value> {
    let path = fixtures().join(format!("ws/{name}.jsonl"));
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["direction"] == "server->client")
        .map(|l| l["msg"].clone())
        .collect()
}

/// Message kinds of a transcript: the `type`, or `bin<event>` for binary frames.
pub fn transcript_kinds(name: &str) -> Vec<String> {
    transcript(name)
        .iter()
        .map(|m| match m.get("binary") {
            Some(Value::Bool(true)) => format!("bin{}", m["event_type"]),
            _ => m["type"].as_str().unwrap().to_string(),
        })
        .collect()
}

pub async fn start() -> FakeComfyUi {
    FakeComfyUi::builder().object_info_fixture().start().await.unwrap()
}

// ---- HTTP ----

pub struct Http {
    pub client: reqwest::Client,
    pub base: String,
}

pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

impl Http {
    pub fn new(fake: &FakeComfyUi) -> Http {
        Http { client: reqwest::Client::new(), base: fake.url() }
    }

    async fn reply(resp: reqwest::Response) -> Reply {
        let status = resp.status().as_u16();
        let content_type =
            resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        Reply { status, content_type, bytes: resp.bytes().await.unwrap().to_vec() }
    }

    pub async fn get(&self, path: &str) -> Reply {
        Self::reply(self.client.get(format!("{}{path}", self.base)).send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        Self::reply(self.client.post(format!("{}{path}", self.base)).json(body).send().await.unwrap()).await
    }

    pub async fn post_raw(&self, path: &str, body: &'static str) -> Reply {
        Self::reply(self.client.post(format!("{}{path}", self.base)).body(body).send().await.unwrap()).await
    }

    pub async fn post_form(&self, path: &str, form: reqwest::multipart::Form) -> Reply {
        Self::reply(self.client.post(format!("{}{path}", self.base)).multipart(form).send().await.unwrap())
            .await
    }

    /// POST /prompt; returns (status, body).
    pub async fn prompt(&self, body: &Value) -> (u16, Value) {
        let r = self.post("/prompt", body).await;
        (r.status, r.json())
    }

    /// POST /prompt that must be accepted; returns the prompt id.
    pub async fn queue(&self, body: &Value) -> String {
        let (status, reply) = self.prompt(body).await;
        assert_eq!(status, 200, "{reply:#}");
        reply["prompt_id"].as_str().unwrap().to_string()
    }

    pub async fn history(&self, id: &str) -> Value {
        self.get(&format!("/history/{id}")).await.json()
    }

    pub async fn upload(&self, name: &str, bytes: Vec<u8>, fields: &[(&str, &str)]) -> Reply {
        let mut form = reqwest::multipart::Form::new()
            .part("image", reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()));
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        self.post_form("/upload/image", form).await
    }
}

/// A request body from a fixture, re-addressed to `client_id` (or with no client id).
pub fn body_for(name: &str, client_id: Option<&str>) -> Value {
    let mut body = request(name);
    match client_id {
        Some(c) => body["client_id"] = json!(c),
        None => {
            body.as_object_mut().unwrap().remove("client_id");
        }
    }
    body
}

// ---- WebSocket ----

#[derive(Debug, Clone)]
pub enum Msg {
    Text(Value),
    Binary(Vec<u8>),
}

impl Msg {
    pub fn kind(&self) -> String {
        match self {
            Msg::Text(v) => v["type"].as_str().unwrap_or("?").to_string(),
            Msg::Binary(b) => format!("bin{}", u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        }
    }
    pub fn data(&self) -> &Value {
        match self {
            Msg::Text(v) => &v["data"],
            Msg::Binary(_) => &Value::Null,
        }
    }
    pub fn is(&self, kind: &str) -> bool {
        self.kind() == kind
    }
}

pub fn kinds(msgs: &[Msg]) -> Vec<String> {
    msgs.iter().map(Msg::kind).collect()
}

type Stream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Ws {
    pub stream: Stream,
    /// Everything received so far.
    pub log: Vec<Msg>,
}

impl Ws {
    /// Connects as `client_id`, optionally negotiating preview metadata first, and waits for
    /// the initial `status` (and `feature_flags` reply) so the socket is registered.
    pub async fn connect(fake: &FakeComfyUi, client_id: &str, flags: bool) -> Ws {
        let url = format!("{}?clientId={client_id}", fake.ws_url());
        let (stream, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut ws = Ws { stream, log: Vec::new() };
        if flags {
            let msg = json!({"type": "feature_flags", "data": {"supports_preview_metadata": true}});
            ws.stream.send(Message::Text(msg.to_string().into())).await.unwrap();
            ws.until(|m| m.is("feature_flags")).await;
        } else {
            ws.until(|m| m.is("status")).await;
        }
        ws
    }

    /// The next message, or `None` when the socket closed (panics after [`TIMEOUT`]).
    pub async fn next(&mut self) -> Option<Msg> {
        loop {
            let frame = tokio::time::timeout(TIMEOUT, self.stream.next()).await.expect("websocket timeout");
            let msg = match frame {
                Some(Ok(Message::Text(t))) => Msg::Text(serde_json::from_str(t.as_str()).unwrap()),
                Some(Ok(Message::Binary(b))) => Msg::Binary(b.to_vec()),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            };
            self.log.push(msg.clone());
            return Some(msg);
        }
    }

    /// Reads until `pred` matches; returns the messages read (the match included).
    pub async fn until(&mut self, pred: impl Fn(&Msg) -> bool) -> Vec<Msg> {
        let mut out = Vec::new();
        loop {
            let m = self.next().await.expect("socket closed");
            let done = pred(&m);
            out.push(m);
            if done {
                return out;
            }
        }
    }

    /// Reads until `executing {node: null}` of `prompt_id`.
    pub async fn until_done(&mut self, prompt_id: &str) -> Vec<Msg> {
        self.until(|m| m.is("executing") && m.data()["node"].is_null() && m.data()["prompt_id"] == prompt_id)
            .await
    }

    /// Nothing arrives within `wait`.
    pub async fn silent_for(&mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.stream.next()).await.is_err()
    }
}

// ---- JSON shapes ----

/// Asserts that `actual` has the same shape as `expected`: objects with the same keys
/// (recursively), arrays whose items have the shapes of the expected ones, scalars of the same
/// JSON type (numbers of either kind). Objects whose keys are ids are compared entry by entry
/// in order with `ids = true` at the paths listed.
pub fn assert_same_shape(actual: &Value, expected: &Value, id_keyed: &[&str]) {
    shape(actual, expected, "$", id_keyed);
}

fn shape(a: &Value, e: &Value, path: &str, id_keyed: &[&str]) {
    match (a, e) {
        (Value::Object(am), Value::Object(em)) => {
            if id_keyed.contains(&path) {
                assert_eq!(am.len(), em.len(), "{path}: {} entries vs {}", am.len(), em.len());
                for ((_, av), (_, ev)) in am.iter().zip(em.iter()) {
                    shape(av, ev, &format!("{path}.*"), id_keyed);
                }
                return;
            }
            let ak: Vec<&String> = am.keys().collect();
            let ek: Vec<&String> = em.keys().collect();
            let (mut aks, mut eks) = (ak.clone(), ek.clone());
            aks.sort();
            eks.sort();
            assert_eq!(aks, eks, "{path}: keys differ");
            for (k, ev) in em {
                shape(&am[k], ev, &format!("{path}.{k}"), id_keyed);
            }
        }
        (Value::Array(aa), Value::Array(ea)) => {
            for (i, (av, ev)) in aa.iter().zip(ea.iter()).enumerate() {
                shape(av, ev, &format!("{path}[{i}]"), id_keyed);
            }
        }
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Null, Value::Null) => {}
        _ => panic!("{path}: {a} vs expected {e}"),
    }
}
