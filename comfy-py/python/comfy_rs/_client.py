"""The two clients: :class:`AsyncClient` (asyncio) and :class:`Client` (blocking), with the same
methods, and their job handles :class:`AsyncJob` and :class:`Job`.

Both wrap one native client (``comfy_rs._native.Client``): every call runs in the Rust core on
a shared tokio runtime. The asyncio one never blocks the event loop, and cancelling the task
that awaits a call drops the Rust future. The blocking one releases the GIL while it waits,
can be interrupted with Ctrl-C, and refuses to run inside a running event loop.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, Literal, TypedDict, Union

from . import _native
from ._native import Asset, Event, JobError, Problem, Template, Workflow
from .exceptions import JobFailed

__all__ = ["AsyncClient", "Client", "AsyncJob", "Job", "WorkflowLike", "FileLike", "ImageLike", "DEFAULT_URL"]

DEFAULT_URL = "http://127.0.0.1:8188"
#: The backends a client can use.
#: What a partner (API) node makes.
MediaTypeName = Literal["image", "video", "audio", "3d"]
BackendName = Literal["local", "comfy-cloud", "runcomfy"]


class RunComfyOptions(TypedDict, total=False):
    """The RunComfy keyword arguments, passed on to the native client."""

    url: str | None
    token: str | None
    deployment: str | None
    queue_version: str | None
#: One CA certificate file, or several.
CaCerts = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]], None]
"""Where a local ComfyUI listens by default."""

WorkflowLike = Union[dict[str, Any], str, "os.PathLike[str]", Workflow]
"""A workflow: a dict, a JSON string, a path to a JSON file (``str`` or ``os.PathLike``), or a
:class:`Workflow`; API format or editor (UI, "save") format."""

FileLike = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"]
"""Bytes in hand, or a path to a local file."""

ImageLike = Union[str, bytes, bytearray, memoryview, "os.PathLike[str]"]
"""An image input of a template: a ``str`` is a name already on the server (what
:meth:`AsyncClient.upload` answers); bytes or an ``os.PathLike`` are uploaded first."""


def _job_failed(status: str, job: Union[Job, AsyncJob], error: JobError | None) -> JobFailed | None:
    if status == "failed":
        return JobFailed(f"job {job.id} failed: {error}", job=job, error=error)
    if status == "cancelled":
        return JobFailed(f"job {job.id} was cancelled", job=job, error=None, code="job_cancelled")
    return None


class AsyncJob:
    """A job submitted through an :class:`AsyncClient`."""

    __slots__ = ("_native",)

    def __init__(self, native: _native.Job) -> None:
        self._native = native

    @property
    def id(self) -> str:
        """The job id (the prompt id on a local ComfyUI)."""
        return self._native.id

    @property
    def status(self) -> str:
        """``pending``, ``queued``, ``running``, ``succeeded``, ``failed`` or ``cancelled``."""
        return self._native.status

    @property
    def error(self) -> JobError | None:
        """Why the job failed (node id and class, exception type, message), once it failed."""
        return self._native.error

    @property
    def fraction(self) -> float | None:
        """Overall completion in 0..1 while running (1.0 once succeeded)."""
        return self._native.fraction

    @property
    def queue_position(self) -> int | None:
        """Place in the server's queue (0 = next) while queued, when known."""
        return self._native.queue_position

    @property
    def done(self) -> bool:
        """Whether the job finished (succeeded, failed or cancelled)."""
        return self._native.status in ("succeeded", "failed", "cancelled")

    async def wait(self, timeout: float | None = None) -> AsyncJob:
        """Waits until the job finishes, or ``timeout`` seconds pass: the job is returned
        either way (still running on timeout: check :attr:`status` or :attr:`done`)."""
        await self._native.wait(timeout)
        return self

    async def cancel(self) -> str:
        """Cancels this job only (never a global interrupt): ``removed_from_queue``,
        ``interrupted``, ``interrupt_requested`` (it stops at its next node),
        ``already_finished``, ``cancel_requested`` (a hosted backend stops it later) or
        ``not_cancellable``."""
        outcome: str = await self._native.cancel()
        return outcome

    async def assets(self, *, fetch: bool = False) -> list[Asset]:
        """Every output of every node, once the job finished. With ``fetch=True`` each file is
        downloaded first, so ``byte_size``, ``sha256``, ``width`` and ``height`` are known."""
        assets: list[Asset] = await self._native.assets(fetch)
        return assets

    async def events(self) -> AsyncIterator[Event]:
        """The job's updates from now until it finishes: ``queued`` (``queue_position``),
        ``running`` (``node_id``, ``node_class``, ``step``/``max_steps``, ``fraction``),
        ``preview`` (``preview`` bytes) and, always last, ``finished`` (``status``)."""
        events = self._native.events()
        while True:
            event: Event | None = await events.next()
            if event is None:
                return
            yield event

    def raise_for_status(self) -> AsyncJob:
        """Raises :class:`~comfy_rs.JobFailed` if the job failed or was cancelled."""
        failure = _job_failed(self.status, self, self.error)
        if failure is not None:
            raise failure
        return self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AsyncJob) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"AsyncJob(id={self.id!r}, status={self.status!r})"


class Job:
    """A job submitted through a blocking :class:`Client`."""

    __slots__ = ("_native",)

    def __init__(self, native: _native.Job) -> None:
        self._native = native

    @property
    def id(self) -> str:
        """The job id (the prompt id on a local ComfyUI)."""
        return self._native.id

    @property
    def status(self) -> str:
        """``pending``, ``queued``, ``running``, ``succeeded``, ``failed`` or ``cancelled``."""
        return self._native.status

    @property
    def error(self) -> JobError | None:
        """Why the job failed (node id and class, exception type, message), once it failed."""
        return self._native.error

    @property
    def fraction(self) -> float | None:
        """Overall completion in 0..1 while running (1.0 once succeeded)."""
        return self._native.fraction

    @property
    def queue_position(self) -> int | None:
        """Place in the server's queue (0 = next) while queued, when known."""
        return self._native.queue_position

    @property
    def done(self) -> bool:
        """Whether the job finished (succeeded, failed or cancelled)."""
        return self._native.status in ("succeeded", "failed", "cancelled")

    def wait(self, timeout: float | None = None) -> Job:
        """Waits until the job finishes, or ``timeout`` seconds pass: the job is returned
        either way (still running on timeout: check :attr:`status` or :attr:`done`)."""
        self._native.wait(timeout)
        return self

    def cancel(self) -> str:
        """Cancels this job only (never a global interrupt): ``removed_from_queue``,
        ``interrupted``, ``interrupt_requested`` (it stops at its next node),
        ``already_finished``, ``cancel_requested`` (a hosted backend stops it later) or
        ``not_cancellable``."""
        outcome: str = self._native.cancel()
        return outcome

    def assets(self, *, fetch: bool = False) -> list[Asset]:
        """Every output of every node, once the job finished. With ``fetch=True`` each file is
        downloaded first, so ``byte_size``, ``sha256``, ``width`` and ``height`` are known."""
        assets: list[Asset] = self._native.assets(fetch)
        return assets

    def events(self) -> Iterator[Event]:
        """The job's updates from now until it finishes: ``queued`` (``queue_position``),
        ``running`` (``node_id``, ``node_class``, ``step``/``max_steps``, ``fraction``),
        ``preview`` (``preview`` bytes) and, always last, ``finished`` (``status``)."""
        events = self._native.events()
        while True:
            event: Event | None = events.next()
            if event is None:
                return
            yield event

    def raise_for_status(self) -> Job:
        """Raises :class:`~comfy_rs.JobFailed` if the job failed or was cancelled."""
        failure = _job_failed(self.status, self, self.error)
        if failure is not None:
            raise failure
        return self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Job) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"Job(id={self.id!r}, status={self.status!r})"


