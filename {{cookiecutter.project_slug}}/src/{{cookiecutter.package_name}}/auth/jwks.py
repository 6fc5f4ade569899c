"""GET /.well-known/jwks.json: the public keys that other services verify our tokens with."""

from fastapi import APIRouter, FastAPI, Response

from .dependencies import KeysDep, SettingsDep
from .services import Services

router = APIRouter(tags=["keys"])


def install_jwks(app: FastAPI, _: Services) -> None:
    app.include_router(router)


@router.get("/.well-known/jwks.json")
async def jwks(
    keys: KeysDep, settings: SettingsDep, response: Response
) -> dict[str, list[dict[str, str]]]:
    """The current, the staged next and the retired public keys as a JWK Set (RFC 7517);
    public by design.

    Under HS256 the set is empty (valid per RFC 7517 section 5): an HMAC key is a shared
    secret and must never be published. Verifiers may cache it for JWKS_MAX_AGE_SECONDS:
    `keys rotate` publishes a key at least that long before it signs, so a cached copy always
    holds the key of every token issued.
    """
    response.headers["Cache-Control"] = f"public, max-age={settings.jwks_max_age_seconds}"
    return keys.jwks()
