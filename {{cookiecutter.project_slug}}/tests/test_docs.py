"""/docs and /redoc work without the internet: every asset comes from this app."""

import re

import httpx
import pytest

# src="..." and href="..." in the pages, plus the url: "..." Swagger UI loads the schema from.
ASSET_URL = re.compile(r"""(?:src|href)="([^"]+)"|url: '([^']+)'""")


def referenced_urls(html: str) -> list[str]:
    return [src or url for src, url in ASSET_URL.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_doc_pages_load_nothing_from_other_hosts(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    urls = referenced_urls(response.text)
    assert urls, "the page references no assets at all"
    for url in urls:
        # A CDN or font URL here means the page breaks on an offline or locked-down network.
        assert url.startswith("/"), f"{page} loads {url} from another host"
        assert not url.startswith("//"), f"{page} loads {url} from another host"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_every_asset_a_doc_page_references_is_served(
    client: httpx.AsyncClient, page: str
) -> None:
    html = (await client.get(page)).text
    for url in referenced_urls(html):
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url


async def test_swagger_ui_bundle_is_javascript(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs-assets/swagger-ui-bundle.js")
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert "SwaggerUIBundle" in response.text


async def test_swagger_ui_oauth2_redirect_page_is_served(client: httpx.AsyncClient) -> None:
    html = (await client.get("/docs")).text
    assert "oauth2RedirectUrl: window.location.origin + '/docs/oauth2-redirect'" in html
    response = await client.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert "swaggerUIRedirectOauth2" in response.text


async def test_doc_pages_stay_out_of_the_schema(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not {"/docs", "/redoc", "/docs/oauth2-redirect"} & set(paths)
