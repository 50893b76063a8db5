"""The /client/api route: merge query and form parameters, hand them to the dispatcher."""

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kvmcloud.server.api.dispatch import Dispatcher, Reply
from kvmcloud.server.api.responses import JSON_CONTENT_TYPE


def api_routes(dispatcher: Dispatcher) -> list[Route]:
    """Return the route serving CloudStack's API at /client/api (GET and POST)."""

    async def client_api(request: Request) -> Response:
        params: dict[str, str] = dict(request.query_params)
        if request.method == "POST":
            form = await request.form()
            # Parameters may arrive in the query, the body or both; all of them are signed.
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        reply = await run_in_threadpool(dispatcher.handle, params)
        return json_response(reply)

    return [Route("/client/api", client_api, methods=["GET", "POST"])]


def json_response(reply: Reply) -> Response:
    """Serialise compactly on one line; raw UTF-8 as CloudStack does after un-escaping."""
    headers: dict[str, Any] = {}
    if reply.description is not None:
        # CloudMonkey prints this header; keep it to one latin-1 safe line.
        headers["X-Description"] = (
            reply.description.replace("\n", " ").encode("latin-1", "replace").decode("latin-1")
        )
    body = json.dumps(reply.body, ensure_ascii=False, separators=(",", ":"))
    headers["Content-Type"] = JSON_CONTENT_TYPE
    return Response(body.encode(), status_code=reply.status, headers=headers)
