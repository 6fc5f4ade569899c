"""Real bakes: no template residue, secrets that stay out of git, and a project that is green."""

import itertools
import re
import stat
import sys
from pathlib import Path

import pytest
from baked import (
    OPTIONS,
    SECRET_LINE,
    TEMPLATE_RESIDUE,
    combination_id,
    read_secret,
    text_files,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from harness import bakery

# 43 URL-safe base64 characters carry 256 bits.
STRONG_SECRET = re.compile(r"[A-Za-z0-9_-]{43,}")
SUMMARY_PASSED = re.compile(r"(\d+) passed")
# The rendered suite has a test per area and attack class; far fewer means files went missing.
MIN_PROJECT_TESTS = 40

# A pairwise covering set: every value of every option, and every pair of values of two
# options, appears in some row (test_combinations_cover_every_pair_of_option_values checks).
# Eight rows is the least possible: each of the four algorithms must meet both values of every
# switch. The first row is all defaults.
COMBINATIONS = [
    dict(zip(OPTIONS, row, strict=True))
    for row in [
        ("HS256", "sqlite", "database", False, False, False),
        ("HS256", "postgresql", "redis", True, True, True),
        ("EdDSA", "sqlite", "database", True, False, True),
        ("EdDSA", "postgresql", "redis", False, True, False),
        ("ES256", "sqlite", "redis", False, True, False),
        ("ES256", "postgresql", "database", True, False, True),
        ("RS256", "postgresql", "database", False, True, True),
        ("RS256", "sqlite", "redis", True, False, False),
    ]
]

KEY_TYPES = {
    "EdDSA": ed25519.Ed25519PrivateKey,
    "ES256": ec.EllipticCurvePrivateKey,
    "RS256": rsa.RSAPrivateKey,
}


@pytest.fixture(
    scope="session",
    params=[pytest.param(answers, id=combination_id(answers)) for answers in COMBINATIONS],
)
def combination(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One bake per covering combination, shared by the tests that only read it."""
    return bakery.bake(tmp_path_factory.mktemp("combination"), **request.param)


def test_combinations_cover_every_pair_of_option_values() -> None:
    values = bakery.option_values()
    assert set(OPTIONS) == set(values)
    for first, second in itertools.combinations(OPTIONS, 2):
        for pair in itertools.product(values[first], values[second]):
            assert any((row[first], row[second]) == pair for row in COMBINATIONS), (
                first,
                second,
                pair,
            )


def test_no_template_syntax_is_left(combination: Path) -> None:
    residue = [
        f"{path.relative_to(combination)}:{number}: {line.strip()}"
        for path, text in text_files(combination).items()
        for number, line in enumerate(text.splitlines(), 1)
        if TEMPLATE_RESIDUE.search(line)
    ]
    assert residue == []


def test_only_the_chosen_options_files_are_kept(combination: Path) -> None:
    answers = bakery.answers_of(combination)
    manifest = bakery.load_hook("post_gen_project").OPTION_FILES
    wrong = []
    for (field, enabled_value), paths in manifest.items():
        chosen = answers[field] == enabled_value
        for path in paths:
            relative = path.format(package=answers["package_name"])
            if (combination / relative).exists() != chosen:
                problem = "missing" if chosen else "left behind"
                wrong.append(f"{relative} ({field}={answers[field]}): {problem}")
    assert wrong == []


@pytest.mark.slow
def test_bake_passes_ruff(combination: Path) -> None:
    for command in (["check"], ["format", "--check"]):
        result = bakery.run_in(
            combination, sys.executable, "-m", "ruff", *command, "--no-cache", "."
        )
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_bake_passes_its_own_tests(combination: Path) -> None:
    result = bakery.run_in(
        combination,
        sys.executable,
        *("-m", "pytest", "-q", "-p", "no:cacheprovider"),
        # What `pip install -e .` gives a user, without installing into the shared venv.
        PYTHONPATH="src",
        PYTHONDONTWRITEBYTECODE="1",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    summary = output.strip().splitlines()[-1]
    passed = SUMMARY_PASSED.search(summary)
    assert passed, summary
    assert int(passed[1]) >= MIN_PROJECT_TESTS, summary


def test_env_is_readable_only_by_its_owner(default_project: Path) -> None:
    assert stat.S_IMODE((default_project / ".env").stat().st_mode) == 0o600


def test_env_is_the_example_with_only_the_secret_filled_in(default_project: Path) -> None:
    example = (default_project / ".env.example").read_text(encoding="utf-8")
    secret = read_secret(default_project)
    expected = SECRET_LINE.sub(lambda _: f"SECRET_KEY={secret}", example)
    assert (default_project / ".env").read_bytes() == expected.encode("utf-8")


def test_two_bakes_get_different_strong_secrets(tmp_path: Path) -> None:
    first, second = (read_secret(bakery.bake(tmp_path / name)) for name in ("first", "second"))
    assert first != second
    assert STRONG_SECRET.fullmatch(first)
    assert STRONG_SECRET.fullmatch(second)


def test_replay_file_never_holds_the_secret(default_project: Path) -> None:
    [replay] = bakery.replay_files(default_project)
    assert read_secret(default_project) not in replay.read_text(encoding="utf-8")


def test_secret_is_git_ignored_and_in_no_tracked_file(tmp_path: Path) -> None:
    project = bakery.bake(tmp_path)
    secret = read_secret(project).encode()
    assert bakery.git(project, "init", "--quiet").returncode == 0
    assert bakery.git(project, "check-ignore", "--quiet", ".env").returncode == 0
    assert bakery.git(project, "add", "--all").returncode == 0
    tracked = bakery.git(project, "ls-files").stdout.splitlines()
    assert ".env.example" in tracked
    assert [path for path in tracked if secret in (project / path).read_bytes()] == []


@pytest.mark.parametrize("algorithm", sorted(KEY_TYPES))
def test_asymmetric_bake_has_a_private_key_that_git_ignores(tmp_path: Path, algorithm: str) -> None:
    project = bakery.bake(tmp_path, jwt_algorithm=algorithm)
    for name in ("private.pem", "next.pem"):
        key_file = project / "keys" / name
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        assert isinstance(key, KEY_TYPES[algorithm])
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "PRIVATE_KEY_PATH=keys/private.pem" in (project / ".env").read_text(encoding="utf-8")
    assert bakery.git(project, "init", "--quiet").returncode == 0
    for name in ("private.pem", "next.pem"):
        assert bakery.git(project, "check-ignore", "--quiet", f"keys/{name}").returncode == 0


def test_readme_example_shows_the_chosen_token_lifetime_in_seconds(tmp_path: Path) -> None:
    # A command-line answer is a string: "7" * 60 would print 7777...7 instead of 420.
    result = bakery.bake_with_cli(tmp_path, "access_token_minutes=7")
    assert result.returncode == 0, result.stderr
    readme = (tmp_path / bakery.OUTPUT_DIR_NAME / "my-service" / "README.md").read_text("utf-8")
    assert '"expires_in": 420, ' in readme
