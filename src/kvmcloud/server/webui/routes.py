"""Routes serving the built web UI at /client/ with strict security headers, and / -> /client/."""

from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

# Where `make ui` (vite build) writes the UI; inside the package, so a wheel carries it.
STATIC_DIR = Path(__file__).parent / "static"
UI_PATH = "/client"
# The UI loads nothing from elsewhere and talks only to /client/api on its own origin.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Built assets carry a content hash in their names; index.html must be revalidated.
_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"
NOT_BUILT = (
    "kvmcloud's web UI is not built into this installation: run `make ui` in the source "
    "tree (it needs Node.js and npm). The API at /client/api works without it.\n"
)


class _UiFiles(StaticFiles):
    """StaticFiles adding the security and cache headers to every answer."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        immutable = path.startswith("assets/") and response.status_code == 200
        response.headers["Cache-Control"] = _IMMUTABLE if immutable else _REVALIDATE
        return response


def webui_routes(static_dir: Path = STATIC_DIR) -> list[BaseRoute]:
    """The UI routes; they go after /client/api and /client/extract so as not to shadow them."""

    async def to_ui(_request: Request) -> Response:
        return RedirectResponse(f"{UI_PATH}/", status_code=302)

    async def not_built(_request: Request) -> Response:
        return PlainTextResponse(NOT_BUILT, status_code=503, headers=SECURITY_HEADERS)

    ui: BaseRoute
    if (static_dir / "index.html").is_file():
        ui = Mount(UI_PATH, app=_UiFiles(directory=static_dir, html=True), name="ui")
    else:
        ui = Route(UI_PATH + "/{path:path}", not_built)
    return [Route("/", to_ui), Route(UI_PATH, to_ui), ui]
