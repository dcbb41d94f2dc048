"""The embedded MCP server: serve a client's ComfyUI, store and templates to MCP clients
(Claude Desktop, Claude Code, Cursor, the ``mcp`` Python SDK...) from inside this process."""

from __future__ import annotations

from types import TracebackType
from typing import Literal, Union

from . import _native
from ._client import AsyncClient, Client

__all__ = ["McpServer", "ToolProfile", "serve_mcp", "serve_mcp_stdio"]

ToolProfile = Literal["full", "minimal"]
"""Which tools the server lists: ``"full"`` (every tool) or ``"minimal"`` (a handful of general
tools), as ``comfy-mcp --tool-profile``."""


class McpServer:
    """A running embedded MCP server (streamable HTTP). Stop it with :meth:`close`, or use it
    as ``async with``."""

    __slots__ = ("_native",)

    def __init__(self, native: _native.McpServer) -> None:
        self._native = native

    @property
    def url(self) -> str:
        """The MCP endpoint, e.g. ``http://127.0.0.1:41234/mcp``."""
        return self._native.url

    async def close(self) -> None:
        """Stops accepting connections and waits until the server has stopped."""
        await self._native.close()

    async def __aenter__(self) -> McpServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"McpServer(url={self.url!r})"


async def serve_mcp(
    client: Union[AsyncClient, Client],
    transport: str = "http",
    listen: str = "127.0.0.1:0",
    token: str | None = None,
    tool_profile: ToolProfile = "full",
) -> McpServer:
    """Starts an MCP server over streamable HTTP that serves ``client``'s ComfyUI, job/asset
    store and templates. ``listen="127.0.0.1:0"`` picks a free port (see
    :attr:`McpServer.url`). With ``token``, MCP clients must send
    ``Authorization: Bearer <token>``; a non-loopback address requires one.
    ``tool_profile="minimal"`` lists only a handful of general tools (as
    ``comfy-mcp --tool-profile minimal``); another name raises
    :class:`~comfy_rs.InvalidInput`. For stdio, use :func:`serve_mcp_stdio`."""
    if transport != "http":
        raise ValueError(f"transport must be 'http' (for stdio call comfy_rs.serve_mcp_stdio), not {transport!r}")
    return McpServer(await _native.serve_mcp_http(client._native, listen, token, tool_profile))


def serve_mcp_stdio(client: Union[AsyncClient, Client], tool_profile: ToolProfile = "full") -> None:
    """Serves MCP over this process's standard input and output until the MCP client closes
    them (blocking, the GIL released), with the tools of ``tool_profile``. Nothing else may
    write to stdout meanwhile: print diagnostics to stderr. From asyncio code:
    ``await asyncio.to_thread(serve_mcp_stdio, c)``."""
    _native.serve_mcp_stdio(client._native, tool_profile)
