//! Bounded image encodings: a preview small enough to show a model, and a web-optimised copy
//! under a byte budget.
//!
//! Both decode the bytes (applying the EXIF orientation when the format carries one), then try a
//! fixed ladder of sizes (and, for JPEG previews, qualities) in order and keep the first result
//! that fits. The ladders are constants, so the same input always gives the same output.
//!
//! These functions are CPU-bound: call them from `tokio::task::spawn_blocking` in async code.
//!
//! - [`preview`]: JPEG, longest side at most `max_dim` (≤ [`PREVIEW_MAX_DIM`]), ladder of
//!   scales [`PREVIEW_SCALES`] × qualities [`PREVIEW_QUALITIES`], until the base64 text fits
//!   `max_base64_chars`. JPEG has no alpha: transparent pixels become their colour channels.
//! - [`web_optimize`]: WebP (libwebp), ladder of scales [`WEB_SCALES`] × (lossless, then lossy
//!   at [`WEB_QUALITIES`]) until the file fits `max_bytes`: a drawing or screenshot stays
//!   lossless, a photo or a noisy render goes lossy before it is scaled down.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageReader};

use crate::error::{Error, Result};

/// Largest side a preview may have.
pub const PREVIEW_MAX_DIM: u32 = 1024;
/// Longest side of a preview when the caller does not choose.
pub const PREVIEW_DEFAULT_DIM: u32 = 512;
/// Default budget for a preview's base64 text.
pub const PREVIEW_MAX_BASE64: usize = 100_000;
/// Preview scales (of the requested longest side), tried in order.
pub const PREVIEW_SCALES: [f32; 5] = [1.0, 0.75, 0.5, 0.375, 0.25];
/// JPEG qualities tried at each preview scale, in order.
pub const PREVIEW_QUALITIES: [u8; 4] = [85, 70, 55, 40];
/// Scales of the original tried by [`web_optimize`], in order.
pub const WEB_SCALES: [f32; 10] = [1.0, 0.9, 0.75, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15];
/// Lossy WebP qualities tried by [`web_optimize`] at each scale, after lossless.
pub const WEB_QUALITIES: [u8; 5] = [90, 80, 65, 50, 35];
/// Largest image dimension accepted when decoding (decompression-bomb guard).
pub const MAX_DECODE_DIM: u32 = 16_384;
/// Largest allocation while decoding.
pub const MAX_DECODE_ALLOC: u64 = 1 << 30;

/// An encoded image (its bytes are not serialized: the facts are).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Encoded {
    /// The encoded bytes.
    #[serde(skip)]
    pub data: Vec<u8>,
    /// `image/jpeg` or `image/webp`.
    pub mime_type: &'static str,
    /// File extension for the format (`jpg`, `webp`).
    #[serde(skip)]
    pub extension: &'static str,
    /// Width after resizing.
    pub width: u32,
    /// Height after resizing.
    pub height: u32,
    /// Width of the decoded original (orientation applied).
    pub original_width: u32,
    /// Height of the decoded original (orientation applied).
    pub original_height: u32,
    /// JPEG or lossy WebP quality used (`None` for lossless).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<u8>,
}

/// How many characters the base64 text of `n` bytes takes (with padding).
pub fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Decodes an image, applying its EXIF orientation. `what` names it in errors.
pub fn decode(bytes: &[u8], what: &str) -> Result<DynamicImage> {
    let bad = |message: String| Error::InvalidImage { what: what.to_owned(), message };
    if bytes.is_empty() {
        return Err(bad("it is empty (0 bytes)".into()));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| bad(format!("could not read it: {e}")))?;
    if reader.format().is_none() {
        return Err(bad("the format is not recognised (expected PNG, JPEG, WebP or GIF)".into()));
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_DECODE_DIM);
    limits.max_image_height = Some(MAX_DECODE_DIM);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| bad(e.to_string()))?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| bad(e.to_string()))?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// The size `(w, h)` scaled so the longest side is at most `max_side` (never enlarged, at
