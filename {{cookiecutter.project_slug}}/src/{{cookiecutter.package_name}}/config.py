"""Application settings, read from the environment and `.env`.

Everything that differs between a laptop and production lives here, and nothing else reads
`os.environ`. Settings are validated once at start: a missing or weak signing key stops the
app before it serves a single request, with a message that names the setting to fix.
"""

from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .db import DEFAULT_URL as DEFAULT_DATABASE_URL
from .db import URL_SCHEMES as DATABASE_SCHEMES
from .key_strength import weakness as key_weakness

JwtAlgorithm = Literal["HS256", "EdDSA", "ES256", "RS256"]

MIN_SECRET_KEY_BYTES = 32
# A refresh token left unused this long dies (unless REFRESH_IDLE_HOURS says otherwise, and
# never later than the session's absolute end): a stolen laptop's week-old session is over.
DEFAULT_REFRESH_IDLE_HOURS = 7 * 24

# Keys copied from tutorials, docs and templates. Anyone can forge tokens signed with them,
# however long they are (the FastAPI docs' example key is 64 hex characters).
WELL_KNOWN_SECRET_KEYS = frozenset(
    {
        "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7",
        "your-256-bit-secret",
        "your-secret-key",
        "your_secret_key",
        "yoursecretkey",
        "secret",
        "secretkey",
        "secret-key",
        "secret_key",
        "supersecret",
        "super-secret-key",
        "super_secret_key",
        "change-me",
        "changeme",
        "change_me",
        "changethis",
        "change-this",
        "please-change-me",
        "insecure",
        "development",
    }
)


class SettingsError(RuntimeError):
    """Raised when a setting is missing or invalid; the message names the setting."""