def _native_client(
    url: str,
    data_dir: str | os.PathLike[str] | None,
    workflows_dir: str | os.PathLike[str] | None,
    max_running_jobs: int | None,
    comfy_api_key: str | None,
    blocking: bool,
    backend: BackendName = "local",
    cloud_url: str | None = None,
    cloud_api_key: str | None = None,
    ca_cert: CaCerts = None,
    allow_account_interrupt: bool = False,
    keep_outputs: str | os.PathLike[str] | None = None,
    feedback_url: str | None = None,
    allow_partner_spend: bool = False,
    runcomfy: RunComfyOptions | None = None,
    store: str | None = None,
    allow_private_urls: bool | None = None,
    allowed_url_hosts: Sequence[str] | None = None,
    backends: Sequence[Mapping[str, Any]] | None = None,
    routing: Mapping[str, Any] | None = None,
) -> _native.Client:
    rc = runcomfy or {}
    if ca_cert is None:
        certs = None
    elif isinstance(ca_cert, (str, os.PathLike)):
        certs = [os.path.expanduser(ca_cert)]
    else:
        certs = [os.path.expanduser(c) for c in ca_cert]
    return _native.Client(
        url,
        data_dir=None if data_dir is None else os.path.expanduser(data_dir),
        workflows_dir=None if workflows_dir is None else os.path.expanduser(workflows_dir),
        max_running_jobs=max_running_jobs,
        comfy_api_key=comfy_api_key,
        blocking=blocking,
        backend=backend,
        cloud_url=cloud_url,
        cloud_api_key=cloud_api_key,
        ca_cert=certs,
        allow_account_interrupt=allow_account_interrupt,
        keep_outputs=None if keep_outputs is None else os.path.expanduser(keep_outputs),
        feedback_url=feedback_url,
        allow_partner_spend=allow_partner_spend,
        runcomfy_url=rc.get("url"),
        runcomfy_token=rc.get("token"),
        runcomfy_deployment=rc.get("deployment"),
        runcomfy_queue_version=rc.get("queue_version"),
        store=store,
        allow_private_urls=allow_private_urls,
        allowed_url_hosts=None if allowed_url_hosts is None else list(allowed_url_hosts),
        backends=None if backends is None else [dict(b) for b in backends],
        routing=None if routing is None else dict(routing),
    )


