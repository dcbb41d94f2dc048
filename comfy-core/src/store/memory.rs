//! In-memory store (being written).
use super::*;
/// Placeholder.
#[derive(Debug, Default)]
pub struct MemoryStore;
