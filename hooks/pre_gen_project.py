"""Reject answers that would bake a broken or unsafe project, before any file is written.

Cookiecutter runs this file after rendering it with Jinja. Each problem is printed as one
`ERROR:` line naming the field; a non-zero exit makes cookiecutter delete the half-made
project directory, so nothing is left on disk.
"""

import json
import keyword
import re
import sys
from collections.abc import Mapping

# Must match the lists in cookiecutter.json (a template test checks). Cookiecutter enforces
# them for prompts and --no-input, but not for a hand-edited replay file.
CHOICES: dict[str, tuple[str, ...]] = {
    "jwt_algorithm": ("HS256", "EdDSA", "ES256", "RS256"),
    "database": ("sqlite", "postgresql"),
    "token_store": ("database", "redis"),
}

BOOLEANS = ("use_middleware", "cookie_auth", "allow_registration")

# Free text that lands in one-line places (a README title, a TOML string, a `#` comment in
# .env.example): a newline there would turn the rest of the value into live configuration.
TEXT_FIELDS = ("project_name", "description", "author_name")

# A package named like one of these would be imported instead of the real library.
DEPENDENCY_NAMES = frozenset(
    {
        "alembic",
        "fastapi",
        "httpx",
        "jwt",
        "pwdlib",
        "pydantic",
        "redis",
        "sqlalchemy",
        "starlette",
        "tests",
        "typer",
        "uvicorn",
    }
)