class AsyncClient:
    """A client of one ComfyUI server for asyncio programs.

    Nothing is contacted until the first call (the server may start later; calls then raise
    :class:`~comfy_rs.BackendUnreachable`, which is retryable).

    :param url: the server's base URL.
    :param data_dir: where jobs and assets are recorded (``data_dir/comfy.sqlite3``, created if
        missing, ``~`` expanded; they survive restarts). Without it they are kept in memory only.
    :param workflows_dir: a directory of workflow templates (watched: edits apply at once);
        without it the built-in templates are served.
    :param max_running_jobs: how many jobs this client may have unfinished at once (default 8);
        one more raises the retryable :class:`~comfy_rs.TooManyJobs`.
    :param comfy_api_key: key for ComfyUI's partner (API) nodes; default ``$COMFY_API_KEY``.
        On Comfy Cloud, unset means the Cloud API key pays for partner nodes.
    :param backend: ``"local"`` (the ComfyUI at ``url``) or ``"comfy-cloud"`` (Comfy Cloud at
        ``cloud_url``; ``url`` is then unused).
    :param cloud_url: the Comfy Cloud URL; default ``$COMFY_CLOUD_URL``, else
        ``https://cloud.comfy.org``.
    :param cloud_api_key: the Comfy Cloud API key (sent to the Cloud host only); default
        ``$COMFY_CLOUD_API_KEY``. Required with ``backend="comfy-cloud"``.
    :param ca_cert: an extra CA certificate (PEM file), or several, to trust for ``https://``.
    :param allow_account_interrupt: on Comfy Cloud, allow the account-wide interrupt as a last
        resort to stop a running job (it stops every running job of the account).
    :param keep_outputs: a directory that keeps a copy of every output when its job finishes;
        assets are then read from it (Comfy Cloud's signed output URLs expire after about 6 h).
    :param feedback_url: where :meth:`submit_feedback` and :meth:`report_session_summary` also
        POST (no backend credential is sent); default ``$COMFY_FEEDBACK_URL``.
    :param allow_partner_spend: let :meth:`partner_generate` spend credits without a per-call
        ``max_credits`` (also when the price is unknown); default ``$COMFY_ALLOW_PARTNER_SPEND``
        (``1``/``true``), else off.
    :param runcomfy_url: with ``backend="runcomfy"``, the RunComfy API URL; default
        ``$RUNCOMFY_API_URL``, else ``https://api.runcomfy.net``.
    :param runcomfy_token: the RunComfy API token (sent to the API host only, never to the
        output CDN); default ``$RUNCOMFY_API_TOKEN``. Required with ``backend="runcomfy"``.
    :param runcomfy_deployment: the deployment workflows run on; default
        ``$RUNCOMFY_DEPLOYMENT_ID``.
    :param runcomfy_queue_version: ``"v1"`` (default) or ``"v2"`` queue paths.
    :param store: where jobs and assets are recorded instead of ``data_dir``'s SQLite: a
        PostgreSQL URL (``postgres://user:password@host:5432/db``; several processes and
        comfy-mcp servers then share the records), ``sqlite:///path/file.sqlite3`` or a path.
        The database is contacted on the first call that needs it.
    :param allow_private_urls: let output URLs a hosted backend answers (Comfy Cloud storage,
        the RunComfy CDN) reach loopback, private and link-local addresses; default
        ``$COMFY_ALLOW_PRIVATE_URLS`` (``1``/``true``), else off: only public addresses are
        fetched, others raise with code ``url_not_allowed``.
    :param allowed_url_hosts: hosts such URLs may reach whatever their address
        (``"minio.internal"``, ``"127.0.0.1:9000"``).
    :param backends: several named backends instead of one, each a dict with the keys of a
        ``[[backends]]`` entry of comfy-mcp's config file (``name``, ``kind``, ``url``,
        ``api_key_env``/``token_env``/``comfy_api_key_env``, ``priority``, ``weight``, ``tags``, ...);
        submissions are routed over them and ``backend=`` pins one by name.
    :param routing: ``{"overflow_queue": 4, "health_interval_ms": 10000}`` (``[routing]``).
    """

    __slots__ = ("_native",)

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        workflows_dir: str | os.PathLike[str] | None = None,
        max_running_jobs: int | None = None,
        comfy_api_key: str | None = None,
        backend: BackendName = "local",
        cloud_url: str | None = None,
        cloud_api_key: str | None = None,
        ca_cert: CaCerts = None,
        allow_account_interrupt: bool = False,
        keep_outputs: str | os.PathLike[str] | None = None,
        feedback_url: str | None = None,
        allow_partner_spend: bool = False,
        runcomfy_url: str | None = None,
        runcomfy_token: str | None = None,
        runcomfy_deployment: str | None = None,
        runcomfy_queue_version: Literal["v1", "v2"] | None = None,
        store: str | None = None,
        allow_private_urls: bool | None = None,
        allowed_url_hosts: Sequence[str] | None = None,
        backends: Sequence[Mapping[str, Any]] | None = None,
        routing: Mapping[str, Any] | None = None,
    ) -> None:
        self._native = _native_client(
            url, data_dir, workflows_dir, max_running_jobs, comfy_api_key, False,
            backend, cloud_url, cloud_api_key, ca_cert, allow_account_interrupt, keep_outputs,
            feedback_url, allow_partner_spend,
            {"url": runcomfy_url, "token": runcomfy_token, "deployment": runcomfy_deployment,
             "queue_version": runcomfy_queue_version},
            store, allow_private_urls, allowed_url_hosts, backends, routing,
        )

    @property
    def url(self) -> str:
        """The backend's base URL (the ComfyUI URL, or the Comfy Cloud URL)."""
        return self._native.url

    @property
    def running_jobs(self) -> int:
        """Jobs submitted through this client that have not finished."""
        return self._native.running_jobs

    async def validate(self, workflow: WorkflowLike) -> list[Problem]:
        """Checks a workflow (API or editor format) against the server's node catalogue without
        running it: every problem at once (errors first, then warnings); empty when valid."""
        problems: list[Problem] = await self._native.validate(workflow)
        return problems

    async def submit(
        self, workflow: WorkflowLike, *, backend: str | None = None, resubmit_if_lost: bool = False
    ) -> AsyncJob:
        """Converts (editor files), validates and queues a workflow (on the backend named
        ``backend``, else where routing sends it); returns its job at once.
        ``resubmit_if_lost``: if the backend that accepted it is lost with it (stops answering, or
        forgets it), run it again on another configured backend instead of failing it.
        Raises :class:`~comfy_rs.ValidationError` (with every problem) if it is not valid."""
        return AsyncJob(await self._native.submit(workflow, backend=backend, resubmit_if_lost=resubmit_if_lost))

    async def run(
        self,
        workflow: WorkflowLike,
        *,
        timeout: float | None = None,
        backend: str | None = None,
        resubmit_if_lost: bool = False,
    ) -> AsyncJob:
        """Submits a workflow and waits for it (at most ``timeout`` seconds; the job is returned
        still running then). Raises :class:`~comfy_rs.JobFailed` if it fails or is cancelled."""
        job = await (await self.submit(workflow, backend=backend, resubmit_if_lost=resubmit_if_lost)).wait(timeout)
        return job.raise_for_status()

    async def submit_template(
        self, name: str, /, *, backend: str | None = None, resubmit_if_lost: bool = False, **params: Any
    ) -> AsyncJob:
        """Renders a template with ``params`` (over the defaults: ``COMFY_DEFAULT_<NAME>``
        environment variables, then the template's own), validates and queues it (on the backend
        named ``backend``, else where routing sends it; ``resubmit_if_lost`` as for
        :meth:`submit`)."""
        return AsyncJob(
            await self._native.submit_template(name, params, backend=backend, resubmit_if_lost=resubmit_if_lost)
        )

    async def run_template(
        self, name: str, /, *, backend: str | None = None, resubmit_if_lost: bool = False, **params: Any
    ) -> AsyncJob:
        """:meth:`submit_template`, then waits until the job finishes. Raises
        :class:`~comfy_rs.JobFailed` if it fails or is cancelled."""
        submitted = await self.submit_template(name, backend=backend, resubmit_if_lost=resubmit_if_lost, **params)
        job = await submitted.wait()
        return job.raise_for_status()

    async def generate_image(self, prompt: str, /, **params: Any) -> AsyncJob:
        """Text to image with the built-in ``generate_image`` template (``ckpt_name``, ``width``,
        ``height``, ``steps``, ``cfg``, ``seed``... as keywords); waits for the result."""
        return await self.run_template("generate_image", prompt=prompt, **params)

    async def image_to_image(self, image: ImageLike, prompt: str, /, **params: Any) -> AsyncJob:
        """Image to image with the built-in template; ``image`` is uploaded first unless it is
        already a name on the server. Waits for the result."""
        return await self.run_template("image_to_image", image=await self._image(image), prompt=prompt, **params)

    async def inpaint(self, image: ImageLike, prompt: str, /, **params: Any) -> AsyncJob:
        """Inpaints the transparent area of ``image`` (its alpha channel is the mask) with the
        built-in template; the image is uploaded first unless already on the server."""
        return await self.run_template("inpaint", image=await self._image(image), prompt=prompt, **params)

    async def upscale(self, image: ImageLike, /, **params: Any) -> AsyncJob:
        """Upscales ``image`` (``scale_by``, ``upscale_method``) with the model-free built-in
        template; the image is uploaded first unless already on the server."""
        return await self.run_template("upscale", image=await self._image(image), **params)

    async def _image(self, image: ImageLike) -> str:
        if isinstance(image, str):
            return image
        return await self.upload(image, None if isinstance(image, os.PathLike) else "image.png")

    async def job(self, job_id: str, *, backend: str | None = None) -> AsyncJob:
        """A job by id: one of this client's, one recorded in its store (``data_dir``), or one
        the server knows (submitted elsewhere); with ``backend``, only a job that runs there."""
        return AsyncJob(await self._native.job(job_id, backend=backend))

    async def asset(self, asset_id: str | Asset) -> Asset:
        """A recorded asset by id."""
        asset: Asset = await self._native.asset(asset_id)
        return asset

    async def assets(self, *, job_id: str | None = None, limit: int = 100) -> list[Asset]:
        """Recorded assets, newest first: at most ``limit``, only ``job_id``'s when given."""
        assets: list[Asset] = await self._native.assets(job_id, limit)
        return assets

    async def asset_bytes(self, asset_id: str | Asset) -> bytes:
        """An asset's bytes, fetched through the server (its size, SHA-256 and image size are
        recorded on the way)."""
        data: bytes = await self._native.asset_bytes(asset_id)
        return data

    async def save_asset(self, asset_id: str | Asset, path: str | os.PathLike[str]) -> Asset:
        """Fetches an asset and writes it to ``path`` (atomically: a temporary file renamed into
        place); returns the asset with size and SHA-256 filled in."""
        asset: Asset = await self._native.save_asset(asset_id, path)
        return asset

    async def upload(self, data: FileLike, filename: str | None = None) -> str:
        """Uploads an input file (bytes, which need a ``filename``, or a path) to the server;
        returns the value to put in a ``LoadImage`` input (valid at once for this client)."""
        name: str = await self._native.upload(data, filename)
        return name

    def list_templates(self) -> list[Template]:
        """The templates this client serves (built-ins, or the workflows directory)."""
        return self._native.list_templates()

    async def queue(self) -> dict[str, list[str]]:
        """The server's queue: ``{"running": [job ids], "pending": [job ids]}`` in run order."""
        queue: dict[str, list[str]] = await self._native.queue()
        return queue

    async def object_info(self) -> dict[str, Any]:
        """The server's node catalogue (``GET /object_info``, cached), e.g. for
        :func:`~comfy_rs.ui_to_api`."""
        info: dict[str, Any] = await self._native.object_info()
        return info

    async def server_info(self) -> dict[str, Any]:
        """The backend: ``kind``, ``server_version``, ``reachable``, ``auth`` (the credential's
        state, never the secret), ``account_status``, ``capabilities``, ..."""
        info: dict[str, Any] = await self._native.server_info()
        return info

    async def partner_generate(
        self,
        type: MediaTypeName,
        model: str,
        prompt: str | None = None,
        *,
        aspect_ratio: str | None = None,
        seed: int | None = None,
        duration: float | None = None,
        media: Sequence[str] | None = None,
        max_credits: float | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Generate with a partner (paid API) model: builds the partner node's workflow (with
        the save node it lacks, ``media`` through loader nodes) from the server's catalogue,
        prices it from its price badge, and submits it only with spending consent:
        ``max_credits`` covering the price ($1 = 211 credits), or ``allow_partner_spend``.
        ``dry_run=True`` only quotes.

        :param type: ``"image"``, ``"video"``, ``"audio"`` or ``"3d"``.
        :param model: a partner node class, a value of its ``model`` list, its display name or
            an alias (``"flux-ultra"``, ``"nano-banana"``, ...).
        :param media: reference media: input names from :meth:`upload`.
        :returns: ``{"quote": {...}, "job": job or None}``; the quote holds ``class_type``,
            ``price`` (``kind`` ``"known"`` with ``min_usd``/``max_usd``/``min_credits``/
            ``max_credits``, or ``"unknown"`` with ``reason``), ``price_text``, ``consent`` and
            the ``workflow``. Without consent raises ``InvalidInput`` with code
            ``spending_consent_required`` or ``price_above_max_credits`` (nothing is spent).
        """
        r: dict[str, Any] = await self._native.partner_generate(
            type, model, prompt, aspect_ratio=aspect_ratio, seed=seed, duration=duration,
            media=None if media is None else list(media), max_credits=max_credits, dry_run=dry_run,
        )
        return {"quote": r["quote"], "job": None if r["job"] is None else AsyncJob(r["job"])}

    async def cql(self, query: str) -> dict[str, Any]:
        """Typed structural questions about the node classes (CQL): a source, then
        ``|``-separated stages, e.g. ``"produces IMAGE | NOT deprecated | sort connections |
        limit 10"``, ``"upstream KSampler"``, ``"path MODEL -> IMAGE"``. Returns ``{"total",
        "classes"}`` or ``{"total", "paths"}``; a bad query raises ``InvalidInput`` (code
        ``invalid_query``) naming the column and what was expected."""
        result: dict[str, Any] = await self._native.cql(query)
        return result

    async def submit_batch(
        self,
        workflow: WorkflowLike | None = None,
        *,
        template: str | None = None,
        params: dict[str, Any] | None = None,
        param_sets: list[dict[str, Any]] | None = None,
        overrides: list[dict[str, Any]] | None = None,
        seeds: list[int] | None = None,
        count: int | None = None,
        backend: str | None = None,
        resubmit_if_lost: bool = False,
    ) -> dict[str, Any]:
        """Runs one workflow (or ``template`` with ``params``) many times: exactly one of
        ``param_sets`` (template parameters per item), ``overrides`` (``{"KSampler.steps": 20}``
        per item), ``seeds`` or ``count`` (random seeds). Every item is checked before anything
        is submitted (a bad one raises, naming ``batch item <i>``); items beyond
        ``max_running_jobs`` wait and are submitted as slots free, also after a restart
        (same ``data_dir``). With ``backend``, every item runs on that backend; with
        ``resubmit_if_lost``, an item lost with its backend runs again on another. Returns the
        status dict, with ``batch_id``."""
        status: dict[str, Any] = await self._native.submit_batch(
            workflow, template=template, params=params, param_sets=param_sets,
            overrides=overrides, seeds=seeds, count=count, backend=backend, resubmit_if_lost=resubmit_if_lost,
        )
        return status

    async def batch_status(self, batch_id: str) -> dict[str, Any]:
        """A batch's ``state`` (``running``, ``succeeded``, ``failed``), ``counts`` per item
        state, ``fraction`` and ``items`` (each with ``job_id`` and ``state``)."""
        status: dict[str, Any] = await self._native.batch_status(batch_id)
        return status

    async def batch_outputs(self, batch_id: str) -> dict[str, Any]:
        """Every output of every item, in item order: ``{"batch_id", "state", "items": [{"index",
        "job_id", "state", "outputs": [{"asset_id", ...}]}]}``."""
        outputs: dict[str, Any] = await self._native.batch_outputs(batch_id)
        return outputs

    async def wait_batch(self, batch_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Waits up to ``timeout`` seconds (``None``: until every item finished); returns the
        status then (``state`` is still ``running`` if the time ran out)."""
        status: dict[str, Any] = await self._native.wait_batch(batch_id, timeout)
        return status

    async def list_deployments(
        self, ids: list[str] | None = None, *, include_payload: bool = False, include_readme: bool = False
    ) -> list[dict[str, Any]]:
        """RunComfy deployments (only ``ids`` when given); ``NotSupported`` on other backends."""
        deployments: list[dict[str, Any]] = await self._native.list_deployments(ids, include_payload, include_readme)
        return deployments

    async def get_deployment(
        self, deployment_id: str | None = None, *, include_payload: bool = False, include_readme: bool = False
    ) -> dict[str, Any]:
        """One RunComfy deployment (default: the configured one); ``include_payload`` adds its
        workflow (``payload.workflow_api_json``)."""
        deployment: dict[str, Any] = await self._native.get_deployment(deployment_id, include_payload, include_readme)
        return deployment

    async def create_deployment(self, name: str, workflow_id: str, workflow_version: str, **options: Any) -> dict[str, Any]:
        """Deploys a Cloud-Saved workflow on RunComfy (billed while instances run). ``options``:
        ``hardware`` (default ``"AMPERE_48"``), ``min_instances``, ``max_instances``,
        ``queue_size``, ``keep_warm_duration_in_seconds``."""
        spec = {"name": name, "workflow_id": workflow_id, "workflow_version": workflow_version, **options}
        deployment: dict[str, Any] = await self._native.create_deployment(spec)
        return deployment

    async def update_deployment(self, deployment_id: str | None = None, **changes: Any) -> dict[str, Any]:
        """Changes a RunComfy deployment (default: the configured one): ``name``,
        ``workflow_version``, ``hardware``, ``min_instances``, ``max_instances``, ``queue_size``,
        ``keep_warm_duration_in_seconds``, ``is_enabled``."""
        deployment: dict[str, Any] = await self._native.update_deployment(changes, deployment_id)
        return deployment

    async def delete_deployment(self, deployment_id: str) -> Any:
        """Deletes a RunComfy deployment permanently; RunComfy's answer."""
        return await self._native.delete_deployment(deployment_id)

    async def submit_request(
        self,
        overrides: dict[str, Any] | None = None,
        *,
        deployment_id: str | None = None,
        workflow_api_json: dict[str, Any] | None = None,
        extra_data: dict[str, Any] | None = None,
        webhook_url: str | None = None,
        webhook_intermediate_status: bool | None = None,
    ) -> AsyncJob:
        """Runs a RunComfy deployment (billed) as a job: ``overrides`` of its saved workflow
        (``{"<node title or id>.<input>": value}`` or node-keyed ``{"6": {"inputs": {...}}}``),
        checked before anything is sent, or a whole ``workflow_api_json``; ``deployment_id``
        defaults to the configured one. The job is recorded like any other (its outputs are
        assets; it is reattached after a restart). ``NotSupported`` on other backends."""
        spec = {"overrides": overrides, "deployment_id": deployment_id, "workflow_api_json": workflow_api_json,
                "extra_data": extra_data, "webhook_url": webhook_url,
                "webhook_intermediate_status": webhook_intermediate_status}
        return AsyncJob(await self._native.submit_request({k: v for k, v in spec.items() if v is not None}))

    async def billing_status(self) -> dict[str, Any]:
        """Balance (``balance_usd``, ``balance_credits``) and ``subscription`` where the backend
        has billing (Comfy Cloud); otherwise raises ``NotSupportedError``."""
        status: dict[str, Any] = await self._native.billing_status()
        return status

    async def take_over_orphans(self) -> list[str]:
        """On a PostgreSQL store shared by several servers: takes over the unfinished jobs and
        batches of servers that stopped (``["job:<id>", "batch:<id>", ...]``). The client does
        this by itself every few seconds; ``[]`` on other stores."""
        taken: list[str] = await self._native.take_over_orphans()
        return taken

    async def retire(self) -> None:
        """On a shared store: hands this client's unfinished jobs and batches to the other
        servers at once (call before a planned shutdown). Does nothing on other stores."""
        await self._native.retire()

    async def submit_feedback(
        self, message: str, *, consent: bool = False, rating: int | None = None, category: str | None = None
    ) -> dict[str, Any]:
        """Records the user's feedback; raises ``InvalidInput`` without ``consent=True`` or
        when ``message`` holds a path, URL or e-mail address. Stored locally (the data
        directory's ``feedback.jsonl``, else memory) and posted to the feedback URL if set; the
        receipt says ``stored``, ``posted`` and why not."""
        receipt: dict[str, Any] = await self._native.submit_feedback(
            message, consent=consent, rating=rating, category=category
        )
        return receipt

    def session_summary(self) -> dict[str, Any]:
        """This client's activity: jobs submitted/succeeded/failed/cancelled, error codes with
        counts, uptime. No prompts, paths, ids or text."""
        summary: dict[str, Any] = self._native.session_summary()
        return summary

    async def report_session_summary(self, *, consent: bool = False) -> dict[str, Any]:
        """Records :meth:`session_summary` like :meth:`submit_feedback` (needs ``consent=True``)."""
        receipt: dict[str, Any] = await self._native.report_session_summary(consent=consent)
        return receipt

    def __repr__(self) -> str:
        return f"AsyncClient(url={self.url!r})"


