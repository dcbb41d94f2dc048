//! comfy-mcp