/// least 1 px each way).
fn fit(w: u32, h: u32, max_side: u32) -> (u32, u32) {
    let longest = w.max(h).max(1);
    if longest <= max_side {
        return (w.max(1), h.max(1));
    }
    let r = f64::from(max_side) / f64::from(longest);
    let nw = (f64::from(w) * r).round().max(1.0) as u32;
    let nh = (f64::from(h) * r).round().max(1.0) as u32;
    (nw.min(max_side), nh.min(max_side))
}

fn resized(img: &DynamicImage, max_side: u32) -> DynamicImage {
    let (w, h) = fit(img.width(), img.height(), max_side);
    if (w, h) == (img.width(), img.height()) {
        img.clone()
    } else {
        img.resize_exact(w, h, FilterType::Triangle)
    }
}

fn jpeg(img: &DynamicImage, quality: u8) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let rgb = img.to_rgb8();
    JpegEncoder::new_with_quality(&mut out, quality).encode_image(&rgb).map_err(|e| Error::InvalidImage {
        what: "preview".into(),
        message: format!("JPEG encoding: {e}"),
    })?;
    Ok(out)
}

/// Pixels ready for libwebp: RGB, or RGBA when the image has alpha.
struct Pixels {
    data: Vec<u8>,
    alpha: bool,
    width: u32,
    height: u32,
}

impl Pixels {
    fn of(img: &DynamicImage) -> Pixels {
        let alpha = img.color().has_alpha();
        let data = if alpha { img.to_rgba8().into_raw() } else { img.to_rgb8().into_raw() };
        Pixels { data, alpha, width: img.width(), height: img.height() }
    }

    /// WebP bytes: lossless (`None`) or lossy at `quality`.
    fn webp(&self, quality: Option<u8>) -> Result<Vec<u8>> {
        let encoder = if self.alpha {
            webp::Encoder::from_rgba(&self.data, self.width, self.height)
        } else {
            webp::Encoder::from_rgb(&self.data, self.width, self.height)
        };
        let encoded = match quality {
            None => encoder.encode_simple(true, 75.0),
            Some(q) => encoder.encode_simple(false, f32::from(q)),
        };
        encoded.map(|m| m.to_vec()).map_err(|e| Error::InvalidImage {
            what: "image".into(),
            message: format!("WebP encoding: {e:?}"),
        })
    }
}

/// A JPEG preview whose longest side is at most `max_dim` (clamped to 1..=[`PREVIEW_MAX_DIM`])
/// and whose base64 text is at most `max_base64_chars`, from the first step of the ladder that
/// fits. Fails with [`Error::InvalidImage`] for bytes that are not an image and
/// [`Error::TooLarge`] if even the smallest step does not fit.
pub fn preview(bytes: &[u8], what: &str, max_dim: u32, max_base64_chars: usize) -> Result<Encoded> {
    let img = decode(bytes, what)?;
    preview_image(&img, max_dim, max_base64_chars)
}

/// [`preview`] of an already decoded image.
pub fn preview_image(img: &DynamicImage, max_dim: u32, max_base64_chars: usize) -> Result<Encoded> {
    let max_dim = max_dim.clamp(1, PREVIEW_MAX_DIM);
    let mut smallest = usize::MAX;
    for scale in PREVIEW_SCALES {
        let side = ((max_dim as f32) * scale).round().max(1.0) as u32;
        let small = resized(img, side);
        for quality in PREVIEW_QUALITIES {
            let data = jpeg(&small, quality)?;
            let chars = base64_len(data.len());
            if chars <= max_base64_chars {
                return Ok(Encoded {
                    width: small.width(),
                    height: small.height(),
                    original_width: img.width(),
                    original_height: img.height(),
                    data,
                    mime_type: "image/jpeg",
                    extension: "jpg",
                    quality: Some(quality),
                });
            }
            smallest = smallest.min(chars);
        }
    }
    Err(Error::TooLarge {
        what: "the smallest preview (base64)".into(),
        size: smallest as u64,
        limit: max_base64_chars as u64,
        hint: Some("ask for a smaller max_dim".into()),
    })
}

