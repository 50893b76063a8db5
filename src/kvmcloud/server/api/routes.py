"""The /client/api route: read query and form parameters within bounds, hand them to dispatch."""

import json
import logging
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from kvmcloud.listeners import BodyTooLargeError, read_capped_body
from kvmcloud.server.api.dispatch import Dispatcher, Reply
from kvmcloud.server.api.params import MAX_PARAMS
from kvmcloud.server.api.responses import JSON_CONTENT_TYPE, header_value
from kvmcloud.server.api.session_auth import Origin
from kvmcloud.server.errors import ApiError, RequestTooLargeError

logger = logging.getLogger(__name__)

# The largest legitimate body is a deployVirtualMachine with 1 MiB of base64 userdata (its
# declared length, as in CloudStack), form-encoded; a certificate upload is far smaller.
MAX_BODY_BYTES = 2 * 1024 * 1024
_FORM_TYPE = "application/x-www-form-urlencoded"


def api_routes(dispatcher: Dispatcher) -> list[Route]:
    """Return the route serving CloudStack's API at /client/api (GET and POST)."""

    async def client_api(request: Request) -> Response:
        command = request.query_params.get("command")
        try:
            params = await request_params(request)
            reply = await run_in_threadpool(dispatcher.handle, params, request_origin(request))
        except ApiError as exc:
            reply = dispatcher.refuse(command, exc)
        except ClientDisconnect:
            raise
        except Exception:
            # Never Starlette's plain 500 page: the same envelope as any other fault.
            logger.exception("/client/api failed before or after its command ran")
            reply = dispatcher.refuse(command, None)
        return json_response(reply)

    return [Route("/client/api", client_api, methods=["GET", "POST"])]


def request_origin(request: Request) -> Origin:
    """The method, cookies and peer address of a request (the ASGI client, never a header)."""
    client = request.scope.get("client")
    return Origin(
        method=request.method,
        cookies=request.cookies,
        address=client[0] if client else None,
        secure=request.url.scheme == "https",
    )


async def request_params(request: Request) -> dict[str, str]:
    """Merge query and form parameters, reading at most MAX_BODY_BYTES of the body.

    Parameters may arrive in the query, the body or both; all of them are signed.
    """
    params: dict[str, str] = dict(request.query_params)
    if request.method != "POST":
        return params
    body = await read_body(request, MAX_BODY_BYTES)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body and content_type == _FORM_TYPE:
        try:
            form = parse_qsl(
                body.decode("utf-8", "replace"),
                keep_blank_values=True,
                errors="replace",
                max_num_fields=MAX_PARAMS,
            )
        except ValueError:
            raise RequestTooLargeError(
                f"The request has more than {MAX_PARAMS} parameters"
            ) from None
        params.update(form)
    return params


async def read_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing it as soon as it is known to be longer than ``limit`` bytes."""
    try:
        return await read_capped_body(request, limit)
    except BodyTooLargeError:
        raise _too_large(limit) from None


def _too_large(limit: int) -> RequestTooLargeError:
    return RequestTooLargeError(f"The request body is larger than {limit} bytes")


def json_response(reply: Reply) -> Response:
    """Serialise compactly on one line; raw UTF-8 as CloudStack does after un-escaping."""
    headers: dict[str, Any] = {}
    if reply.description is not None:
        # CloudMonkey prints this header; h11 drops the connection on a bad header value.
        headers["X-Description"] = header_value(reply.description)
    body = json.dumps(reply.body, ensure_ascii=False, separators=(",", ":"))
    headers["Content-Type"] = JSON_CONTENT_TYPE
    response = Response(body.encode(), status_code=reply.status, headers=headers)
    for cookie in reply.cookies:
        response.headers.append("Set-Cookie", cookie)
    return response
