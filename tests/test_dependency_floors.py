"""No dependency floor admits a release with a known advisory (table: safe_versions.py)."""

import itertools
import tomllib

import pytest
import rendering
from packaging.requirements import Requirement
from packaging.version import Version
from safe_versions import MINIMUM_SAFE_VERSIONS

from harness import bakery


def floor(requirement: Requirement) -> Version | None:
    """The lowest version `requirement` admits, from its >=, == or ~= bound; None if unbounded."""
    bounds = [
        Version(spec.version)
        for spec in requirement.specifier
        if spec.operator in {">=", "==", "~=", "==="}
    ]
    return max(bounds, default=None)


def unsafe_floors(dependencies: list[str]) -> list[str]:
    """The requirements among `dependencies` whose floor lies below the safe minimum."""
    problems = []
    for line in dependencies:
        requirement = Requirement(line)
        minimum = MINIMUM_SAFE_VERSIONS.get(requirement.name.lower())
        if minimum is None:
            continue
        lowest = floor(requirement)
        if lowest is None or lowest < Version(minimum):
            problems.append(f"{line} (needs >={minimum})")
    return problems


def all_answers() -> list[dict[str, object]]:
    """Every combination of the options' values: each is a bake a user can make."""
    values = bakery.option_values()
    return [dict(zip(values, row, strict=True)) for row in itertools.product(*values.values())]


def test_every_bake_requires_safe_versions() -> None:
    problems = []
    for answers in all_answers():
        project = tomllib.loads(rendering.render("pyproject.toml", **answers))["project"]
        declared = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
        problems += [f"{answers}: {problem}" for problem in unsafe_floors(declared)]
    assert problems == []


def test_the_template_test_environment_requires_safe_versions() -> None:
    pyproject = tomllib.loads((bakery.TEMPLATE_DIR / "pyproject.toml").read_text("utf-8"))
    assert unsafe_floors(pyproject["project"]["optional-dependencies"]["test"]) == []


@pytest.mark.parametrize(
    ("line", "unsafe"),
    [("pyjwt[crypto]>=2.10,<3", True), ("PyJWT>=2.12", False), ("pyjwt", True)],
)
def test_the_check_sees_low_and_missing_floors(line: str, unsafe: bool) -> None:
    assert bool(unsafe_floors([line])) is unsafe