class Client:
    """A blocking client of one ComfyUI server (same methods as :class:`AsyncClient`).

    Each call releases the GIL while it waits (other threads run) and can be interrupted with
    Ctrl-C. Calling it from a thread that runs an asyncio event loop raises ``RuntimeError``
    (it would stall the loop): use :class:`AsyncClient` there.

    :param url: the server's base URL.
    :param data_dir: where jobs and assets are recorded (``data_dir/comfy.sqlite3``, created if
        missing, ``~`` expanded; they survive restarts). Without it they are kept in memory only.
    :param workflows_dir: a directory of workflow templates (watched: edits apply at once);
        without it the built-in templates are served.
    :param max_running_jobs: how many jobs this client may have unfinished at once (default 8);
        one more raises the retryable :class:`~comfy_rs.TooManyJobs`.
    :param comfy_api_key: key for ComfyUI's partner (API) nodes; default ``$COMFY_API_KEY``.
        On Comfy Cloud, unset means the Cloud API key pays for partner nodes.
    :param backend: ``"local"`` (the ComfyUI at ``url``) or ``"comfy-cloud"`` (Comfy Cloud at
        ``cloud_url``; ``url`` is then unused).
    :param cloud_url: the Comfy Cloud URL; default ``$COMFY_CLOUD_URL``, else
        ``https://cloud.comfy.org``.
    :param cloud_api_key: the Comfy Cloud API key (sent to the Cloud host only); default
        ``$COMFY_CLOUD_API_KEY``. Required with ``backend="comfy-cloud"``.
    :param ca_cert: an extra CA certificate (PEM file), or several, to trust for ``https://``.
    :param allow_account_interrupt: on Comfy Cloud, allow the account-wide interrupt as a last
        resort to stop a running job (it stops every running job of the account).
    :param keep_outputs: a directory that keeps a copy of every output when its job finishes;
        assets are then read from it (Comfy Cloud's signed output URLs expire after about 6 h).
    :param feedback_url: where :meth:`submit_feedback` and :meth:`report_session_summary` also
        POST (no backend credential is sent); default ``$COMFY_FEEDBACK_URL``.
    :param allow_partner_spend: let :meth:`partner_generate` spend credits without a per-call
        ``max_credits`` (also when the price is unknown); default ``$COMFY_ALLOW_PARTNER_SPEND``
        (``1``/``true``), else off.
    :param runcomfy_url: with ``backend="runcomfy"``, the RunComfy API URL; default
        ``$RUNCOMFY_API_URL``, else ``https://api.runcomfy.net``.
    :param runcomfy_token: the RunComfy API token (sent to the API host only, never to the
        output CDN); default ``$RUNCOMFY_API_TOKEN``. Required with ``backend="runcomfy"``.
    :param runcomfy_deployment: the deployment workflows run on; default
        ``$RUNCOMFY_DEPLOYMENT_ID``.
    :param runcomfy_queue_version: ``"v1"`` (default) or ``"v2"`` queue paths.
    :param store: where jobs and assets are recorded instead of ``data_dir``'s SQLite: a
        PostgreSQL URL (``postgres://user:password@host:5432/db``; several processes and
        comfy-mcp servers then share the records), ``sqlite:///path/file.sqlite3`` or a path.
        The database is contacted on the first call that needs it.
    :param allow_private_urls: let output URLs a hosted backend answers (Comfy Cloud storage,
        the RunComfy CDN) reach loopback, private and link-local addresses; default
        ``$COMFY_ALLOW_PRIVATE_URLS`` (``1``/``true``), else off: only public addresses are
        fetched, others raise with code ``url_not_allowed``.
    :param allowed_url_hosts: hosts such URLs may reach whatever their address
        (``"minio.internal"``, ``"127.0.0.1:9000"``).
    :param backends: several named backends instead of one, each a dict with the keys of a
        ``[[backends]]`` entry of comfy-mcp's config file (``name``, ``kind``, ``url``,
        ``api_key_env``/``token_env``/``comfy_api_key_env``, ``priority``, ``weight``, ``tags``, ...);
        submissions are routed over them and ``backend=`` pins one by name.
    :param routing: ``{"overflow_queue": 4, "health_interval_ms": 10000}`` (``[routing]``).
    """

    __slots__ = ("_native",)

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        workflows_dir: str | os.PathLike[str] | None = None,
        max_running_jobs: int | None = None,
        comfy_api_key: str | None = None,
        backend: BackendName = "local",
        cloud_url: str | None = None,
        cloud_api_key: str | None = None,
        ca_cert: CaCerts = None,
        allow_account_interrupt: bool = False,
        keep_outputs: str | os.PathLike[str] | None = None,
        feedback_url: str | None = None,
        allow_partner_spend: bool = False,
        runcomfy_url: str | None = None,
        runcomfy_token: str | None = None,
        runcomfy_deployment: str | None = None,
        runcomfy_queue_version: Literal["v1", "v2"] | None = None,
        store: str | None = None,
        allow_private_urls: bool | None = None,
        allowed_url_hosts: Sequence[str] | None = None,
        backends: Sequence[Mapping[str, Any]] | None = None,
        routing: Mapping[str, Any] | None = None,
    ) -> None:
        self._native = _native_client(
            url, data_dir, workflows_dir, max_running_jobs, comfy_api_key, True,
            backend, cloud_url, cloud_api_key, ca_cert, allow_account_interrupt, keep_outputs,
            feedback_url, allow_partner_spend,
            {"url": runcomfy_url, "token": runcomfy_token, "deployment": runcomfy_deployment,
             "queue_version": runcomfy_queue_version},
            store, allow_private_urls, allowed_url_hosts, backends, routing,
        )

    @property
    def url(self) -> str:
        """The backend's base URL (the ComfyUI URL, or the Comfy Cloud URL)."""
        return self._native.url

    @property
    def running_jobs(self) -> int:
        """Jobs submitted through this client that have not finished."""
        return self._native.running_jobs

    def validate(self, workflow: WorkflowLike) -> list[Problem]:
        """Checks a workflow (API or editor format) against the server's node catalogue without
        running it: every problem at once (errors first, then warnings); empty when valid."""
        problems: list[Problem] = self._native.validate(workflow)
        return problems

    def submit(
        self, workflow: WorkflowLike, *, backend: str | None = None, resubmit_if_lost: bool = False
    ) -> Job:
        """Converts (editor files), validates and queues a workflow (on the backend named
        ``backend``, else where routing sends it); returns its job at once.
        ``resubmit_if_lost``: if the backend that accepted it is lost with it (stops answering, or
        forgets it), run it again on another configured backend instead of failing it.
        Raises :class:`~comfy_rs.ValidationError` (with every problem) if it is not valid."""
        return Job(self._native.submit(workflow, backend=backend, resubmit_if_lost=resubmit_if_lost))

    def run(
        self,
        workflow: WorkflowLike,
        *,
        timeout: float | None = None,
        backend: str | None = None,
        resubmit_if_lost: bool = False,
    ) -> Job:
        """Submits a workflow and waits for it (at most ``timeout`` seconds; the job is returned
        still running then). Raises :class:`~comfy_rs.JobFailed` if it fails or is cancelled."""
        return self.submit(workflow, backend=backend, resubmit_if_lost=resubmit_if_lost).wait(timeout).raise_for_status()

    def submit_template(
        self, name: str, /, *, backend: str | None = None, resubmit_if_lost: bool = False, **params: Any
    ) -> Job:
        """Renders a template with ``params`` (over the defaults: ``COMFY_DEFAULT_<NAME>``
        environment variables, then the template's own), validates and queues it (on the backend
        named ``backend``, else where routing sends it; ``resubmit_if_lost`` as for
        :meth:`submit`)."""
        return Job(self._native.submit_template(name, params, backend=backend, resubmit_if_lost=resubmit_if_lost))

    def run_template(
        self, name: str, /, *, backend: str | None = None, resubmit_if_lost: bool = False, **params: Any
    ) -> Job:
        """:meth:`submit_template`, then waits until the job finishes. Raises
        :class:`~comfy_rs.JobFailed` if it fails or is cancelled."""
        submitted = self.submit_template(name, backend=backend, resubmit_if_lost=resubmit_if_lost, **params)
        return submitted.wait().raise_for_status()

    def generate_image(self, prompt: str, /, **params: Any) -> Job:
        """Text to image with the built-in ``generate_image`` template (``ckpt_name``, ``width``,
        ``height``, ``steps``, ``cfg``, ``seed``... as keywords); waits for the result."""
        return self.run_template("generate_image", prompt=prompt, **params)

    def image_to_image(self, image: ImageLike, prompt: str, /, **params: Any) -> Job:
        """Image to image with the built-in template; ``image`` is uploaded first unless it is
        already a name on the server. Waits for the result."""
        return self.run_template("image_to_image", image=self._image(image), prompt=prompt, **params)

    def inpaint(self, image: ImageLike, prompt: str, /, **params: Any) -> Job:
        """Inpaints the transparent area of ``image`` (its alpha channel is the mask) with the
        built-in template; the image is uploaded first unless already on the server."""
        return self.run_template("inpaint", image=self._image(image), prompt=prompt, **params)

    def upscale(self, image: ImageLike, /, **params: Any) -> Job:
        """Upscales ``image`` (``scale_by``, ``upscale_method``) with the model-free built-in
        template; the image is uploaded first unless already on the server."""
        return self.run_template("upscale", image=self._image(image), **params)

    def _image(self, image: ImageLike) -> str:
        if isinstance(image, str):
            return image
        return self.upload(image, None if isinstance(image, os.PathLike) else "image.png")

    def job(self, job_id: str, *, backend: str | None = None) -> Job:
        """A job by id: one of this client's, one recorded in its store (``data_dir``), or one
        the server knows (submitted elsewhere); with ``backend``, only a job that runs there."""
        return Job(self._native.job(job_id, backend=backend))

    def asset(self, asset_id: str | Asset) -> Asset:
        """A recorded asset by id."""
        asset: Asset = self._native.asset(asset_id)
        return asset

    def assets(self, *, job_id: str | None = None, limit: int = 100) -> list[Asset]:
        """Recorded assets, newest first: at most ``limit``, only ``job_id``'s when given."""
        assets: list[Asset] = self._native.assets(job_id, limit)
        return assets

    def asset_bytes(self, asset_id: str | Asset) -> bytes:
        """An asset's bytes, fetched through the server (its size, SHA-256 and image size are
        recorded on the way)."""
        data: bytes = self._native.asset_bytes(asset_id)
        return data

    def save_asset(self, asset_id: str | Asset, path: str | os.PathLike[str]) -> Asset:
        """Fetches an asset and writes it to ``path`` (atomically: a temporary file renamed into
        place); returns the asset with size and SHA-256 filled in."""
        asset: Asset = self._native.save_asset(asset_id, path)
        return asset

    def upload(self, data: FileLike, filename: str | None = None) -> str:
        """Uploads an input file (bytes, which need a ``filename``, or a path) to the server;
        returns the value to put in a ``LoadImage`` input (valid at once for this client)."""
        name: str = self._native.upload(data, filename)
        return name

    def list_templates(self) -> list[Template]:
        """The templates this client serves (built-ins, or the workflows directory)."""
        return self._native.list_templates()

    def queue(self) -> dict[str, list[str]]:
        """The server's queue: ``{"running": [job ids], "pending": [job ids]}`` in run order."""
        queue: dict[str, list[str]] = self._native.queue()
        return queue

    def object_info(self) -> dict[str, Any]:
        """The server's node catalogue (``GET /object_info``, cached), e.g. for
        :func:`~comfy_rs.ui_to_api`."""
        info: dict[str, Any] = self._native.object_info()
        return info

    def server_info(self) -> dict[str, Any]:
        """The backend: ``kind``, ``server_version``, ``reachable``, ``auth`` (the credential's
        state, never the secret), ``account_status``, ``capabilities``, ..."""
        info: dict[str, Any] = self._native.server_info()
        return info

    def partner_generate(
        self,
        type: MediaTypeName,
        model: str,
        prompt: str | None = None,
        *,
        aspect_ratio: str | None = None,
        seed: int | None = None,
        duration: float | None = None,
        media: Sequence[str] | None = None,
        max_credits: float | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Generate with a partner (paid API) model: builds the partner node's workflow (with
        the save node it lacks, ``media`` through loader nodes) from the server's catalogue,
        prices it from its price badge, and submits it only with spending consent:
        ``max_credits`` covering the price ($1 = 211 credits), or ``allow_partner_spend``.
        ``dry_run=True`` only quotes.

        :param type: ``"image"``, ``"video"``, ``"audio"`` or ``"3d"``.
        :param model: a partner node class, a value of its ``model`` list, its display name or
            an alias (``"flux-ultra"``, ``"nano-banana"``, ...).
        :param media: reference media: input names from :meth:`upload`.
        :returns: ``{"quote": {...}, "job": job or None}``; the quote holds ``class_type``,
            ``price`` (``kind`` ``"known"`` with ``min_usd``/``max_usd``/``min_credits``/
            ``max_credits``, or ``"unknown"`` with ``reason``), ``price_text``, ``consent`` and
            the ``workflow``. Without consent raises ``InvalidInput`` with code
            ``spending_consent_required`` or ``price_above_max_credits`` (nothing is spent).
        """
        r: dict[str, Any] = self._native.partner_generate(
            type, model, prompt, aspect_ratio=aspect_ratio, seed=seed, duration=duration,
            media=None if media is None else list(media), max_credits=max_credits, dry_run=dry_run,
        )
        return {"quote": r["quote"], "job": None if r["job"] is None else Job(r["job"])}

    def cql(self, query: str) -> dict[str, Any]:
        """Typed structural questions about the node classes (CQL): a source, then
        ``|``-separated stages, e.g. ``"produces IMAGE | NOT deprecated | sort connections |
        limit 10"``, ``"upstream KSampler"``, ``"path MODEL -> IMAGE"``. Returns ``{"total",
        "classes"}`` or ``{"total", "paths"}``; a bad query raises ``InvalidInput`` (code
        ``invalid_query``) naming the column and what was expected."""
        result: dict[str, Any] = self._native.cql(query)
        return result

    def submit_batch(
        self,
        workflow: WorkflowLike | None = None,
        *,
        template: str | None = None,
        params: dict[str, Any] | None = None,
        param_sets: list[dict[str, Any]] | None = None,
        overrides: list[dict[str, Any]] | None = None,
        seeds: list[int] | None = None,
        count: int | None = None,
        backend: str | None = None,
        resubmit_if_lost: bool = False,
    ) -> dict[str, Any]:
        """Runs one workflow (or ``template`` with ``params``) many times: exactly one of
        ``param_sets`` (template parameters per item), ``overrides`` (``{"KSampler.steps": 20}``
        per item), ``seeds`` or ``count`` (random seeds). Every item is checked before anything
        is submitted (a bad one raises, naming ``batch item <i>``); items beyond
        ``max_running_jobs`` wait and are submitted as slots free, also after a restart
        (same ``data_dir``). With ``backend``, every item runs on that backend; with
        ``resubmit_if_lost``, an item lost with its backend runs again on another. Returns the
        status dict, with ``batch_id``."""
        status: dict[str, Any] = self._native.submit_batch(
            workflow, template=template, params=params, param_sets=param_sets,
            overrides=overrides, seeds=seeds, count=count, backend=backend, resubmit_if_lost=resubmit_if_lost,
        )
        return status

    def batch_status(self, batch_id: str) -> dict[str, Any]:
        """A batch's ``state`` (``running``, ``succeeded``, ``failed``), ``counts`` per item
        state, ``fraction`` and ``items`` (each with ``job_id`` and ``state``)."""
        status: dict[str, Any] = self._native.batch_status(batch_id)
        return status

    def batch_outputs(self, batch_id: str) -> dict[str, Any]:
        """Every output of every item, in item order: ``{"batch_id", "state", "items": [{"index",
        "job_id", "state", "outputs": [{"asset_id", ...}]}]}``."""
        outputs: dict[str, Any] = self._native.batch_outputs(batch_id)
        return outputs

    def wait_batch(self, batch_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Waits up to ``timeout`` seconds (``None``: until every item finished); returns the
        status then (``state`` is still ``running`` if the time ran out)."""
        status: dict[str, Any] = self._native.wait_batch(batch_id, timeout)
        return status

    def list_deployments(
        self, ids: list[str] | None = None, *, include_payload: bool = False, include_readme: bool = False
    ) -> list[dict[str, Any]]:
        """RunComfy deployments (only ``ids`` when given); ``NotSupported`` on other backends."""
        deployments: list[dict[str, Any]] = self._native.list_deployments(ids, include_payload, include_readme)
        return deployments

    def get_deployment(
        self, deployment_id: str | None = None, *, include_payload: bool = False, include_readme: bool = False
    ) -> dict[str, Any]:
        """One RunComfy deployment (default: the configured one); ``include_payload`` adds its
        workflow (``payload.workflow_api_json``)."""
        deployment: dict[str, Any] = self._native.get_deployment(deployment_id, include_payload, include_readme)
        return deployment

    def create_deployment(self, name: str, workflow_id: str, workflow_version: str, **options: Any) -> dict[str, Any]:
        """Deploys a Cloud-Saved workflow on RunComfy (billed while instances run). ``options``:
        ``hardware`` (default ``"AMPERE_48"``), ``min_instances``, ``max_instances``,
        ``queue_size``, ``keep_warm_duration_in_seconds``."""
        spec = {"name": name, "workflow_id": workflow_id, "workflow_version": workflow_version, **options}
        deployment: dict[str, Any] = self._native.create_deployment(spec)
        return deployment

    def update_deployment(self, deployment_id: str | None = None, **changes: Any) -> dict[str, Any]:
        """Changes a RunComfy deployment (default: the configured one): ``name``,
        ``workflow_version``, ``hardware``, ``min_instances``, ``max_instances``, ``queue_size``,
        ``keep_warm_duration_in_seconds``, ``is_enabled``."""
        deployment: dict[str, Any] = self._native.update_deployment(changes, deployment_id)
        return deployment

    def delete_deployment(self, deployment_id: str) -> Any:
        """Deletes a RunComfy deployment permanently; RunComfy's answer."""
        return self._native.delete_deployment(deployment_id)

    def submit_request(
        self,
        overrides: dict[str, Any] | None = None,
        *,
        deployment_id: str | None = None,
        workflow_api_json: dict[str, Any] | None = None,
        extra_data: dict[str, Any] | None = None,
        webhook_url: str | None = None,
        webhook_intermediate_status: bool | None = None,
    ) -> Job:
        """Runs a RunComfy deployment (billed) as a job: ``overrides`` of its saved workflow
        (``{"<node title or id>.<input>": value}`` or node-keyed ``{"6": {"inputs": {...}}}``),
        checked before anything is sent, or a whole ``workflow_api_json``; ``deployment_id``
        defaults to the configured one. The job is recorded like any other (its outputs are
        assets; it is reattached after a restart). ``NotSupported`` on other backends."""
        spec = {"overrides": overrides, "deployment_id": deployment_id, "workflow_api_json": workflow_api_json,
                "extra_data": extra_data, "webhook_url": webhook_url,
                "webhook_intermediate_status": webhook_intermediate_status}
        return Job(self._native.submit_request({k: v for k, v in spec.items() if v is not None}))

    def billing_status(self) -> dict[str, Any]:
        """Balance (``balance_usd``, ``balance_credits``) and ``subscription`` where the backend
        has billing (Comfy Cloud); otherwise raises ``NotSupportedError``."""
        status: dict[str, Any] = self._native.billing_status()
        return status

    def take_over_orphans(self) -> list[str]:
        """On a PostgreSQL store shared by several servers: takes over the unfinished jobs and
        batches of servers that stopped (``["job:<id>", "batch:<id>", ...]``). The client does
        this by itself every few seconds; ``[]`` on other stores."""
        taken: list[str] = self._native.take_over_orphans()
        return taken

    def retire(self) -> None:
        """On a shared store: hands this client's unfinished jobs and batches to the other
        servers at once (call before a planned shutdown). Does nothing on other stores."""
        self._native.retire()

    def submit_feedback(
        self, message: str, *, consent: bool = False, rating: int | None = None, category: str | None = None
    ) -> dict[str, Any]:
        """Records the user's feedback; raises ``InvalidInput`` without ``consent=True`` or
        when ``message`` holds a path, URL or e-mail address. Stored locally (the data
        directory's ``feedback.jsonl``, else memory) and posted to the feedback URL if set; the
        receipt says ``stored``, ``posted`` and why not."""
        receipt: dict[str, Any] = self._native.submit_feedback(
            message, consent=consent, rating=rating, category=category
        )
        return receipt

    def session_summary(self) -> dict[str, Any]:
        """This client's activity: jobs submitted/succeeded/failed/cancelled, error codes with
        counts, uptime. No prompts, paths, ids or text."""
        summary: dict[str, Any] = self._native.session_summary()
        return summary

    def report_session_summary(self, *, consent: bool = False) -> dict[str, Any]:
        """Records :meth:`session_summary` like :meth:`submit_feedback` (needs ``consent=True``)."""
        receipt: dict[str, Any] = self._native.report_session_summary(consent=consent)
        return receipt

    def __repr__(self) -> str:
        return f"Client(url={self.url!r})"
