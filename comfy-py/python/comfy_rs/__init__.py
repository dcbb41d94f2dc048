"""comfy_rs: drive ComfyUI from Python on the comfy-rs Rust core.

Validate workflows (API or editor format) against the live node catalogue, submit them, follow
their progress and previews, cancel them, fetch every output, run templates, and serve all of
it over MCP from inside your program::

    import comfy_rs

    client = comfy_rs.Client("http://127.0.0.1:8188")
    job = client.run("workflow_api.json")
    for asset in job.assets():
        client.save_asset(asset, asset.filename or f"{asset.id}.txt")

:class:`AsyncClient` has the same methods for asyncio programs.
"""

from __future__ import annotations

from ._client import DEFAULT_URL, AsyncClient, AsyncJob, Client, FileLike, ImageLike, Job, WorkflowLike
from ._mcp import McpServer, serve_mcp, serve_mcp_stdio
from ._native import (
    Asset,
    Event,
    JobError,
    Node,
    Problem,
    Template,
    TemplateParam,
    Workflow,
    __version__,
    api_to_ui,
    ui_to_api,
)
from .exceptions import (
    BackendError,
    BackendUnreachable,
    ComfyError,
    InvalidInput,
    JobFailed,
    NotFound,
    NotSupported,
    StoreError,
    Timeout,
    TooManyJobs,
    ValidationError,
)

__all__ = [
    "DEFAULT_URL",
    "AsyncClient",
    "AsyncJob",
    "Client",
    "Job",
    "WorkflowLike",
    "FileLike",
    "ImageLike",
    "McpServer",
    "serve_mcp",
    "serve_mcp_stdio",
    "Asset",
    "Event",
    "JobError",
    "Node",
    "Problem",
    "Template",
    "TemplateParam",
    "Workflow",
    "api_to_ui",
    "ui_to_api",
    "ComfyError",
    "InvalidInput",
    "ValidationError",
    "NotFound",
    "BackendError",
    "BackendUnreachable",
    "Timeout",
    "NotSupported",
    "TooManyJobs",
    "StoreError",
    "JobFailed",
    "__version__",
]
