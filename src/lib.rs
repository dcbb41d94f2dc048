//! Workspace-level examples, benchmarks and tests live beside this crate; see the README.
