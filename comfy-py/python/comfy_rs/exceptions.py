"""The exceptions of comfy_rs.

Every error of the Rust core is raised as a :class:`ComfyError` subclass (one per family) with
``.code`` (the core's stable machine-readable code, e.g. ``"validation_failed"``), ``.retryable``
(whether repeating the same call may succeed) and ``.details`` (the error's structured fields).
The mapping from codes to classes lives in one place: ``comfy-py/src/error.rs``.

==========================  ===================================================================
class                       codes
==========================  ===================================================================
``ValidationError``         ``validation_failed`` (``.problems``), ``prompt_rejected``
``InvalidInput``            ``invalid_json``, ``invalid_workflow``, ``ui_format_workflow``,
                            ``invalid_ui_workflow``, ``unknown_node_classes``,
                            ``invalid_override``, ``invalid_catalog``, ``workflow_cycle``,
                            ``invalid_template``, ``invalid_parameter``,
                            ``unresolved_placeholder``, ``invalid_argument``, ``invalid_query``, ``invalid_image``,
                            ``path_not_allowed``, ``too_large``, ``unknown_class``,
                            ``already_exists``, ``unknown_partner_model``,
                            ``spending_consent_required``, ``price_above_max_credits``,
                            ``unknown_backend``
``NotFound``                ``job_not_found``, ``asset_not_found``, ``template_not_found``,
                            ``saved_workflow_not_found``, ``node_not_found``, ``batch_not_found``
``BackendUnreachable``      ``backend_unreachable`` (retryable)
``BackendError``            ``backend_http_error`` (429/5xx retryable), ``unexpected_response``,
                            ``no_backend_available`` (retryable when backends are down)
``Timeout``                 ``timeout`` (retryable)
``NotSupported``            ``not_supported``
``TooManyJobs``             ``too_many_jobs`` (retryable)
``StoreError``              ``store_error``, ``store_schema_too_new``
``JobFailed``               ``job_failed``, ``job_cancelled`` (raised by the ``run*`` methods)
``ComfyError``              anything else (``io_error``, ...)
==========================  ===================================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from ._client import AsyncJob, Job
    from ._native import JobError, Problem

__all__ = [
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
]


class ComfyError(Exception):
    """Base class of every comfy_rs error."""

    message: str
    """What went wrong (also ``str(error)``)."""
    code: str
    """The core's stable error code (``validation_failed``, ``backend_unreachable``, ...)."""
    retryable: bool
    """Whether repeating the same call may succeed (transient faults only)."""
    details: dict[str, Any]
    """The error's structured fields (node ids, suggestions, HTTP status, ...)."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "error",
        retryable: bool = False,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable
        self.details = dict(details or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class InvalidInput(ComfyError, ValueError):
    """A workflow, template parameter or argument that cannot be used as given."""


class ValidationError(InvalidInput):
    """The workflow failed validation against the server's node catalogue (every problem at
    once in ``.problems``), or the server rejected it (``prompt_rejected``, its per-node errors
    in ``.details["node_errors"]``)."""

    problems: list[Problem]
    """Every problem found (errors first), each with node id, input, code and suggestions."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "validation_failed",
        retryable: bool = False,
        details: dict[str, Any] | None = None,
        problems: list[Problem] | None = None,
    ) -> None:
        super().__init__(message, code=code, retryable=retryable, details=details)
        self.problems = list(problems or [])


class NotFound(ComfyError, LookupError):
    """No such job, asset, template, saved workflow or node."""


class BackendError(ComfyError):
    """The ComfyUI server answered with an error or something unexpected."""


class BackendUnreachable(BackendError):
    """The ComfyUI server cannot be reached (connection refused, DNS, reset). Retryable."""


class Timeout(ComfyError):
    """An operation took longer than its limit. Retryable."""


class NotSupported(ComfyError):
    """The backend does not support this operation."""


class TooManyJobs(ComfyError):
    """The client already runs ``max_running_jobs`` jobs. Retryable once one has finished."""


class StoreError(ComfyError):
    """The job/asset store (SQLite in ``data_dir``, or the ``store`` database) failed."""


class JobFailed(ComfyError):
    """A job that ``run``/``run_template``/``generate_image``... waited for failed (code
    ``job_failed``, details in ``.error``) or was cancelled (code ``job_cancelled``)."""

    job: Union[Job, AsyncJob]
    """The finished job (its outputs, if any, are still available)."""
    error: JobError | None
    """Why it failed: node id and class, exception type, message (``None`` if cancelled)."""

    def __init__(self, message: str, *, job: Union[Job, AsyncJob], error: JobError | None, code: str = "job_failed") -> None:
        super().__init__(
            message,
            code=code,
            details={"job_id": job.id, "status": job.status},
        )
        self.job = job
        self.error = error
