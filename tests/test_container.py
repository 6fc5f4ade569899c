"""The rendered Dockerfile, .dockerignore and compose.yaml.

There is no Docker engine on the machines that run these tests, so no image is built here:
hadolint lints the Dockerfile, the files are checked as data for what keeps secrets out of the
image, and the health check's probe is run against a real server.
"""

import itertools
import json
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import rendering
import yaml

from harness import bakery, served

COMPOSE_CHOICES = list(
    itertools.product(["HS256", "EdDSA"], ["sqlite", "postgresql"], ["database", "redis"])
)
# What must never reach the build context, and so never an image layer.
SECRET_PATTERNS = {".env", ".env.*", "keys/", "**/*.pem", "**/*.key"}
OTHER_IGNORED = {".git", ".venv", "venv"}


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", dockerfile)
    return [
        (line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1])
        for line in joined.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


@pytest.fixture(scope="module")
def dockerfile(default_project: Path) -> str:
    return (default_project / "Dockerfile").read_text(encoding="utf-8")


def test_hadolint_passes(default_project: Path) -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = bakery.run_in(default_project, hadolint, "--no-color", "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_only_the_package_sources_are_copied_into_the_image(dockerfile: str) -> None:
    # An allowlist: whatever .dockerignore misses, .env and keys/ are never COPY sources.
    copies = [args for name, args in instructions(dockerfile) if name == "COPY"]
    assert copies == [
        "pyproject.toml README.md ./",
        "src ./src",
        "--from=build /opt/venv /opt/venv",
    ]


def test_no_secret_is_set_at_build_time(dockerfile: str) -> None:
    build_time = [args for name, args in instructions(dockerfile) if name in {"ENV", "ARG"}]
    assert [args for args in build_time if re.search("SECRET|PASSWORD|KEY", args)] == []


def test_image_runs_as_an_unprivileged_user(dockerfile: str) -> None:
    users = [args for name, args in instructions(dockerfile) if name == "USER"]
    assert users == ["10001:10001"]


def test_both_stages_use_the_slim_base(dockerfile: str) -> None:
    bases = [args.split()[0] for name, args in instructions(dockerfile) if name == "FROM"]
    assert bases == ["python:3.12-slim", "python:3.12-slim"]


def test_container_migrates_then_serves_on_every_interface(dockerfile: str) -> None:
    [command] = [args for name, args in instructions(dockerfile) if name == "CMD"]
    shell_line = json.loads(command)[-1]
    package = rendering.answers()["package_name"]
    assert shell_line == (
        f"python -m {package} migrate && exec python -m {package} serve --host 0.0.0.0 --port 8000"
    )


@pytest.mark.slow
def test_the_container_command_answers_without_a_server_header(tmp_path: Path) -> None:
    """`serve`, which the image runs, names no server software (OWASP HTTP Headers cheat
    sheet: a version string only helps someone looking for a known hole)."""
    with (
        served.running_bake(tmp_path) as (_, url),
        urllib.request.urlopen(f"{url}/health") as answer,
    ):
        headers = answer.headers
    assert "server" not in {name.lower() for name in headers}
    assert headers["x-content-type-options"] == "nosniff"


def healthcheck_probe(dockerfile: str) -> list[str]:
    [healthcheck] = [args for name, args in instructions(dockerfile) if name == "HEALTHCHECK"]
    return json.loads(healthcheck.split(" CMD ", 1)[1])


def test_healthcheck_uses_only_python(dockerfile: str) -> None:
    probe = healthcheck_probe(dockerfile)
    assert probe[:2] == ["python", "-c"]
    assert "http://127.0.0.1:8000/health" in probe[2]


@pytest.mark.slow
def test_healthcheck_probe_passes_on_a_live_server_and_fails_without_one(
    tmp_path: Path, dockerfile: str
) -> None:
    probe = healthcheck_probe(dockerfile)
    with served.running_bake(tmp_path) as (_, url):
        port = url.rsplit(":", 1)[1]
        code = probe[2].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        healthy = subprocess.run([sys.executable, "-c", code], check=False, timeout=30)
    assert healthy.returncode == 0
    # The server is gone now: the probe must report it.
    down = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=False, timeout=30
    )
    assert down.returncode != 0


def test_dockerignore_keeps_secrets_and_local_state_out(default_project: Path) -> None:
    lines = (default_project / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    assert patterns >= SECRET_PATTERNS | OTHER_IGNORED
    assert not any(pattern.startswith("!") for pattern in patterns)


@pytest.mark.parametrize(("algorithm", "database", "token_store"), COMPOSE_CHOICES)
def test_compose_brings_exactly_the_chosen_services(
    algorithm: str, database: str, token_store: str
) -> None:
    text = rendering.render(
        "compose.yaml", jwt_algorithm=algorithm, database=database, token_store=token_store
    )
    services = yaml.safe_load(text)["services"]
    dependencies = {"db"} if database == "postgresql" else set()
    dependencies |= {"redis"} if token_store == "redis" else set()
    assert set(services) == {"app"} | dependencies

    app = services["app"]
    # Secrets arrive at run time from .env; none is written into the compose file.
    assert app["env_file"] == ".env"
    assert "SECRET_KEY" not in app["environment"]
    assert not re.search(r"SECRET_KEY\s*[:=]", text)
    assert app["ports"] == ["127.0.0.1:8000:8000"]
    assert app.get("depends_on", {}) == {
        name: {"condition": "service_healthy"} for name in dependencies
    }
    for name in dependencies:
        assert services[name]["healthcheck"]["test"]
    mounts = app.get("volumes", [])
    assert ("./keys:/app/keys:ro" in mounts) == (algorithm != "HS256")
    if database == "postgresql":
        assert "@db:5432/" in app["environment"]["DATABASE_URL"]
    if token_store == "redis":
        assert app["environment"]["REDIS_URL"] == "redis://redis:6379/0"
