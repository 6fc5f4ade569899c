"""GET /.well-known/jwks.json: the public keys that other services verify our tokens with."""

from fastapi import APIRouter, FastAPI, Response

from .dependencies import KeysDep
from .services import Services

router = APIRouter(tags=["keys"])


def install_jwks(app: FastAPI, _: Services) -> None:
    app.include_router(router)


# Short, so that verifiers pick up a rotated key soon after the service restarts with it.
JWKS_MAX_AGE_SECONDS = 300


@router.get("/.well-known/jwks.json")
async def jwks(keys: KeysDep, response: Response) -> dict[str, list[dict[str, str]]]:
    """The current and retired public keys as a JWK Set (RFC 7517); public by design.

    Under HS256 the set is empty (valid per RFC 7517 section 5): an HMAC key is a shared
    secret and must never be published. Verifiers should match a token's `kid` and fetch
    this document again when they meet a kid they do not know.
    """
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE_SECONDS}"
    return keys.jwks()
