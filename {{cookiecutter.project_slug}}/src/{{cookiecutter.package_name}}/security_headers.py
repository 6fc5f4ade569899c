"""Security headers on every answer (OWASP REST Security and HTTP Headers cheat sheets).

A pure ASGI middleware: it adds headers to the response's start message as it passes, where
Starlette's `BaseHTTPMiddleware` would add a task and a streamed copy of every response.

Each header here is a default: a response that sets its own keeps it. That is how the docs
pages send a policy that lets their scripts run (`page_policy`), the JWKS document its public
`Cache-Control`, and the docs assets theirs (docs.py). Every other answer is an API answer:

- `Content-Security-Policy: default-src 'none'; frame-ancestors 'none'`: a JSON answer that a
  browser is tricked into rendering loads nothing and runs nothing, and no page may frame it;
  `X-Frame-Options: DENY` says the same to browsers without CSP level 2.
- `X-Content-Type-Options: nosniff`: the declared type is the only one a browser will use.
- `Referrer-Policy: no-referrer`: a URL of this service is never sent on to another site.
- `Cache-Control: no-store`: tokens and users' data stay out of browser and proxy caches
  (RFC 9111 section 5.2.2.5). `/health` gets it too: a probe must reach the process.
- `Strict-Transport-Security` only with HTTPS_ONLY: a browser that saw it refuses plain HTTP
  to this host for two years, which would lock out a service that is not behind HTTPS.
"""

import base64
import hashlib
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_POLICY = "default-src 'none'; frame-ancestors 'none'"
# HSTS for two years on every subdomain: the OWASP HTTP Headers cheat sheet's recommendation.
HSTS = "max-age=63072000; includeSubDomains"

# Inline <script> and <style> elements, without attributes: what FastAPI's docs pages hold.
_INLINE = {
    "script-src": re.compile(rb"<script>(.*?)</script>", re.DOTALL),
    "style-src": re.compile(rb"<style>(.*?)</style>", re.DOTALL),
}


def _hashes(html: bytes, element: re.Pattern[bytes]) -> list[str]:
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
        for body in element.findall(html)
    ]


def page_policy(html: bytes, *, style_nonce: str | None = None) -> str:
    """The Content-Security-Policy of a docs page: its assets from this origin only, and of
    inline code only the exact scripts and styles in `html` (CSP level 2 hash sources), so an
    injected script cannot run even where the page echoes something. `style_nonce` also
    allows the <style> elements a page's script creates with that nonce (ReDoc's)."""
    nonce = [] if style_nonce is None else [f"'nonce-{style_nonce}'"]
    directives = {
        "default-src": ["'none'"],
        "script-src": ["'self'", *_hashes(html, _INLINE["script-src"])],
        "style-src": ["'self'", *_hashes(html, _INLINE["style-src"]), *nonce],
        # Swagger UI's and ReDoc's icons are data: URIs in their own stylesheets.
        "img-src": ["'self'", "data:"],
        # The OpenAPI document, and the API calls of *Try it out* and *Authorize*.
        "connect-src": ["'self'"],
        # ReDoc's search runs in a worker it builds from a blob: URL; only script already
        # running in the page can make one.
        "worker-src": ["blob:"],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP answer that does not set them itself."""

    def __init__(self, app: ASGIApp, *, https_only: bool) -> None:
        self.app = app
        headers = {
            b"content-security-policy": API_POLICY,
            b"x-frame-options": "DENY",
            b"x-content-type-options": "nosniff",
            b"referrer-policy": "no-referrer",
            b"cache-control": "no-store",
        }
        if https_only:
            headers[b"strict-transport-security"] = HSTS
        self._headers = [(name, value.encode("latin-1")) for name, value in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(item for item in self._headers if item[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
