"""GET /.well-known/oauth-authorization-server: what a standard client or resource server
needs to find this service's endpoints and keys (RFC 8414).

The URLs are absolute. With JWT_ISSUER set to the public base URL they come from it, and the
document's `issuer` is then the `iss` of every token; otherwise they come from the request,
which may have reached a proxy under another name, so such an answer is never cached.
"""

from fastapi import APIRouter, FastAPI, Request, Response

from .dependencies import KeysDep, SettingsDep
from .schemas import AuthorizationServerMetadata
from .services import Services

router = APIRouter(tags=["keys"])


def install_discovery(app: FastAPI, _: Services) -> None:
    app.include_router(router)


@router.get(
    "/.well-known/oauth-authorization-server",
    response_model=AuthorizationServerMetadata,
    response_model_exclude_none=True,
)
async def authorization_server_metadata(
    request: Request, response: Response, settings: SettingsDep, keys: KeysDep
) -> AuthorizationServerMetadata:
    """This server's metadata (RFC 8414 section 2); public by design.

    `response_types_supported` is required and empty: response types belong to the
    authorization endpoint, which a password-grant server does not have (RFC 7591 section 2.1
    pairs the password and refresh_token grants with no response type). `jwks_uri` is listed
    when tokens are signed with a key pair; each key there names its own `alg`, so no
    algorithm member is needed (the ones RFC 8414 defines are about client authentication).
    """
    configured = settings.issuer_url
    issuer = configured or str(request.base_url).rstrip("/")
    base = issuer.rstrip("/")
    # As long as the JWK Set's (JWKS_MAX_AGE_SECONDS): this document changes only with the
    # settings, and its `jwks_uri` stays the same through key rotations.
    max_age = settings.jwks_max_age_seconds
    cache = f"public, max-age={max_age}" if configured else "no-store"
    response.headers["Cache-Control"] = cache
    return AuthorizationServerMetadata(
        issuer=issuer,
        token_endpoint=base + request.app.url_path_for("login"),
        revocation_endpoint=base + request.app.url_path_for("revoke"),
        jwks_uri=base + request.app.url_path_for("jwks") if keys.current.public_jwk else None,
        grant_types_supported=["password", "refresh_token"],
        response_types_supported=[],
        token_endpoint_auth_methods_supported=["none"],
        revocation_endpoint_auth_methods_supported=["none"],
    )
