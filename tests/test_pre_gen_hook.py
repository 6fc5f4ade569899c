"""The pre-gen hook refuses bad answers, names the field, and leaves nothing on disk."""

import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from harness import bakery


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("project_name", ""),
        ("project_name", "Two\nLines"),
        ("description", "a\nPYTHONPATH=/tmp/evil"),
        ("author_name", "tab\there"),
        ("project_slug", "Bad Slug"),
        ("project_slug", "1service"),
        ("project_slug", "my.service"),
        ("project_slug", "a" * 65),
        ("package_name", "class"),
        ("package_name", "json"),
        ("package_name", "jwt"),
        ("package_name", "tests"),
        ("package_name", "my-pkg"),
        ("package_name", "MyPkg"),
        ("package_name", "café"),
        ("package_name", "_private"),
        ("version", "abc"),
        ("version", "v1.0"),
        ("version", "1.0-beta"),
        ("author_email", "nobody"),
        ("author_email", "a@localhost"),
        ("author_email", "a b@example.com"),
        ("access_token_minutes", "0"),
        ("access_token_minutes", "1441"),
        ("access_token_minutes", "1.5"),
        ("access_token_minutes", "-5"),
        ("access_token_minutes", True),
        ("refresh_token_days", "0"),
        ("refresh_token_days", "366"),
        ("refresh_token_days", ""),
        ("jwt_algorithm", "none"),
        ("jwt_algorithm", "HS512"),
        ("database", "mysql"),
        ("token_store", "memcached"),
        ("use_middleware", "no"),
        ("cookie_auth", "yes"),
        ("allow_registration", 1),
    ],
)
def test_bad_answer_is_refused_naming_its_field(
    pre_gen_hook: ModuleType, default_answers: dict[str, object], field: str, value: object
) -> None:
    errors = pre_gen_hook.validate(default_answers | {field: value})
    assert errors
    assert all(error.startswith(field) for error in errors), errors


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("project_name", 'Café "Quoted" O\'Brien \\ Service'),
        ("project_slug", "a" * 64),
        ("project_slug", "my_service-2"),
        ("package_name", "my_service2"),
        ("version", "2"),
        ("version", "1.0.0rc1"),
        ("version", "1.0.post1.dev3"),
        ("author_email", "first.last+tag@mail.example.org"),
        ("access_token_minutes", 60),
        ("access_token_minutes", "1440"),
        ("refresh_token_days", 365),
    ],
)
def test_unusual_but_valid_answer_is_accepted(
    pre_gen_hook: ModuleType, default_answers: dict[str, object], field: str, value: object
) -> None:
    assert pre_gen_hook.validate(default_answers | {field: value}) == []


def test_defaults_are_valid(pre_gen_hook: ModuleType, default_answers: dict[str, object]) -> None:
    assert pre_gen_hook.validate(default_answers) == []


def test_refresh_token_must_outlive_access_token(
    pre_gen_hook: ModuleType, default_answers: dict[str, object]
) -> None:
    answers = default_answers | {"access_token_minutes": "1440", "refresh_token_days": "1"}
    [error] = pre_gen_hook.validate(answers)
    assert "refresh_token_days" in error
    assert "access_token_minutes" in error


def test_every_problem_is_reported_at_once(
    pre_gen_hook: ModuleType, default_answers: dict[str, object]
) -> None:
    answers = default_answers | {"project_slug": "Bad Slug", "version": "abc"}
    errors = pre_gen_hook.validate(answers)
    assert [error.split()[0] for error in errors] == ["project_slug", "version"]


def test_hook_choices_match_cookiecutter_json(pre_gen_hook: ModuleType) -> None:
    lists = {k: tuple(v) for k, v in bakery.cookiecutter_json().items() if isinstance(v, list)}
    assert lists == pre_gen_hook.CHOICES


def test_hook_booleans_match_cookiecutter_json(pre_gen_hook: ModuleType) -> None:
    booleans = [k for k, v in bakery.cookiecutter_json().items() if isinstance(v, bool)]
    assert booleans == list(pre_gen_hook.BOOLEANS)


@pytest.mark.parametrize(
    "answer",
    [
        "project_slug=Bad Slug",
        "package_name=class",
        "package_name=json",
        "package_name=jwt",
        "package_name=my-pkg",
        "version=abc",
        "access_token_minutes=0",
        "access_token_minutes=100000",
        "refresh_token_days=0",
        "author_email=nobody.example.com",
    ],
)
def test_bad_answer_fails_the_bake_and_leaves_nothing(tmp_path: Path, answer: str) -> None:
    result = bakery.bake_with_cli(tmp_path, answer)
    assert result.returncode != 0
    field = answer.partition("=")[0]
    assert f"ERROR: {field} " in result.stderr
    assert bakery.leftovers(tmp_path) == []


def test_yes_and_no_words_reach_the_hooks_as_booleans(tmp_path: Path) -> None:
    # The hook accepts only real booleans; cookiecutter converts what users type on the
    # command line, so typing "no" or "off" must still bake.
    result = bakery.bake_with_cli(tmp_path, "use_middleware=no", "cookie_auth=OFF")
    assert result.returncode == 0, result.stderr
    [project] = (tmp_path / bakery.OUTPUT_DIR_NAME).iterdir()
    answers = bakery.answers_of(project)
    assert answers["use_middleware"] is False
    assert answers["cookie_auth"] is False


# The canary's path comes from the environment: a slash in an answer would make cookiecutter
# create nested directories for the slug, and it cleans up only the innermost one.
CANARY_VARIABLE = "TEMPLATE_TEST_CANARY"


def injection(quote: str) -> str:
    """An answer that closes a `quote`-delimited Python literal, runs code, and reopens one.

    The code touches the file named by $TEMPLATE_TEST_CANARY. It can only run in a hook that
    pastes answers into string literals instead of reading them as JSON data.
    """
    code = f"__import__('pathlib').Path(__import__('os').environ['{CANARY_VARIABLE}']).touch()"
    return f"{quote}; {code}; _ = {quote}"


@pytest.fixture
def canary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file that injected code would create; hooks inherit the variable naming it."""
    path = tmp_path / "PWNED"
    monkeypatch.setenv(CANARY_VARIABLE, str(path))
    return path


@pytest.mark.parametrize("quote", ['"', "'", '"""', "'''"])
def test_quotes_and_backslashes_in_answers_stay_data(
    tmp_path: Path, canary: Path, quote: str
) -> None:
    payload = injection(quote)
    # A trailing backslash would escape the closing quote of a naive literal.
    description = f"{payload} \\"
    project = bakery.bake(
        tmp_path,
        project_name=f"Evil {payload}",
        description=description,
        author_name=payload,
        project_slug="evil",
        package_name="evil",
    )
    assert not canary.exists()
    assert (project / ".env").is_file()
    metadata = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert metadata["project"]["description"] == description
    assert metadata["project"]["authors"][0]["name"] == payload


def test_code_in_a_refused_answer_never_runs(tmp_path: Path, canary: Path) -> None:
    result = bakery.bake_with_cli(tmp_path, "project_slug=" + injection('"'))
    assert result.returncode != 0
    assert "ERROR: project_slug " in result.stderr
    assert not canary.exists()
    assert bakery.leftovers(tmp_path) == []
