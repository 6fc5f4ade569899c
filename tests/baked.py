"""What the bake tests read from a bake, and how they name option combinations.

Shared by test_bake.py, test_matrix.py and test_updates.py: test modules do not import one
another, so their common helpers live here.
"""

import re
from pathlib import Path

from harness import bakery

SECRET_LINE = re.compile(r"^SECRET_KEY=(.*)$", re.MULTILINE)
# `${{ ... }}` is a GitHub Actions expression in .github/workflows, not Jinja.
TEMPLATE_RESIDUE = re.compile(r"(?<!\$)\{\{|\{%|cookiecutter\.")

OPTIONS = (
    "jwt_algorithm",
    "database",
    "token_store",
    "use_middleware",
    "cookie_auth",
    "allow_registration",
)


def combination_id(answers: dict[str, object]) -> str:
    """Name a combination by its non-default answers."""
    defaults = {field: values[0] for field, values in bakery.option_values().items()}
    chosen = [f"{field}={value}" for field, value in answers.items() if value != defaults[field]]
    return ",".join(chosen) or "defaults"


def read_secret(project: Path) -> str:
    """Return the SECRET_KEY value written to the project's .env."""
    match = SECRET_LINE.search((project / ".env").read_text(encoding="utf-8"))
    assert match, "no SECRET_KEY line in .env"
    return match[1]


def text_files(project: Path) -> dict[Path, str]:
    """Return every text file of the bake; binary files cannot hold template syntax."""
    texts = {}
    for path in sorted(project.rglob("*")):
        data = path.read_bytes() if path.is_file() else b""
        if data and b"\0" not in data:
            texts[path] = data.decode("utf-8")
    return texts
