"""The /client/extract/<token> route: relay a verified template copy for a signed URL."""

import logging
from collections.abc import Callable, Iterator
from typing import Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from kvmcloud.server.agent_client import FileStream
from kvmcloud.server.errors import DownloadRefusedError

logger = logging.getLogger(__name__)


class OpenedDownload(Protocol):
    """What the opener hands back: the agent's stream, the offered file name, close()."""

    @property
    def stream(self) -> FileStream: ...  # noqa: D102

    @property
    def file_name(self) -> str: ...  # noqa: D102

    @property
    def close(self) -> Callable[[], None]: ...  # noqa: D102


# (token, Range header) → an open download; raises DownloadRefusedError.
OpenDownload = Callable[[str, str | None], OpenedDownload]


def extract_routes(open_download: OpenDownload) -> list[Route]:
    """Return the route serving signed extract URLs (GET, and HEAD) on the API listener.

    The token is checked before anything else is done: a bad or expired one is answered
    403 without a database query or a call to any agent.
    """

    async def extract(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            opened = await run_in_threadpool(open_download, token, request.headers.get("range"))
        except DownloadRefusedError as exc:
            return PlainTextResponse(exc.message + "\n", status_code=exc.status)
        stream = opened.stream
        headers = dict(stream.headers)
        if stream.status_code != 416:
            headers["Content-Disposition"] = f'attachment; filename="{opened.file_name}"'
        if request.method == "HEAD":
            # The headers only: drop the agent's transfer rather than relay it for nothing.
            await run_in_threadpool(opened.close)
            return Response(status_code=stream.status_code, headers=headers)
        return StreamingResponse(
            _relayed(stream.chunks, opened.close),
            status_code=stream.status_code,
            headers=headers,
            media_type="application/octet-stream",
        )

    return [Route("/client/extract/{token}", extract, methods=["GET"])]


def _relayed(chunks: Iterator[bytes], close: Callable[[], None]) -> Iterator[bytes]:
    """Yield the agent's chunks (Starlette iterates this in a thread), then close its stream."""
    try:
        yield from chunks
    except Exception:
        # Headers are gone already: all that is left is to cut the body short.
        logger.exception("an extract transfer broke off")
        raise
    finally:
        close()
