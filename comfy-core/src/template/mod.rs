//! Templates: workflows with parameters (being written).
