//! `client.partnerGenerate(request)`: the request object and `NativePartnerRun`, the quote and
//! the job (if one was submitted) that `index.js` turns into `{ quote, job }`.

use comfy_core::{Comfy, MediaType, PartnerGenerated, PartnerRequest};
use napi_derive::napi;
use serde_json::Value;

use crate::error::{IntoNapi, invalid_argument};
use crate::job::JobHandle;

/// Arguments of `client.partnerGenerate(request)`.
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct PartnerOptions {
    /// `'image'`, `'video'`, `'audio'` or `'3d'`.
    #[napi(js_name = "type", ts_type = "'image' | 'video' | 'audio' | '3d'")]
    pub media_type: String,
    /// A partner node class, a value of its `model` list, its display name or an alias
    /// (`'flux-ultra'`, `'nano-banana'`, ...).
    pub model: String,
    /// The prompt.
    pub prompt: Option<String>,
    /// Aspect ratio (`'16:9'`), where the model has one.
    pub aspect_ratio: Option<String>,
    /// Seed (0 or more), where the model has one.
    pub seed: Option<i64>,
    /// Duration in seconds, where the model has one.
    pub duration: Option<f64>,
    /// Reference media: input names from `upload`.
    pub media: Option<Vec<String>>,
    /// Spending consent: the most credits this run may cost ($1 = 211 credits).
    pub max_credits: Option<f64>,
    /// Only quote: build and price, submit nothing.
    pub dry_run: Option<bool>,
}

impl PartnerOptions {
    /// The core request.
    pub fn into_request(self) -> napi::Result<PartnerRequest> {
        let media_type = self.media_type.parse::<MediaType>().napi()?;
        let seed = match self.seed {
            Some(s) => Some(u64::try_from(s).map_err(|_| invalid_argument("seed", "a seed is 0 or more"))?),
            None => None,
        };
        Ok(PartnerRequest {
            media_type,
            model: self.model,
            prompt: self.prompt,
            aspect_ratio: self.aspect_ratio,
            seed,
            duration: self.duration,
            media: self.media.unwrap_or_default(),
            max_credits: self.max_credits,
            dry_run: self.dry_run.unwrap_or(false),
        })
    }
}

/// What `partnerGenerate` did (internal: `index.js` answers `{ quote, job }`).
#[napi(js_name = "NativePartnerRun")]
#[derive(Debug, Clone)]
pub struct PartnerRun {
    quote: Value,
    job: Option<JobHandle>,
}

impl PartnerRun {
    /// Converts the core's answer.
    pub fn new(generated: PartnerGenerated, comfy: Comfy) -> napi::Result<PartnerRun> {
        let quote = comfy_core::json::to_value(&generated.quote, "partner quote").napi()?;
        Ok(PartnerRun { quote, job: generated.job.map(|job| JobHandle::new(job, comfy)) })
    }
}

#[napi]
impl PartnerRun {
    /// The partner node, its workflow, price and consent.
    #[napi(getter, ts_return_type = "Record<string, unknown>")]
    pub fn quote(&self) -> Value {
        self.quote.clone()
    }

    /// The submitted job, or `null` for a dry run.
    #[napi]
    pub fn job(&self) -> Option<JobHandle> {
        self.job.clone()
    }
}
