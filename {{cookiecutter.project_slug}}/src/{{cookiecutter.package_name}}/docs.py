"""Swagger UI (/docs) and ReDoc (/redoc) served by this process, never from a CDN.

FastAPI's built-in pages load their JavaScript and CSS from a public CDN. That breaks on
networks that cannot reach it, cannot pass a Content-Security-Policy that allows only this
origin, and runs third-party code in a page that holds the user's tokens. The fastapi-offline
package ships the same Swagger UI and ReDoc bundles as package data; they are mounted here and
Swagger UI's pages are built with FastAPI's own HTML helpers, so they behave exactly like the
defaults; ReDoc's page is written here (see `redoc_page`).

Each page carries a Content-Security-Policy that lets it load assets from this origin only and
run only its own inline script (security_headers.page_policy), so they work in a browser
under a policy that allows nothing else.
"""

import html
import json
import os
import secrets

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

from .security_headers import page_policy

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS_URL = "/docs-assets"
# (package, directory inside it) holding swagger-ui-bundle.js, swagger-ui.css,
# redoc.standalone.js and favicon.png.
ASSETS_PACKAGE = ("fastapi_offline", "static")
# ReDoc leaves the page's own margins alone.
PAGE_STYLE = "<style>body { margin: 0; padding: 0; }</style>"


class DocsAssets(StaticFiles):
    """The bundled assets, which hold nothing personal: a browser may keep them, but asks
    every time whether they changed (ETag), so an upgrade never leaves it a stale bundle."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        return response


def with_page_policy(page: HTMLResponse) -> HTMLResponse:
    """`page` with the Content-Security-Policy that allows exactly its own inline code."""
    page.headers["Content-Security-Policy"] = page_policy(bytes(page.body))
    return page


def _script_literal(value: object) -> str:
    """`value` as a JavaScript literal that cannot end the <script> element it is written in."""
    return json.dumps(value).replace("<", "\\u003c")


def redoc_page(*, title: str, openapi_url: str, js_url: str, favicon_url: str) -> HTMLResponse:
    """ReDoc, started by an inline script that hands it a fresh style nonce.

    ReDoc's styles are <style> elements it creates as it renders, which no hash can name in
    advance: they carry the nonce instead. FastAPI's page starts ReDoc from a `<redoc
    nonce=...>` attribute, but browsers hide a nonce attribute's value from scripts (CSP
    "nonce hiding"), so ReDoc would read an empty one; given to `Redoc.init`, it arrives.
    """
    nonce = secrets.token_urlsafe(16)
    # Native scrollbars: ReDoc's custom ones need CSS it injects before it knows the nonce.
    options = _script_literal({"nonce": nonce, "nativeScrollbars": True})
    spec_url = _script_literal(openapi_url)
    start = f"Redoc.init({spec_url}, {options}, document.getElementById('redoc'))"
    page = f"""<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="shortcut icon" href="{html.escape(favicon_url)}">
{PAGE_STYLE}
</head>
<body>
<noscript>ReDoc requires JavaScript to show the API documentation.</noscript>
<div id="redoc"></div>
<script src="{html.escape(js_url)}"></script>
<script>{start}</script>
</body>
</html>
""".encode()
    policy = page_policy(page, style_nonce=nonce)
    return HTMLResponse(page, headers={"Content-Security-Policy": policy})


def install_docs(app: FastAPI) -> None:
    """Add /docs, its OAuth2 redirect page and /redoc to an app built with docs_url=None and
    redoc_url=None (otherwise FastAPI has already added its CDN pages at those paths)."""
    if app.docs_url is not None or app.redoc_url is not None:
        raise ValueError("create the app with docs_url=None and redoc_url=None")
    openapi_url = app.openapi_url or "/openapi.json"
    # Swagger UI's Authorize dialog needs this page for the OAuth2 flows.
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url or f"{DOCS_URL}/oauth2-redirect"
    app.mount(ASSETS_URL, DocsAssets(packages=[ASSETS_PACKAGE]), name="docs-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        # root_path keeps every URL right behind a proxy that serves the app under a prefix.
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{oauth2_redirect_url}",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )
        return with_page_policy(page)

    @app.get(oauth2_redirect_url, include_in_schema=False)
    async def swagger_ui_oauth2_redirect() -> HTMLResponse:
        return with_page_policy(get_swagger_ui_oauth2_redirect_html())

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        # No Google Fonts (a third-party request too): ReDoc falls back to system fonts.
        return redoc_page(
            title=f"{app.title} - ReDoc",
            openapi_url=f"{root}{openapi_url}",
            js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        )
