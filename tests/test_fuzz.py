"""Schemathesis against a bake's running server: no 5xx, and every answer is the documented one.

The fuzzer reads the app's own OpenAPI document and sends what it describes, valid and not
(wrong types, missing fields, bodies that do not parse, made-up refresh tokens, every other
HTTP method), each with a valid access token from a fresh login (schemathesis_hooks.py).
Forged and missing access tokens are the rendered project's attack tests' subject.

Checks: no server error; each status code and content type is one the document lists for
that operation; each body matches the schema documented for its status; no answer repeats a
password or token the request sent. An undocumented
400/401/403/413/422/429/503, or a body that drifts from its model, fails.
"""

import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from harness import bakery, served

TESTS_DIR = Path(__file__).resolve().parent
USERNAME = "fuzzer@example.com"
PASSWORD = "fuzzing is not guessing"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    # Ours (schemathesis_hooks.py): no answer repeats a password or token the request sent.
    "no_secret_echoed",
)
# Per operation; a bake has thirteen or fourteen, and the coverage phase adds its own cases.
# FUZZ_MAX_EXAMPLES raises it for a longer local run; FUZZ_SEED replays the seed a failed run
# printed.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
GENERATED = re.compile(r"(\d+) generated")

BAKES = [
    pytest.param({}, id="defaults"),
    pytest.param(
        {
            "jwt_algorithm": "EdDSA",
            "use_middleware": True,
            "cookie_auth": True,
            "allow_registration": True,
        },
        id="EdDSA,middleware,cookies,registration",
    ),
]


@dataclass(frozen=True)
class Server:
    answers: dict[str, object]
    base_url: str
    directory: Path
    user_id: str


@pytest.fixture(scope="module", params=BAKES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A bake migrated, with one user, served on loopback."""
    directory = tmp_path_factory.mktemp("fuzz")
    project = bakery.bake(directory, **request.param)
    served.run_cli(project, served.package_of(project), "migrate")
    served.create_users(project, {USERNAME: PASSWORD})
    # An admin, so the admin API is fuzzed past its 403 too. The hooks keep it one.
    served.run_cli(project, served.package_of(project), "set-role", USERNAME, "admin")
    # The fuzzer learns the username from /users/me and tries it at /auth/login with random
    # passwords; the default lockout would then refuse the hook's own logins (a 429 is still
    # a documented answer, but every later case would go unauthenticated).
    limits = {"LOGIN_MAX_FAILURES": "1000", "LOGIN_MAX_FAILURES_PER_ADDRESS": "100000"}
    with served.serving(project, directory / "server.log", **limits) as base_url:
        yield Server(dict(request.param), base_url, directory, own_id(base_url))


def own_id(base_url: str) -> str:
    """The fuzzer's user id, which the hooks keep the admin API from locking out."""
    credentials = {"grant_type": "password", "username": USERNAME, "password": PASSWORD}
    login = httpx.post(f"{base_url}/auth/login", data=credentials, timeout=10)
    login.raise_for_status()
    token = login.json()["access_token"]
    me = httpx.get(f"{base_url}/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    me.raise_for_status()
    return str(me.json()["id"])


def openapi(server: Server) -> dict:
    response = httpx.get(f"{server.base_url}/openapi.json", timeout=10)
    assert response.status_code == 200
    return response.json()


def documented(server: Server, method: str, path: str) -> set[str]:
    return set(openapi(server)["paths"][path][method]["responses"])


@pytest.mark.slow
def test_openapi_documents_the_error_answers(server: Server) -> None:
    cookies = bool(server.answers.get("cookie_auth"))
    csrf = {"403"} if cookies else set()
    admin = {"401", "403", "503"}
    expected = {
        ("post", "/auth/login"): {"200", "400", "413", "429", "503"},
        ("post", "/auth/revoke"): {"200", "400", "413", "503"},
        ("get", "/.well-known/oauth-authorization-server"): {"200"},
        ("post", "/auth/refresh"): {"200", "400", "401", "413", "422", "503"} | csrf,
        ("post", "/auth/logout"): {"204", "400", "401", "413", "422", "503"} | csrf,
        ("post", "/auth/logout-all"): {"204", "401", "503"} | csrf,
        ("get", "/users/me"): {"200", "401", "503"},
        ("post", "/users/me/password"): {"204", "400", "401", "403", "413", "422", "429", "503"},
        ("get", "/auth/sessions"): {"200", "401", "403", "503"},
        ("delete", "/auth/sessions/{session_id}"): {"204", "401", "403", "404", "503"},
        ("get", "/protected"): {"200", "401"},
        # The admin API: 401 also for a login that is not recent, 403 without the scope.
        ("get", "/admin/users"): {"200", "422"} | admin,
        ("get", "/admin/users/{user_id}"): {"200", "404"} | admin,
        ("put", "/admin/users/{user_id}/role"): {"200", "400", "404", "409", "413", "422"} | admin,
        ("post", "/admin/users/{user_id}/deactivate"): {"200", "404", "409"} | admin,
        ("post", "/admin/users/{user_id}/reactivate"): {"200", "404"} | admin,
        ("delete", "/admin/users/{user_id}/sessions"): {"204", "404"} | admin,
    }
    if server.answers.get("allow_registration"):
        expected["post", "/auth/register"] = {"201", "400", "409", "413", "422", "429", "503"}
    missing = {
        f"{method.upper()} {path}": sorted(codes - documented(server, method, path))
        for (method, path), codes in expected.items()
        if codes - documented(server, method, path)
    }
    assert missing == {}


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_or_undocumented_answer(server: Server) -> None:
    result = bakery.run_in(
        server.directory,
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{server.base_url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "2",
        *(["--seed", os.environ["FUZZ_SEED"]] if os.environ.get("FUZZ_SEED") else []),
        "--request-timeout",
        "10",
        SCHEMATHESIS_HOOKS="schemathesis_hooks",
        PYTHONPATH=str(TESTS_DIR),
        FUZZ_BASE_URL=server.base_url,
        FUZZ_USERNAME=USERNAME,
        FUZZ_PASSWORD=PASSWORD,
        FUZZ_USER_ID=server.user_id,
        NO_COLOR="1",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    generated = GENERATED.search(output)
    assert generated, output
    print(f"schemathesis: {generated[1]} cases generated against {server.base_url}")
    assert int(generated[1]) >= MAX_EXAMPLES
    # The hook's tokens worked: the authenticated answers were fuzzed too, not only the 401s.
    access_log = (server.directory / "server.log").read_text(errors="replace")
    assert '"GET /users/me HTTP/1.1" 200' in access_log
    assert '"POST /auth/logout HTTP/1.1" 204' in access_log
    assert re.search(r'"GET /admin/users(\?\S*)? HTTP/1.1" 200', access_log)
