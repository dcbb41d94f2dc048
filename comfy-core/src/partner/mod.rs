//! `partner_generate`: one request (`type`, `model`, `prompt`, …) becomes a partner (paid API)
//! node workflow built from the live catalogue, priced from its `price_badge`, and run only with
//! the caller's spending consent.
//!
//! - Partner nodes are discovered in the server's catalogue (`api_node: true`, category
//!   `api node/<type>/<Provider>`), never from a fixed list; `model` is a class name, a value of
//!   the class's `model` combo, a display name or a well-known alias whose class exists.
//! - The workflow is the partner node, loader nodes for the reference `media`, and the save node
//!   partner nodes lack; it is validated like any workflow before anything is spent.
//! - Consent: a run is submitted only when its price is free, or the request's `max_credits`
//!   covers the highest price, or the client allows partner spending
//!   ([`ClientOptions::allow_partner_spend`](crate::ClientOptions::allow_partner_spend)). An
//!   unknown price needs that switch. `dry_run` answers the quote without spending.
//! - A partner key must be configured (a local ComfyUI's `comfy_api_key`, or the Cloud key).

mod build;
mod pick;
mod price;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use price::{Price, price_of};

use crate::backend::JobRequest;
use crate::client::{Comfy, Job};
use crate::error::{Error, Result};
use crate::workflow::Workflow;

/// What a partner node makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum MediaType {
    /// `image`.
    #[serde(rename = "image")]
    Image,
    /// `video`.
    #[serde(rename = "video")]
    Video,
    /// `audio`.
    #[serde(rename = "audio")]
    Audio,
    /// `3d`.
    #[serde(rename = "3d")]
    ThreeD,
}

impl MediaType {
    /// The name used in requests and in partner categories (`image`, `video`, `audio`, `3d`).
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Image => "image",
            MediaType::Video => "video",
            MediaType::Audio => "audio",
            MediaType::ThreeD => "3d",
        }
    }

    /// The link type a reference medium of this kind is (`IMAGE`, `VIDEO`, `AUDIO`, `MESH`).
    pub(crate) fn link_type(self) -> &'static str {
        match self {
            MediaType::Image => "IMAGE",
            MediaType::Video => "VIDEO",
            MediaType::Audio => "AUDIO",
            MediaType::ThreeD => "MESH",
        }
    }
}

impl std::str::FromStr for MediaType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "image" => Ok(MediaType::Image),
            "video" => Ok(MediaType::Video),
            "audio" => Ok(MediaType::Audio),
            "3d" => Ok(MediaType::ThreeD),
            other => Err(Error::InvalidArgument {
                argument: "type".into(),
                message: format!("{other:?} is not a partner output type: use image, video, audio or 3d"),
            }),
        }
    }
}

/// A partner generation request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PartnerRequest {
    /// What to make: image, video, audio or 3d.
    #[serde(rename = "type")]
    #[cfg_attr(feature = "schemars", schemars(schema_with = "media_type_schema"))]
    pub media_type: MediaType,
    /// Class name, `model` option, display name or alias (`flux-ultra`).
    pub model: String,
    /// Prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// E.g. `16:9`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<String>,
    /// Seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// Reference media: uploaded input names.
    #[serde(default, alias = "medias", skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<String>,
    /// Spending consent: the most credits this run may cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_credits: Option<f64>,
    /// Quote only: build and price, spend nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// The schema of the `type` field: a plain string enum.
#[cfg(feature = "schemars")]
fn media_type_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string", "enum": ["image", "video", "audio", "3d"]})
}

impl PartnerRequest {
    /// A request for `model` making `media_type` from `prompt`, with no consent yet.
    pub fn new(media_type: MediaType, model: impl Into<String>, prompt: impl Into<String>) -> Self {
        PartnerRequest {
            media_type,
            model: model.into(),
            prompt: Some(prompt.into()),
            aspect_ratio: None,
            seed: None,
            duration: None,
            media: Vec::new(),
            max_credits: None,
            dry_run: false,
        }
    }
}

/// The partner workflow and its price, before anything is spent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct PartnerQuote {
    /// The partner node class the model resolved to.
    pub class_type: String,
    /// Its display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Its provider (the last part of its category).
    pub provider: String,
    /// The save node appended (none when the partner node saves by itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub save_node: Option<String>,
    /// The price, from the node's `price_badge`.
    pub price: Price,
    /// The price in words (`$0.06 (12.66 credits)`).
    pub price_text: String,
    /// Whether this request may spend it (free, within `max_credits`, or allowed by the client).
    pub consent: bool,
    /// The API-format workflow that runs (validated).
    pub workflow: Value,
    /// Request fields the node has no input for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// What [`Comfy::partner_generate`] did: the quote, and the job unless it was a dry run.
#[derive(Debug)]
pub struct PartnerGenerated {
    /// The workflow and its price.
    pub quote: PartnerQuote,
    /// The submitted job (wait for it, follow it and fetch its outputs like any job); `None`
    /// for a dry run.
    pub job: Option<Job>,
}