class Settings(BaseSettings):
    """All configuration of the service. Field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    secret_key: SecretStr | None = None
    jwt_algorithm: JwtAlgorithm = "{{ cookiecutter.jwt_algorithm }}"
    private_key_path: Path | None = None
    # Optional: the public key is derived from the private one; when given, it must match.
    public_key_path: Path | None = None
    # In production: the service's public base URL (https://api.example.com). The discovery
    # document (RFC 8414) then names its endpoints from it instead of from the request.
    jwt_issuer: str = Field(default="{{ cookiecutter.package_name }}", min_length=1)
    jwt_audience: str = Field(default="{{ cookiecutter.package_name }}", min_length=1)
    # Clock skew tolerated on exp/iat, kept small and explicit (RFC 8725 section 3.10).
    jwt_leeway_seconds: int = Field(default=5, ge=0, le=60)
    access_token_minutes: int = Field(default={{ cookiecutter.access_token_minutes }}, ge=1, le=1440)
    refresh_token_days: int = Field(default={{ cookiecutter.refresh_token_days }}, ge=1, le=365)
    # Unset: 7 days, or the whole session if REFRESH_TOKEN_DAYS is shorter.
    refresh_idle_hours: int | None = Field(default=None, ge=1, le=365 * 24)
    # How long verifiers may cache the JWK Set (its Cache-Control max-age). `keys rotate` waits
    # this long, plus KEY_RELOAD_SECONDS, after staging a key before it lets the key sign.
    jwks_max_age_seconds: int = Field(default=300, ge=0, le=86400)
    # How often each worker checks its key files (key-pair algorithms) and takes up a rotation.
    key_reload_seconds: int = Field(default=10, ge=1, le=3600)

    database_url: str = DEFAULT_DATABASE_URL
    # How often each worker syncs its revoked-session list with the token store (Redis: how
    # often it proves its subscription alive): how long a logged-out access token can still
    # be accepted by another process. Open WebSockets check their session as often.
    revocation_poll_seconds: float = Field(default=0.5, gt=0, le=5)
    # How long `CurrentUser` may serve a user from memory: the delay before a change made
    # straight in the database, behind the app's back, shows. Changes made through the app
    # (deactivate, set password) revoke the sessions, which is refused at once.
    user_cache_seconds: float = Field(default=5, ge=0, le=60)
    # Changing the password, ending a session and administration need a login this recent.
    fresh_auth_minutes: int = Field(default=10, ge=1, le=1440)
    # Memory each worker may spend on access tokens it has verified (security/verified_cache.py),
    # about 1 KB per HS256 token, 1.7 KB per RS256 token: 32 MB holds some 20,000 distinct
    # tokens in use at once. Beyond that the least recently used are verified again (tens of
    # microseconds each); 0 verifies every request's signature.
    verified_token_cache_mb: float = Field(default=32, ge=0, le=4096)
{%- if cookiecutter.token_store == "redis" %}

    redis_url: str = Field(default="redis://127.0.0.1:6379/0", pattern=r"^rediss?://")
    # Starts every key and the revocation channel, so several services can share one Redis.
    redis_key_prefix: str = Field(default="{{ cookiecutter.package_name }}:", min_length=1)
{%- endif %}
{%- if cookiecutter.use_middleware %}

    # Paths AuthMiddleware lets through without a token. Matched exactly: no prefixes, no
    # wildcards, case-sensitive, so `/health/` or `/Health` still need a token.
    public_paths: frozenset[str] = frozenset(
        {
            "/health",
            "/auth/login",
            "/auth/refresh",
            # Revocation (RFC 7009) needs only the token it revokes.
            "/auth/revoke",
            # Authenticates itself, and may be called with the refresh cookie alone.
            "/auth/logout",
            # Registration, where the project has it.
            "/auth/register",
            "/docs",
            "/docs/oauth2-redirect",
            "/redoc",
            # The docs pages' own assets (docs.py serves them instead of a CDN).
            "/docs-assets/swagger-ui-bundle.js",
            "/docs-assets/swagger-ui.css",
            "/docs-assets/redoc.standalone.js",
            "/docs-assets/favicon.png",
            "/openapi.json",
            "/.well-known/jwks.json",
            "/.well-known/oauth-authorization-server",
        }
    )

    @field_validator("public_paths")
    @classmethod
    def _public_paths_are_exact(cls, value: frozenset[str]) -> frozenset[str]:
        for path in value:
            if not path.startswith("/") or any(char in path for char in "*?#"):
                raise ValueError(
                    f"entry {path!r} must be an exact path starting with '/' "
                    "(no wildcards, query or fragment)"
                )
        return value
{%- endif %}

    # Requests with larger bodies get 413 before the body is read (auth bodies are tiny).
    max_body_bytes: int = Field(default=65536, ge=1024)

    login_max_failures: int = Field(default=10, ge=1, le=1000)
    login_failure_window_seconds: int = Field(default=900, ge=1, le=86400)
    # Per client address, across all usernames: stops one host spraying many accounts while
    # staying above what a shared NAT or office of honest mistypers produces.
    login_max_failures_per_address: int = Field(default=100, ge=1, le=100000)
    # Reverse proxies whose X-Forwarded-For is believed (IPs or CIDR networks, comma-separated).
    # Empty: the socket peer is the client and X-Forwarded-For is ignored, since anyone can send it.
    trusted_proxies: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = ()
    log_format: Literal["text", "json"] = "text"
    # True only behind HTTPS: answers then carry HSTS, and browsers refuse plain HTTP for 2 years.
    https_only: bool = False
    # Shortest password an account may get (`create-user`, `set-password`, and registration
    # where the project has it). NIST SP 800-63B never allows fewer than 8; longer is better
    # when there is no second factor.
    password_min_length: int = Field(default=12, ge=8, le=128)
{%- if cookiecutter.allow_registration %}

    # Registrations per client address, successful or not: each costs a password hash and
    # creates an account. A request without an address is counted per username instead.
    registration_max_per_address: int = Field(default=20, ge=1, le=100000)
    registration_window_seconds: int = Field(default=3600, ge=1, le=86400)
{%- endif %}

    # Argon2id cost: OWASP's Password Storage Cheat Sheet's m=19 MiB, t=2, p=1. One lane per
    # hash keeps a login on one core, so a burst of logins cannot take every core from the
    # event loop. Raise the memory first if your servers can afford it; lower only in tests.
    argon2_time_cost: int = Field(default=2, ge=1, le=20)
    argon2_memory_kib: int = Field(default=19456, ge=1024, le=1048576)
    argon2_parallelism: int = Field(default=1, ge=1, le=16)

    @field_validator("secret_key")
    @classmethod
    def _secret_key_is_strong(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if raw.strip().lower() in WELL_KNOWN_SECRET_KEYS:
            raise ValueError("is a well-known example value; generate a fresh random key")
        if len(raw.encode()) < MIN_SECRET_KEY_BYTES:
            raise ValueError(f"must be at least {MIN_SECRET_KEY_BYTES} bytes long")
        if (problem := key_weakness(raw)) is not None:
            raise ValueError(problem)
        return value

    @field_validator("jwt_issuer")
    @classmethod
    def _issuer_url_is_a_base_url(cls, value: str) -> str:
        # An issuer that is a URL is an RFC 8414 issuer identifier: no query or fragment.
        if "://" in value:
            url = urlsplit(value)
            if url.scheme not in ("http", "https") or not url.netloc:
                raise ValueError("as a URL must be an absolute http or https URL")
            if url.query or url.fragment or "?" in value or "#" in value:
                raise ValueError("as a URL must have no query or fragment (RFC 8414 section 2)")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_is_a_url(cls, value: str) -> str:
        # Refused here, with the setting's name, rather than as a traceback from the driver
        # when the first connection is made. The value itself is never repeated: it can hold
        # a password.
        example = cls.model_fields["database_url"].default
        try:
            make_url(value)
        except (ArgumentError, ValueError):
            raise ValueError(f"is not a database URL like {example}") from None
        if value.partition("://")[0] not in DATABASE_SCHEMES:
            schemes = " or ".join(f"{scheme}://" for scheme in sorted(DATABASE_SCHEMES))
            raise ValueError(f"must start with {schemes}, like {example}")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_trusted_proxies(cls, value: object) -> object:
        entries = value.split(",") if isinstance(value, str) else value
        if not isinstance(entries, list | tuple):
            return value
        networks = []
        for entry in entries:
            text = str(entry).strip()
            if not text:
                continue
            try:
                networks.append(ip_network(text, strict=False))
            except ValueError:
                raise ValueError(f"{text!r} is not an IP address or CIDR network") from None
        return tuple(networks)

    @model_validator(mode="after")
    def _idle_fits_session(self) -> "Settings":
        if self.refresh_idle_hours is not None and (
            self.refresh_idle_hours > self.refresh_token_days * 24
        ):
            raise ValueError(
                f"REFRESH_IDLE_HOURS ({self.refresh_idle_hours}) must not exceed "
                f"REFRESH_TOKEN_DAYS in hours ({self.refresh_token_days * 24})"
            )
        return self

    @model_validator(mode="after")
    def _key_fits_algorithm(self) -> "Settings":
        if self.jwt_algorithm == "HS256" and self.secret_key is None:
            raise ValueError("SECRET_KEY is required when JWT_ALGORITHM is HS256")
        if self.jwt_algorithm != "HS256" and self.private_key_path is None:
            raise ValueError(
                f"PRIVATE_KEY_PATH is required when JWT_ALGORITHM is {self.jwt_algorithm}"
            )
        return self
{%- if cookiecutter.cookie_auth %}

    # Origins besides the service's own (exact, like `https://app.example.com`, comma-separated)
    # whose logins may set the session cookies: a front end on a sibling subdomain, say.
    cookie_allowed_origins: Annotated[frozenset[str], NoDecode] = frozenset()
    # True also returns the tokens in the JSON body when they were set as HttpOnly cookies,
    # where any script on the page could read them: HttpOnly would then protect nothing.
    cookie_tokens_in_body: bool = False

    @field_validator("cookie_allowed_origins", mode="before")
    @classmethod
    def _parse_cookie_allowed_origins(cls, value: object) -> object:
        entries = value.split(",") if isinstance(value, str) else value
        if not isinstance(entries, list | tuple | set | frozenset):
            return value
        origins = set()
        for entry in entries:
            # Browsers send the Origin header lower-case, without a path or trailing slash.
            text = str(entry).strip().lower()
            if not text:
                continue
            scheme, _, host = text.partition("://")
            if scheme not in ("http", "https") or not host or any(c in host for c in "/?#@ "):
                raise ValueError(f"{text!r} is not an origin like https://app.example.com")
            origins.add(text)
        return frozenset(origins)

    @model_validator(mode="after")
    def _cookies_have_a_csrf_key(self) -> "Settings":
        if self.secret_key is None:
            raise ValueError(
                "SECRET_KEY is required for cookie authentication: it keys the CSRF tokens"
            )
        return self
{%- endif %}

    @property
    def issuer_url(self) -> str | None:
        """JWT_ISSUER when it is a URL (the public base URL), else None: the discovery
        document then takes its URLs from the request."""
        return self.jwt_issuer if "://" in self.jwt_issuer else None

    @property
    def fresh_auth_seconds(self) -> int:
        return self.fresh_auth_minutes * 60

    @property
    def access_token_seconds(self) -> int:
        return self.access_token_minutes * 60

    @property
    def refresh_token_seconds(self) -> int:
        return self.refresh_token_days * 86400

    @property
    def refresh_idle_seconds(self) -> int:
        session_hours = self.refresh_token_days * 24
        return (self.refresh_idle_hours or min(DEFAULT_REFRESH_IDLE_HOURS, session_hours)) * 3600


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning pydantic's report into one message per bad setting.

    The message uses the environment variable's name (`SECRET_KEY`), which is what the person
    reading it has to change.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]).upper()
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{name} {message}" if name else message)
        raise SettingsError("Invalid settings: " + "; ".join(problems)) from None


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, loaded once."""
    return load_settings()
