//! The fake's in-memory `input/`, `output/` and `temp/` folders, path rules and small media files.

use std::collections::BTreeMap;
use std::io::Cursor;

/// One of ComfyUI's three file folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Folder {
    /// `input/`: uploads.
    Input,
    /// `output/`: saved results.
    Output,
    /// `temp/`: previews.
    Temp,
}

impl Folder {
    /// `folder_paths.get_directory_by_type`: `input`, `output` or `temp`.
    pub fn parse(s: &str) -> Option<Folder> {
        match s {
            "input" => Some(Folder::Input),
            "output" => Some(Folder::Output),
            "temp" => Some(Folder::Temp),
            _ => None,
        }
    }

    /// The `type` value ComfyUI uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Folder::Input => "input",
            Folder::Output => "output",
            Folder::Temp => "temp",
        }
    }
}

/// Where a file lives: folder, normalised sub-folder (`""` or `a/b`) and file name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct FileKey {
    pub folder: Folder,
    pub subfolder: String,
    pub filename: String,
}

/// Files by location.
#[derive(Debug, Default)]
pub(crate) struct FileStore {
    files: BTreeMap<FileKey, Vec<u8>>,
}

impl FileStore {
    pub fn get(&self, key: &FileKey) -> Option<&Vec<u8>> {
        self.files.get(key)
    }

    pub fn put(&mut self, key: FileKey, bytes: Vec<u8>) {
        self.files.insert(key, bytes);
    }

    /// Names in the input folder, `sub/name` for sub-folders (what `LoadImage` accepts).
    pub fn input_names(&self) -> Vec<String> {
        self.files
            .keys()
            .filter(|k| k.folder == Folder::Input)
            .map(|k| {
                if k.subfolder.is_empty() {
                    k.filename.clone()
                } else {
                    format!("{}/{}", k.subfolder, k.filename)
                }
            })
            .collect()
    }

    /// Top-level files of the input folder (what `/object_info` lists for upload combos).
    pub fn input_top_level(&self) -> Vec<String> {
        self.files
            .keys()
            .filter(|k| k.folder == Folder::Input && k.subfolder.is_empty())
            .map(|k| k.filename.clone())
            .collect()
    }

    /// `folder_paths.get_save_image_path`'s counter: 1 + the highest `<prefix>_<NNNNN>_...`
    /// already in that folder (case-insensitive prefix), or 1.
    pub fn next_counter(&self, folder: Folder, subfolder: &str, prefix: &str) -> u64 {
        let prefix_lower = prefix.to_lowercase();
        self.files
            .keys()
            .filter(|k| k.folder == folder && k.subfolder == subfolder)
            .filter_map(|k| {
                let name = &k.filename;
                let head = name.get(..prefix.len() + 1)?;
                let (p, sep) = head.split_at(prefix.len());
                if p.to_lowercase() != prefix_lower || sep != "_" {
                    return None;
                }
                let digits = name[prefix.len() + 1..].split('_').next().unwrap_or("");
                Some(digits.parse::<u64>().unwrap_or(0))
            })
            .max()
            .map_or(1, |m| m + 1)
    }
}

/// `os.path.normpath` of a relative path, refusing anything that leaves its base directory
/// (absolute paths, or more `..` than there are components). `""` is the base itself.
pub(crate) fn normalize_rel(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// Splits a normalised relative path into (directory, file name).
pub(crate) fn split_path(path: &str) -> (String, String) {
    match path.rsplit_once('/') {
        Some((dir, name)) => (dir.to_string(), name.to_string()),
        None => (String::new(), path.to_string()),
    }
}

/// `folder_paths.annotated_filepath`: `name [input]` / `[output]` / `[temp]` picks the folder.
pub(crate) fn annotated(name: &str) -> (&str, Option<Folder>) {
    for (suffix, folder) in
        [(" [output]", Folder::Output), (" [input]", Folder::Input), (" [temp]", Folder::Temp)]
    {
        if let Some(stripped) = name.strip_suffix(suffix) {
            return (stripped, Some(folder));
        }
    }
    (name, None)
}

/// `mimetypes.guess_type`, for the extensions ComfyUI produces; unknown → octet-stream, and
/// the types aiohttp would render (`text/html`, `text/javascript`, ...) are forced to download.
pub(crate) fn content_type(filename: &str) -> &'static str {
    let ext = filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "tif" | "tiff" => "image/tiff",
        "svg" => "image/svg+xml",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mov" => "video/quicktime",
        "flac" => "audio/flac",
        "mp3" => "audio/mpeg",
        "wav" => "audio/x-wav",
        "ogg" | "opus" => "audio/ogg",
        "json" => "application/json",
        "txt" => "text/plain",
        "glb" => "model/gltf-binary",
        _ => "application/octet-stream",
    }
}