SLUG_RE = re.compile(r"[a-z][a-z0-9_-]{0,63}")
PACKAGE_RE = re.compile(r"[a-z][a-z0-9_]*")
# Release segment, optional pre-release, post and dev parts: the PEP 440 forms people type.
VERSION_RE = re.compile(r"\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

ACCESS_MINUTES_RANGE = range(1, 1441)
REFRESH_DAYS_RANGE = range(1, 366)
MINUTES_PER_DAY = 1440


def read_answers() -> dict[str, object]:
    """Return cookiecutter's answers, decoded from JSON.

    Jinja writes each answer as JSON into a raw string, so quotes or backslashes in a value
    stay data and can never become Python code. The spaces inside the quotes matter: a JSON
    string ends in a double quote, which would otherwise merge with the closing triple quote.
    """
    return {
        "project_name": json.loads(r""" {{ cookiecutter.project_name | tojson }} """),
        "project_slug": json.loads(r""" {{ cookiecutter.project_slug | tojson }} """),
        "package_name": json.loads(r""" {{ cookiecutter.package_name | tojson }} """),
        "description": json.loads(r""" {{ cookiecutter.description | tojson }} """),
        "author_name": json.loads(r""" {{ cookiecutter.author_name | tojson }} """),
        "author_email": json.loads(r""" {{ cookiecutter.author_email | tojson }} """),
        "version": json.loads(r""" {{ cookiecutter.version | tojson }} """),
        "jwt_algorithm": json.loads(r""" {{ cookiecutter.jwt_algorithm | tojson }} """),
        "database": json.loads(r""" {{ cookiecutter.database | tojson }} """),
        "token_store": json.loads(r""" {{ cookiecutter.token_store | tojson }} """),
        "use_middleware": json.loads(r""" {{ cookiecutter.use_middleware | tojson }} """),
        "cookie_auth": json.loads(r""" {{ cookiecutter.cookie_auth | tojson }} """),
        "allow_registration": json.loads(r""" {{ cookiecutter.allow_registration | tojson }} """),
        "access_token_minutes": json.loads(
            r""" {{ cookiecutter.access_token_minutes | tojson }} """
        ),
        "refresh_token_days": json.loads(r""" {{ cookiecutter.refresh_token_days | tojson }} """),
    }


def show(value: object) -> str:
    """Spell a value the way a user types it on cookiecutter's command line."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def check_text(field: str, value: object) -> list[str]:
    """Free text must be one printable line; the project name must also be non-empty."""
    if not isinstance(value, str) or not value.isprintable():
        return [f"{field} {value!r} must be a single line of printable text"]
    if field == "project_name" and not value.strip():
        return ["project_name must not be empty"]
    return []


def check_slug(value: object) -> list[str]:
    """The slug names the directory and the distribution, so keep it portable."""
    if isinstance(value, str) and SLUG_RE.fullmatch(value):
        return []
    return [
        f"project_slug {value!r} must start with a lowercase letter and contain only "
        "lowercase letters, digits, '-' and '_' (at most 64 characters)"
    ]


def check_package_name(value: object) -> list[str]:
    """The package must be importable and must not hide a module the project imports."""
    if not isinstance(value, str) or not PACKAGE_RE.fullmatch(value):
        return [
            f"package_name {value!r} must be a Python identifier: a lowercase ASCII letter, "
            "then lowercase letters, digits or '_'"
        ]
    if keyword.iskeyword(value):
        return [f"package_name {value!r} is a Python keyword, so it cannot be imported"]
    if value in sys.stdlib_module_names:
        return [f"package_name {value!r} would shadow the standard library module {value!r}"]
    if value in DEPENDENCY_NAMES:
        return [f"package_name {value!r} would shadow the dependency {value!r}"]
    return []


def check_version(value: object) -> list[str]:
    """Packaging tools refuse a non-PEP 440 version, so fail now rather than at install."""
    if isinstance(value, str) and VERSION_RE.fullmatch(value):
        return []
    return [f"version {value!r} must be a PEP 440 version such as 0.1.0 or 1.0.0rc1"]


def check_email(value: object) -> list[str]:
    """Catch a name or a typo typed into the email prompt; deliverability is not our business."""
    if isinstance(value, str) and EMAIL_RE.fullmatch(value):
        return []
    return [f"author_email {value!r} must look like name@example.com"]


def parse_lifetime(value: object, allowed: range) -> int | None:
    """Return the number if it is a whole number in `allowed`, else None.

    Cookiecutter hands numbers from cookiecutter.json over as strings, so accept both forms.
    """
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value in allowed:
        return value
    return None


def check_lifetimes(minutes_value: object, days_value: object) -> list[str]:
    """Token lifetimes must be sane, and a refresh token must outlive the access token."""
    errors = []
    minutes = parse_lifetime(minutes_value, ACCESS_MINUTES_RANGE)
    days = parse_lifetime(days_value, REFRESH_DAYS_RANGE)
    if minutes is None:
        errors.append(
            f"access_token_minutes {minutes_value!r} must be a whole number from 1 to 1440"
        )
    if days is None:
        errors.append(f"refresh_token_days {days_value!r} must be a whole number from 1 to 365")
    if minutes is not None and days is not None and days * MINUTES_PER_DAY <= minutes:
        errors.append(
            f"refresh_token_days ({days} days) must be longer than "
            f"access_token_minutes ({minutes} minutes)"
        )
    return errors


def check_options(answers: Mapping[str, object]) -> list[str]:
    """Choices must be known values and switches real booleans.

    A string such as "no" would be truthy in the template's Jinja if-blocks and silently
    enable the option; cookiecutter 2 converts yes/no itself, so anything else is a mistake.
    """
    errors = []
    for field, allowed in CHOICES.items():
        if answers[field] not in allowed:
            errors.append(f"{field} {answers[field]!r} must be one of {', '.join(allowed)}")
    for field in BOOLEANS:
        if not isinstance(answers[field], bool):
            errors.append(f"{field} {answers[field]!r} must be true or false")
    return errors


def validate(answers: Mapping[str, object]) -> list[str]:
    """Return one message per problem, each naming its field; empty when all is well."""
    errors = [error for field in TEXT_FIELDS for error in check_text(field, answers[field])]
    errors += check_slug(answers["project_slug"])
    errors += check_package_name(answers["package_name"])
    errors += check_version(answers["version"])
    errors += check_email(answers["author_email"])
    errors += check_lifetimes(answers["access_token_minutes"], answers["refresh_token_days"])
    return errors + check_options(answers)


def main() -> int:
    """Validate the answers; exit status 1 makes cookiecutter stop and clean up."""
    errors = validate(read_answers())
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
