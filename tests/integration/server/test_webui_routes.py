"""The web UI's routes: served at /client/ with security headers, never shadowing the API."""

from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from kvmcloud.server.webui.routes import webui_routes


def _app(static: Path) -> Starlette:
    async def api(_request: object) -> PlainTextResponse:
        return PlainTextResponse("api")

    return Starlette(routes=[Route("/client/api", api), *webui_routes(static)])


def _built(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>kvmcloud</title>")
    (tmp_path / "assets" / "index-abc.js").write_text("console.log(1)")
    return tmp_path


def test_index_is_served_with_a_strict_policy_and_revalidated(tmp_path: Path) -> None:
    client = TestClient(_app(_built(tmp_path)))
    page = client.get("/client/")
    assert page.status_code == 200
    assert "<title>kvmcloud</title>" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-cache"


def test_hashed_assets_are_cached_for_good(tmp_path: Path) -> None:
    client = TestClient(_app(_built(tmp_path)))
    asset = client.get("/client/assets/index-abc.js")
    assert asset.status_code == 200
    assert "immutable" in asset.headers["cache-control"]
    assert client.get("/client/assets/missing.js").status_code == 404


def test_the_api_route_is_not_shadowed(tmp_path: Path) -> None:
    client = TestClient(_app(_built(tmp_path)))
    assert client.get("/client/api").text == "api"


def test_root_and_bare_client_redirect_to_the_ui(tmp_path: Path) -> None:
    client = TestClient(_app(_built(tmp_path)), follow_redirects=False)
    for path in ("/", "/client"):
        answer = client.get(path)
        assert answer.status_code == 302
        assert answer.headers["location"] == "/client/"


def test_an_unbuilt_ui_says_how_to_build_it(tmp_path: Path) -> None:
    client = TestClient(_app(tmp_path))
    answer = client.get("/client/")
    assert answer.status_code == 503
    assert "make ui" in answer.text
    assert client.get("/client/api").text == "api"