/// A solid-colour RGB PNG of the given size (clamped to 1..=16384 per side). Encoded by hand:
/// each row is filtered with `Sub`, so it is the colour then zeros, and the zeros compress to
/// distance-1 back-references in one fixed-Huffman deflate block. Fast at any size, even in
/// debug builds, and as small as a real encoder's output.
pub(crate) fn png(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    let (w, h) = (width.clamp(1, 16_384), height.clamp(1, 16_384));
    let mut row = vec![0u8; 1 + 3 * w as usize];
    row[0] = 1; // filter: Sub
    row[1..4].copy_from_slice(&rgb);

    let mut bits = BitWriter::default();
    bits.put(1, 1); // BFINAL
    bits.put(1, 2); // BTYPE = fixed Huffman
    let (mut a, mut b) = (1u32, 0u32);
    for _ in 0..h {
        for &byte in &row {
            a = (a + u32::from(byte)) % 65_521;
            b = (b + a) % 65_521;
        }
        for &byte in &row[..4] {
            bits.literal(u16::from(byte));
        }
        let mut zeros = row.len() - 4;
        if zeros > 0 {
            bits.literal(0);
            zeros -= 1;
        }
        while zeros >= 3 {
            let len = if zeros > 258 && zeros - 258 < 3 { zeros - 3 } else { zeros.min(258) };
            bits.copy(len);
            zeros -= len;
        }
        for _ in 0..zeros {
            bits.literal(0);
        }
    }
    bits.literal(256);
    let mut zlib = vec![0x78, 0x01];
    zlib.extend(bits.finish());
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());

    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// Deflate bit stream (LSB first), with the fixed Huffman code of RFC 1951.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    /// Writes `count` bits of `value`, least significant first.
    fn put(&mut self, value: u32, count: u32) {
        self.acc |= u64::from(value) << self.n;
        self.n += count;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// Writes a Huffman code (most significant bit first).
    fn code(&mut self, code: u32, len: u32) {
        let reversed = code.reverse_bits() >> (32 - len);
        self.put(reversed, len);
    }

    /// A literal byte or the end-of-block / length symbol `sym` (0..=285).
    fn literal(&mut self, sym: u16) {
        let sym = u32::from(sym);
        match sym {
            0..=143 => self.code(0x30 + sym, 8),
            144..=255 => self.code(0x190 + sym - 144, 9),
            256..=279 => self.code(sym - 256, 7),
            _ => self.code(0xc0 + sym - 280, 8),
        }
    }

    /// A back-reference of `len` (3..=258) bytes at distance 1.
    fn copy(&mut self, len: usize) {
        const BASE: [usize; 29] = [
            3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
            163, 195, 227, 258,
        ];
        const EXTRA: [u32; 29] =
            [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
        let i = BASE.iter().rposition(|&b| b <= len).unwrap_or(0);
        self.literal(257 + i as u16);
        self.put((len - BASE[i]) as u32, EXTRA[i]);
        self.code(0, 5); // distance code 0: distance 1
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// Encodes any image as PNG with the fastest settings (empty on the impossible encoder failure).
pub(crate) fn encode(img: &image::DynamicImage) -> Vec<u8> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let mut out = Vec::new();
    let encoder = PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Up);
    match img.write_with_encoder(encoder) {
        Ok(()) => out,
        Err(_) => Vec::new(),
    }
}

/// Placeholder bytes for media the fake does not really encode, starting with the format's
/// magic number so sniffers recognise it.
pub(crate) fn placeholder(ext: &str) -> Vec<u8> {
    let mut bytes: Vec<u8> = match ext {
        "webp" => b"RIFF\x24\x00\x00\x00WEBPVP8L".to_vec(),
        "webm" => vec![0x1a, 0x45, 0xdf, 0xa3],
        "mp4" => b"\x00\x00\x00\x18ftypmp42".to_vec(),
        "flac" => b"fLaC".to_vec(),
        "mp3" => b"ID3\x04\x00".to_vec(),
        "opus" | "ogg" => b"OggS".to_vec(),
        "glb" => b"glTF\x02\x00\x00\x00".to_vec(),
        _ => Vec::new(),
    };
    bytes.extend_from_slice(b"comfy-fake placeholder");
    bytes
}

/// Width and height of an encoded image, if it decodes.
pub(crate) fn image_size(bytes: &[u8]) -> Option<(u32, u32)> {
    image::ImageReader::new(Cursor::new(bytes)).with_guessed_format().ok()?.into_dimensions().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise_like_python() {
        assert_eq!(normalize_rel("").as_deref(), Some(""));
        assert_eq!(normalize_rel("a/./b/../c").as_deref(), Some("a/c"));
        assert_eq!(normalize_rel("../x"), None);
        assert_eq!(normalize_rel("/etc"), None);
        assert_eq!(annotated("a.png [input]"), ("a.png", Some(Folder::Input)));
    }

    #[test]
    fn counters_follow_existing_files() {
        let mut store = FileStore::default();
        let key = |n: &str| FileKey { folder: Folder::Output, subfolder: "f".into(), filename: n.into() };
        assert_eq!(store.next_counter(Folder::Output, "f", "basic"), 1);
        store.put(key("basic_00005_.png"), vec![]);
        store.put(key("Basic_00002_.png"), vec![]);
        store.put(key("basically_00009_.png"), vec![]);
        assert_eq!(store.next_counter(Folder::Output, "f", "basic"), 6);
    }

    #[test]
    fn png_has_the_requested_size() {
        assert_eq!(image_size(&png(48, 32, [1, 2, 3])), Some((48, 32)));
    }
}
#[cfg(test)]
mod png_tests {
    #[test]
    fn hand_encoded_pngs_decode_to_the_right_pixels() {
        for (w, h) in [(1, 1), (2, 3), (86, 2), (87, 1), (64, 64), (1536, 1536)] {
            let t = std::time::Instant::now();
            let bytes = super::png(w, h, [10, 200, 30]);
            assert!(t.elapsed() < std::time::Duration::from_secs(2));
            let img = image::load_from_memory(&bytes).unwrap().to_rgb8();
            assert_eq!(img.dimensions(), (w, h));
            assert!(img.pixels().all(|p| p.0 == [10, 200, 30]), "{w}x{h}");
        }
    }
}
