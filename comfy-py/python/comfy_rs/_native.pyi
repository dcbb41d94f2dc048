# Type stubs of the native module (comfy-py/src/*.rs), maintained by hand and checked by
# `mypy --strict` in scripts/test-python.sh. The public API is the Python layer (_client.py,
# _mcp.py, exceptions.py); the data classes below are re-exported from `comfy_rs`.
#
# The methods of `Client`, `Job` and `Events` return an awaitable when the client was built
# with blocking=False and the value itself when blocking=True, hence `Any` here; the typed
# wrappers are comfy_rs.AsyncClient / comfy_rs.Client.

import os
from collections.abc import Awaitable
from typing import Any, final

__version__: str

@final
class Client:
    def __new__(
        cls,
        url: str = "http://127.0.0.1:8188",
        *,
        data_dir: str | os.PathLike[str] | None = None,
        workflows_dir: str | os.PathLike[str] | None = None,
        max_running_jobs: int | None = None,
        comfy_api_key: str | None = None,
        blocking: bool = False,
        backend: str = "local",
        cloud_url: str | None = None,
        cloud_api_key: str | None = None,
        ca_cert: list[str] | None = None,
        allow_account_interrupt: bool = False,
        keep_outputs: str | None = None,
        feedback_url: str | None = None,
        allow_partner_spend: bool = False,
        runcomfy_url: str | None = None,
        runcomfy_token: str | None = None,
        runcomfy_deployment: str | None = None,
        runcomfy_queue_version: str | None = None,
        store: str | None = None,
        allow_private_urls: bool | None = None,
        allowed_url_hosts: list[str] | None = None,
        backends: list[dict[str, Any]] | None = None,
        routing: dict[str, Any] | None = None,
    ) -> Client: ...
    @property
    def url(self) -> str: ...
    @property
    def blocking(self) -> bool: ...
    @property
    def running_jobs(self) -> int: ...
    def validate(self, workflow: Any) -> Any: ...
    def submit(self, workflow: Any, *, backend: str | None = None, resubmit_if_lost: bool = False) -> Any: ...
    def submit_template(
        self,
        name: str,
        params: dict[str, Any] | None = None,
        *,
        backend: str | None = None,
        resubmit_if_lost: bool = False,
    ) -> Any: ...
    def job(self, job_id: str, *, backend: str | None = None) -> Any: ...
    def asset(self, asset: str | Asset) -> Any: ...
    def assets(self, job_id: str | None = None, limit: int = 100) -> Any: ...
    def asset_bytes(self, asset: str | Asset) -> Any: ...
    def save_asset(self, asset: str | Asset, path: str | os.PathLike[str]) -> Any: ...
    def upload(self, data: Any, filename: str | None = None) -> Any: ...
    def list_templates(self) -> list[Template]: ...
    def queue(self) -> Any: ...
    def object_info(self) -> Any: ...
    def server_info(self) -> Any: ...
    def list_deployments(
        self, ids: list[str] | None = None, include_payload: bool = False, include_readme: bool = False
    ) -> Any: ...
    def get_deployment(
        self, deployment_id: str | None = None, include_payload: bool = False, include_readme: bool = False
    ) -> Any: ...
    def create_deployment(self, spec: dict[str, Any]) -> Any: ...
    def update_deployment(self, changes: dict[str, Any], deployment_id: str | None = None) -> Any: ...
    def delete_deployment(self, deployment_id: str) -> Any: ...
    def submit_request(self, spec: dict[str, Any]) -> Any: ...
    def billing_status(self) -> Any: ...
    def take_over_orphans(self) -> Any: ...
    def retire(self) -> Any: ...
    def submit_feedback(
        self,
        message: str,
        *,
        consent: bool = False,
        rating: int | None = None,
        category: str | None = None,
    ) -> Any: ...
    def session_summary(self) -> Any: ...
    def report_session_summary(self, *, consent: bool = False) -> Any: ...
    def cql(self, query: str) -> Any: ...
    def partner_generate(
        self,
        type: str,
        model: str,
        prompt: str | None = None,
        *,
        aspect_ratio: str | None = None,
        seed: int | None = None,
        duration: float | None = None,
        media: list[str] | None = None,
        max_credits: float | None = None,
        dry_run: bool = False,
    ) -> Any: ...
    def submit_batch(
        self,
        workflow: Any = None,
        *,
        template: str | None = None,
        params: dict[str, Any] | None = None,
        param_sets: list[dict[str, Any]] | None = None,
        overrides: list[dict[str, Any]] | None = None,
        seeds: list[int] | None = None,
        count: int | None = None,
        backend: str | None = None,
        resubmit_if_lost: bool = False,
    ) -> Any: ...
    def batch_status(self, batch_id: str) -> Any: ...
    def batch_outputs(self, batch_id: str) -> Any: ...
    def wait_batch(self, batch_id: str, timeout: float | None = None) -> Any: ...

