//! Reading a request's result: every output of every node (`images`, `gifs`, `videos`,
//! `audio`, `text`, and any channel a custom node invents), each hosted file with its URL and
//! the 7-day expiry RunComfy keeps outputs for.

use serde_json::Value;

use crate::job::{JobOutput, MediaKind, OutputItem};

/// The media kind of a hosted item under `channel`.
fn media_of(channel: &str, filename: Option<&str>, item: &Value) -> MediaKind {
    let by_name = filename.map(MediaKind::from_filename);
    match channel {
        "audio" => MediaKind::Audio,
        "videos" | "video" | "gifs" => MediaKind::Video,
        "3d" => MediaKind::Model3d,
        _ => match by_name {
            Some(MediaKind::Other) | None => {
                let url = item.get("url").and_then(Value::as_str).unwrap_or("");
                let path = url.split(['?', '#']).next().unwrap_or(url);
                MediaKind::from_filename(path)
            }
            Some(kind) => kind,
        },
    }
}

/// Text in a `text` channel: a string, or nested lists of strings (`[["..."]]`).
fn text_of(item: &Value) -> Option<String> {
    match item {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) if !parts.is_empty() => {
            let texts: Option<Vec<String>> = parts.iter().map(text_of).collect();
            texts.map(|t| t.join("\n"))
        }
        _ => None,
    }
}

/// One item of one channel.
fn item_of(channel: &str, item: &Value, expires_at: Option<i64>) -> OutputItem {
    if let Some(url) = item.get("url").and_then(Value::as_str).filter(|u| u.starts_with("http")) {
        let filename = item.get("filename").and_then(Value::as_str).map(str::to_owned).or_else(|| {
            let path = url.split(['?', '#']).next().unwrap_or(url);
            path.rsplit('/').next().filter(|n| !n.is_empty()).map(str::to_owned)
        });
        let media = media_of(channel, filename.as_deref(), item);
        return OutputItem::Url { url: url.to_owned(), filename, media, expires_at };
    }
    if let Value::String(url) = item
        && (url.starts_with("https://") || url.starts_with("http://"))
        && channel != "text"
    {
        let path = url.split(['?', '#']).next().unwrap_or(url);
        let filename = path.rsplit('/').next().filter(|n| !n.is_empty()).map(str::to_owned);
        let media = media_of(channel, filename.as_deref(), item);
        return OutputItem::Url { url: url.clone(), filename, media, expires_at };
    }
    if channel == "text"
        && let Some(text) = text_of(item)
    {
        return OutputItem::Text { text };
    }
    OutputItem::Value { value: item.clone() }
}

/// Every output of a result's `outputs` (node id → channel → items), in order.
pub(crate) fn outputs(outputs: Option<&Value>, expires_at: Option<i64>) -> Vec<JobOutput> {
    let Some(nodes) = outputs.and_then(Value::as_object) else { return Vec::new() };
    let mut out = Vec::new();
    for (node_id, channels) in nodes {
        let Some(channels) = channels.as_object() else {
            out.push(JobOutput {
                node_id: node_id.clone(),
                key: "value".into(),
                index: 0,
                item: OutputItem::Value { value: channels.clone() },
            });
            continue;
        };
        for (channel, items) in channels {
            if channel == "animated" {
                continue;
            }
            let list: Vec<&Value> = match items {
                Value::Array(a) if channel == "text" && a.iter().all(|x| x.is_string()) => vec![items],
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            for (index, item) in list.into_iter().enumerate() {
                out.push(JobOutput {
                    node_id: node_id.clone(),
                    key: channel.clone(),
                    index: index as u32,
                    item: item_of(channel, item, expires_at),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_channel_of_every_node_is_kept() {
        let v = json!({
            "58": {"images": [{"url": "https://cdn.example/o/a.png", "filename": "a.png", "subfolder": "", "type": "output"},
                              {"url": "https://cdn.example/o/b.png", "filename": "b.png"}]},
            "60": {"gifs": [{"url": "https://cdn.example/o/c.mp4", "filename": "c.mp4"}]},
            "61": {"videos": [{"url": "https://cdn.example/o/d.webm"}]},
            "62": {"audio": [{"url": "https://cdn.example/o/e.flac", "filename": "e.flac"}]},
            "38:42": {"text": [["Transform to an elephant"]]},
            "70": {"custom": [{"score": 0.5}], "text": ["a", "b"]}
        });
        let out = outputs(Some(&v), Some(42));
        assert_eq!(out.len(), 8, "{out:#?}");
        let OutputItem::Url { url, filename, media, expires_at } = &out[1].item else { panic!() };
        assert_eq!(
            (url.as_str(), filename.as_deref(), *media, *expires_at),
            ("https://cdn.example/o/b.png", Some("b.png"), MediaKind::Image, Some(42))
        );
        assert!(matches!(&out[2].item, OutputItem::Url { media: MediaKind::Video, .. }));
        assert!(
            matches!(&out[3].item, OutputItem::Url { filename: Some(f), media: MediaKind::Video, .. } if f == "d.webm")
        );
        assert!(matches!(&out[4].item, OutputItem::Url { media: MediaKind::Audio, .. }));
        assert_eq!(out[5].item, OutputItem::Text { text: "Transform to an elephant".into() });
        assert_eq!(out[5].node_id, "38:42");
        assert!(matches!(&out[6].item, OutputItem::Value { .. }));
        assert_eq!(out[7].item, OutputItem::Text { text: "a\nb".into() });
        assert!(outputs(None, None).is_empty());
    }
}