/// A WebP copy whose file is at most `max_bytes`: the first step of [`WEB_SCALES`] ×
/// (lossless, then lossy at each of [`WEB_QUALITIES`]) that fits. Lossless is skipped at a
/// scale where the previous scale's lossless size, shrunk by the area, is still more than twice
/// the budget (it cannot fit; encoding it would only cost time). Fails with
/// [`Error::InvalidImage`] for bytes that are not an image and [`Error::TooLarge`] (with the
/// smallest size reached) if nothing fits.
pub fn web_optimize(bytes: &[u8], what: &str, max_bytes: u64) -> Result<Encoded> {
    let img = decode(bytes, what)?;
    let longest = img.width().max(img.height());
    let mut smallest = u64::MAX;
    let mut last_lossless: Option<(u64, f64)> = None;
    for scale in WEB_SCALES {
        let side = ((longest as f32) * scale).round().max(1.0) as u32;
        let small = resized(&img, side);
        let pixels = Pixels::of(&small);
        let area = f64::from(small.width()) * f64::from(small.height());
        let hopeless = last_lossless
            .is_some_and(|(size, prev_area)| size as f64 * area / prev_area > 2.0 * max_bytes as f64);
        let tries = (!hopeless).then_some(None).into_iter().chain(WEB_QUALITIES.map(Some));
        for quality in tries {
            let data = pixels.webp(quality)?;
            let size = data.len() as u64;
            if quality.is_none() {
                last_lossless = Some((size, area));
            }
            if size <= max_bytes {
                return Ok(Encoded {
                    width: small.width(),
                    height: small.height(),
                    original_width: img.width(),
                    original_height: img.height(),
                    data,
                    mime_type: "image/webp",
                    extension: "webp",
                    quality,
                });
            }
            smallest = smallest.min(size);
        }
    }
    Err(Error::TooLarge {
        what: format!(
            "{what} as WebP at every scale down to {}%",
            (WEB_SCALES[WEB_SCALES.len() - 1] * 100.0) as u32
        ),
        size: smallest,
        limit: max_bytes,
        hint: Some("raise max_bytes".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32, noisy: bool) -> Vec<u8> {
        let mut seed = 12345u32;
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            if noisy {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let v = (seed >> 16) as u8;
                image::Rgb([v, v.wrapping_mul(3), v.wrapping_add(x as u8)])
            } else {
                image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
            }
        });
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn preview_is_bounded_and_deterministic() {
        let big = png(1500, 900, true);
        let a = preview(&big, "x", 2000, PREVIEW_MAX_BASE64).unwrap();
        assert!(a.width <= PREVIEW_MAX_DIM && a.height <= PREVIEW_MAX_DIM, "{}x{}", a.width, a.height);
        assert!(base64_len(a.data.len()) <= PREVIEW_MAX_BASE64);
        assert_eq!((a.original_width, a.original_height), (1500, 900));
        assert_eq!(&a.data[..2], &[0xFF, 0xD8], "JPEG");
        let b = preview(&big, "x", 2000, PREVIEW_MAX_BASE64).unwrap();
        assert_eq!(a, b, "same input, same output");
        // Noise at 1024 px does not fit 100 000 chars at quality 85: the ladder went down.
        assert!(a.width < 1024 || a.quality != Some(85), "{:?} {}", a.quality, a.width);
    }

    #[test]
    fn preview_follows_the_ladder_and_never_enlarges() {
        let small = png(40, 20, false);
        let p = preview(&small, "x", 512, PREVIEW_MAX_BASE64).unwrap();
        assert_eq!((p.width, p.height, p.quality), (40, 20, Some(85)));
        let noisy = png(600, 600, true);
        let tight = preview(&noisy, "x", 512, 20_000).unwrap();
        assert!(base64_len(tight.data.len()) <= 20_000);
        assert!(tight.width < 512, "had to shrink: {}", tight.width);
        let e = preview(&noisy, "x", 512, 100).unwrap_err();
        assert_eq!(e.code(), "too_large");
    }

    #[test]
    fn garbage_and_empty_bytes_are_invalid_images() {
        for bytes in [&b""[..], b"definitely not an image", &png(8, 8, false)[..30]] {
            let e = preview(bytes, "asset a_1", 512, PREVIEW_MAX_BASE64).unwrap_err();
            assert_eq!(e.code(), "invalid_image", "{e}");
            assert!(e.to_string().contains("asset a_1"), "{e}");
        }
    }

    #[test]
    fn exif_orientation_is_applied() {
        // A 4x2 JPEG tagged "rotate 90° clockwise" (orientation 6) decodes as 2x4.
        let img = image::RgbImage::from_pixel(4, 2, image::Rgb([200, 10, 10]));
        let mut jpg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpg, 90).encode_image(&img).unwrap();
        // APP1 Exif segment, big-endian TIFF, one IFD entry: Orientation (0x0112) = 6.
        let tiff: Vec<u8> = [
            &b"MM\x00\x2a\x00\x00\x00\x08"[..],
            &[0x00, 0x01],
            &[0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0x00],
            &[0x00, 0x00, 0x00, 0x00],
        ]
        .concat();
        let mut app1 = b"Exif\x00\x00".to_vec();
        app1.extend_from_slice(&tiff);
        let len = (app1.len() + 2) as u16;
        let mut tagged = vec![0xFF, 0xD8, 0xFF, 0xE1];
        tagged.extend_from_slice(&len.to_be_bytes());
        tagged.extend_from_slice(&app1);
        tagged.extend_from_slice(&jpg[2..]);
        let d = decode(&tagged, "x").unwrap();
        assert_eq!((d.width(), d.height()), (2, 4));
        assert_eq!(decode(&jpg, "x").map(|d| (d.width(), d.height())).unwrap(), (4, 2));
    }

    #[test]
    fn web_optimize_walks_scales_until_it_fits() {
        let noisy = png(400, 300, true);
        let full = web_optimize(&noisy, "x", u64::MAX).unwrap();
        assert_eq!((full.width, full.height, full.mime_type), (400, 300, "image/webp"));
        assert_eq!(&full.data[..4], b"RIFF");
        let budget = full.data.len() as u64 / 3;
        let fitted = web_optimize(&noisy, "x", budget).unwrap();
        assert!(fitted.data.len() as u64 <= budget);
        assert!(fitted.width < 400);
        assert_eq!(fitted, web_optimize(&noisy, "x", budget).unwrap());
        let e = web_optimize(&noisy, "x", 10).unwrap_err();
        assert_eq!(e.code(), "too_large");
        // The result decodes back.
        assert_eq!(decode(&fitted.data, "y").unwrap().width(), fitted.width);
    }

    #[test]
    fn a_noisy_1024_square_fits_20_kb_as_lossy_webp() {
        let noisy = png(1024, 1024, true);
        let fitted = web_optimize(&noisy, "x", 20_000).unwrap();
        assert!(fitted.data.len() <= 20_000, "{}", fitted.data.len());
        assert!(fitted.quality.is_some(), "lossy: {fitted:?}");
        assert_eq!(decode(&fitted.data, "y").unwrap().width(), fitted.width);
        // A flat image stays lossless at full size.
        let flat = png(256, 256, false);
        let kept = web_optimize(&flat, "x", 600_000).unwrap();
        assert_eq!((kept.width, kept.quality), (256, None));
    }

    #[test]
    fn fit_keeps_aspect() {
        assert_eq!(fit(2000, 1000, 512), (512, 256));
        assert_eq!(fit(10, 5000, 100), (1, 100));
        assert_eq!(fit(30, 20, 512), (30, 20));
    }
}