@final
class Job:
    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def error(self) -> JobError | None: ...
    @property
    def fraction(self) -> float | None: ...
    @property
    def queue_position(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> Any: ...
    def cancel(self) -> Any: ...
    def assets(self, fetch: bool = False) -> Any: ...
    def events(self) -> Events: ...

@final
class Events:
    def next(self) -> Any: ...

@final
class JobError:
    """Why a job failed."""

    @property
    def node_id(self) -> str | None:
        """The failing node."""
    @property
    def node_class(self) -> str | None:
        """Its class."""
    @property
    def exception_type(self) -> str | None:
        """Python exception type on the server (``RuntimeError``, ...)."""
    @property
    def message(self) -> str:
        """The message."""
    @property
    def traceback(self) -> list[str]:
        """Traceback lines, if the server sent them."""
    @property
    def code(self) -> str | None:
        """``backend_lost`` (the backend stopped answering) or ``job_lost`` (it no longer knows
        the job) for failures of ours; ``None`` for the workflow's own errors."""

@final
class Event:
    """One update of a job: ``queued``, ``running``, ``preview`` or ``finished``."""

    @property
    def kind(self) -> str:
        """``queued``, ``running``, ``preview`` or ``finished``."""
    @property
    def fraction(self) -> float | None:
        """Overall completion in 0..1 (running; 1.0 when finished successfully)."""
    @property
    def node_id(self) -> str | None:
        """The node running (running), or that sent the preview (preview)."""
    @property
    def node_class(self) -> str | None:
        """The running node's class."""
    @property
    def step(self) -> int | None:
        """Sampler step, when the node reports steps."""
    @property
    def max_steps(self) -> int | None:
        """The node's step count, when it reports steps."""
    @property
    def nodes_done(self) -> int | None:
        """Nodes finished so far (running)."""
    @property
    def nodes_total(self) -> int | None:
        """Nodes that will run (running; 0 when unknown)."""
    @property
    def queue_position(self) -> int | None:
        """Place in the queue (queued, when known)."""
    @property
    def preview(self) -> bytes | None:
        """The preview image (preview)."""
    @property
    def preview_mime(self) -> str | None:
        """The preview's MIME type (preview)."""
    @property
    def status(self) -> str | None:
        """``succeeded``, ``failed`` or ``cancelled`` (finished)."""

@final
class Workflow:
    """An API-format ComfyUI workflow (the "prompt" graph), parsed without loss."""

    @staticmethod
    def from_json(data: dict[str, Any] | str | os.PathLike[str]) -> Workflow:
        """Parses an API-format workflow from a dict, a JSON string or a path. Editor (UI) files
        are refused (``ui_format_workflow``): convert them with :func:`ui_to_api` first."""
    def to_dict(self) -> dict[str, Any]:
        """The workflow as a dict (node ids → nodes), in document order."""
    def to_json(self) -> str:
        """The workflow as compact JSON text, nodes and keys in their original order."""
    def canonical_hash(self) -> str:
        """SHA-256 (hex) of the canonical form: ignores key order and ``_meta`` titles."""
    def nodes(self) -> list[Node]:
        """The nodes, in document order."""
    def __len__(self) -> int: ...

@final
class Node:
    """One node of a workflow."""

    @property
    def id(self) -> str:
        """The node id."""
    @property
    def class_type(self) -> str:
        """Its class (``KSampler``)."""
    @property
    def title(self) -> str | None:
        """Its ``_meta.title``, if any."""
    @property
    def inputs(self) -> dict[str, Any]:
        """Its inputs: literals as values, links as ``[node_id, output_index]``."""

@final
class Problem:
    """One validation problem."""

    @property
    def severity(self) -> str:
        """``error`` or ``warning``."""
    @property
    def code(self) -> str:
        """Stable code (``value_not_in_list``, ``required_input_missing``, ...)."""
    @property
    def node_id(self) -> str | None:
        """The node it is about."""
    @property
    def node_class(self) -> str | None:
        """That node's class."""
    @property
    def input(self) -> str | None:
        """The input it is about."""
    @property
    def message(self) -> str:
        """What is wrong and what would be valid."""
    @property
    def suggestions(self) -> list[str]:
        """"Did you mean" candidates (class, input or option names)."""
    @property
    def param(self) -> str | None:
        """The template parameter bound to the input (workflows rendered from a template)."""
    @property
    def expected(self) -> str | None:
        """What would be valid there, when known."""
    @property
    def dependent_outputs(self) -> list[str]:
        """Output nodes that cannot run because of it."""

@final
class Asset:
    """One output of a job, with a stable id."""

    @property
    def id(self) -> str:
        """Stable id (``a_…``)."""
    @property
    def job_id(self) -> str:
        """The job that made it."""
    @property
    def node_id(self) -> str:
        """The node that made it."""
    @property
    def key(self) -> str:
        """The node's output key (``images``, ``gifs``, ``audio``, ``text``, ...)."""
    @property
    def index(self) -> int:
        """Position under that key."""
    @property
    def kind(self) -> str:
        """``image``, ``video``, ``audio``, ``model3d``, ``text`` or ``other``."""
    @property
    def mime_type(self) -> str:
        """MIME type."""
    @property
    def filename(self) -> str | None:
        """File name on the server, for files."""
    @property
    def subfolder(self) -> str | None:
        """Sub-folder on the server ("" for none), for files."""
    @property
    def folder(self) -> str | None:
        """``output``, ``temp`` or ``input``, for files."""
    @property
    def url(self) -> str | None:
        """Hosted URL (cloud backends)."""
    @property
    def text(self) -> str | None:
        """The text, for text outputs."""
    @property
    def width(self) -> int | None:
        """Image width, once fetched."""
    @property
    def height(self) -> int | None:
        """Image height, once fetched."""
    @property
    def byte_size(self) -> int | None:
        """Size in bytes, once fetched."""
    @property
    def sha256(self) -> str | None:
        """SHA-256 (hex) of the bytes, once fetched."""
    @property
    def template(self) -> str | None:
        """The template that made it."""
    @property
    def workflow_hash(self) -> str:
        """Canonical hash of the job's workflow."""
    @property
    def created_at(self) -> int:
        """When it was recorded (ms since the Unix epoch)."""
    def __hash__(self) -> int: ...

@final
class Template:
    """A workflow template: a name, what it does, and its parameters."""

    @property
    def name(self) -> str:
        """Name (``generate_image``, or a file stem of the workflows directory)."""
    @property
    def description(self) -> str:
        """What it does."""
    @property
    def source(self) -> str:
        """``builtin`` or ``directory``."""
    @property
    def params(self) -> list[TemplateParam]:
        """Its parameters, in declaration order."""

@final
class TemplateParam:
    """One parameter of a template."""

    @property
    def name(self) -> str:
        """Name."""
    @property
    def type(self) -> str:
        """``string``, ``integer``, ``number`` or ``boolean``."""
    @property
    def required(self) -> bool:
        """Must be given."""
    @property
    def default(self) -> Any:
        """The template's default, if any."""
    @property
    def description(self) -> str | None:
        """Description."""

@final
class McpServer:
    @property
    def url(self) -> str: ...
    def close(self) -> Awaitable[None]: ...

def ui_to_api(ui: dict[str, Any] | str | os.PathLike[str], object_info: dict[str, Any] | str | os.PathLike[str]) -> dict[str, Any]:
    """Converts an editor ("save" / UI format) workflow to the API format, exactly as the
    official editor does when it queues it, against a node catalogue (``GET /object_info``).
    Both may be dicts, JSON strings or paths. Returns the API workflow as a dict."""

def api_to_ui(
    api: dict[str, Any] | str | os.PathLike[str] | Workflow, object_info: dict[str, Any] | str | os.PathLike[str]
) -> dict[str, Any]:
    """Builds an editor (UI format, version 0.4) workflow from an API workflow, laid out by
    depth, against a node catalogue. Returns a dict."""

def serve_mcp_http(
    client: Client, listen: str = "127.0.0.1:0", token: str | None = None, tool_profile: str = "full"
) -> Awaitable[McpServer]: ...
def serve_mcp_stdio(client: Client, tool_profile: str = "full") -> None: ...
def _in_flight() -> int: ...
