"""/docs and /redoc work without a network: every asset they load is served by the app itself."""

from __future__ import annotations

import re

import httpx
import pytest

_ASSET_URL = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']""")
_CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
    ".json": ("application/json",),
}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_only_local_assets(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "://" not in response.text, "the page names an outside host"
    assets = _ASSET_URL.findall(response.text)
    # The script, the favicon, and for Swagger its stylesheet (ReDoc takes the spec as spec-url).
    assert len(assets) >= 2
    for url in assets:
        assert url.startswith("/"), url
        asset = await client.get(url)
        assert asset.status_code == 200, url
        suffix = url[url.rindex(".") :]
        assert asset.headers["content-type"].startswith(_CONTENT_TYPES[suffix]), url
        assert len(asset.content) > 0
