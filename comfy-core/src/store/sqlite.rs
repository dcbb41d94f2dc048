//! SQLite store (being written).
/// Placeholder.
#[derive(Debug)]
pub struct SqliteStore;