/// The consent rule: `Ok` when `price` may be spent under `max_credits` / `allow_spend`.
pub fn check_consent(
    class_type: &str,
    price: &Price,
    max_credits: Option<f64>,
    allow_spend: bool,
) -> Result<()> {
    if price.is_free() || allow_spend {
        return Ok(());
    }
    match (price.max_credits(), max_credits) {
        (Some(cost), Some(limit)) if cost <= limit => Ok(()),
        (Some(cost), Some(limit)) => Err(Error::PriceAboveMaxCredits {
            class_type: class_type.to_owned(),
            price: price.describe(),
            credits: cost,
            max_credits: limit,
        }),
        (Some(_), None) => Err(Error::SpendingConsentRequired {
            class_type: class_type.to_owned(),
            price: price.describe(),
            hint:
                "pass max_credits (at least the price in credits) to allow this run, or dry_run to see the \
                   workflow first"
                    .into(),
        }),
        (None, _) => Err(Error::SpendingConsentRequired {
            class_type: class_type.to_owned(),
            price: price.describe(),
            hint: "an unknown price cannot be covered by max_credits; only the client's allow-partner-spend \
                   switch (--allow-partner-spend, COMFY_ALLOW_PARTNER_SPEND) permits it"
                .into(),
        }),
    }
}

impl Comfy {
    /// Builds, validates and prices a partner node workflow for `request`, then — unless it is a
    /// dry run — checks spending consent and the partner key and submits it (under the
    /// running-jobs cap). Nothing is submitted when any check fails.
    pub async fn partner_generate(&self, request: PartnerRequest) -> Result<PartnerGenerated> {
        if let Some(m) = request.max_credits
            && !(m.is_finite() && m >= 0.0)
        {
            return Err(Error::InvalidArgument {
                argument: "max_credits".into(),
                message: format!("{m} is not a number of credits (0 or more)"),
            });
        }
        let catalog = self.catalog().await?;
        let picked = pick::pick(&catalog, request.media_type, &request.model, request.media.len())?;
        let built = build::build(&catalog, &picked, &request)?;
        let workflow = Workflow::from_value(built.workflow.clone())?;
        let prepared = self.prepare(crate::Source::Workflow(workflow)).await?;
        let price = price_of(picked.node, &built.inputs);
        let allow = self.allows_partner_spend();
        let consent = check_consent(&picked.node.name, &price, request.max_credits, allow);
        let quote = PartnerQuote {
            class_type: picked.node.name.clone(),
            display_name: picked.node.display_name.clone(),
            provider: picked.node.category.rsplit('/').next().unwrap_or_default().to_owned(),
            save_node: built.save_class,
            price_text: price.describe(),
            price,
            consent: consent.is_ok(),
            workflow: prepared.workflow.to_value(),
            warnings: built.warnings,
        };
        if request.dry_run {
            return Ok(PartnerGenerated { quote, job: None });
        }
        consent?;
        if !self.backend().identity().await.partner_nodes_key {
            return Err(Error::PartnerKeyMissing { backend: self.backend().name().to_owned() });
        }
        let mut job_request = JobRequest::new(prepared.workflow);
        job_request.provenance.params = Some(json!({
            "partner_generate": serde_json::to_value(&request).unwrap_or(Value::Null),
            "class_type": quote.class_type,
        }));
        let job = self.submit(job_request).await?;
        Ok(PartnerGenerated { quote, job: Some(job) })
    }
}

/// `{"type": .., "model": ..}` → a request, naming the bad field.
pub fn request_from_value(value: Value) -> Result<PartnerRequest> {
    serde_json::from_value(value)
        .map_err(|e| Error::InvalidArgument { argument: "request".into(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_needs_max_credits_covering_the_price_or_the_switch() {
        let p = Price::usd(0.06, 0.06);
        let e = check_consent("Flux", &p, None, false).unwrap_err();
        assert_eq!(e.code(), "spending_consent_required");
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("12.66 credits") && e.to_string().contains("max_credits"), "{e}");
        let e = check_consent("Flux", &p, Some(10.0), false).unwrap_err();
        assert_eq!(e.code(), "price_above_max_credits");
        assert!(e.to_string().contains("12.66") && e.to_string().contains("10"), "{e}");
        assert!(check_consent("Flux", &p, Some(12.66), false).is_ok());
        assert!(check_consent("Flux", &p, None, true).is_ok());
    }

    #[test]
    fn an_unknown_price_needs_the_switch_and_free_needs_nothing() {
        let unknown = Price::Unknown { reason: "no badge".into() };
        let e = check_consent("X", &unknown, Some(1e9), false).unwrap_err();
        assert_eq!(e.code(), "spending_consent_required");
        assert!(e.to_string().contains("allow-partner-spend") && e.to_string().contains("no badge"), "{e}");
        assert!(check_consent("X", &unknown, None, true).is_ok());
        assert!(check_consent("X", &Price::usd(0.0, 0.0), None, false).is_ok());
    }

    #[test]
    fn requests_parse_with_type_and_reject_unknown_fields() {
        let r =
            request_from_value(json!({"type": "3d", "model": "m", "medias": ["a.png"], "max_credits": 5}))
                .unwrap();
        assert_eq!((r.media_type, r.media.len(), r.max_credits), (MediaType::ThreeD, 1, Some(5.0)));
        assert!(request_from_value(json!({"type": "gif", "model": "m"})).is_err());
        assert!(request_from_value(json!({"type": "image", "model": "m", "colour": 1})).is_err());
        assert_eq!("VIDEO".parse::<MediaType>().unwrap(), MediaType::Video);
    }
}
