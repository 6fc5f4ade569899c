"""Every combination of every option renders, leaves no template syntax, and is ruff clean.

The covering set in test_bake.py runs each bake's own tests; this file makes sure no
combination is left unbaked, the most common way a template option rots. Ruff runs once over
all bakes of an algorithm (it picks up each bake's own pyproject), which keeps 128 bakes cheap.
"""

import itertools
import sys
from pathlib import Path

import pytest
from baked import OPTIONS, TEMPLATE_RESIDUE, combination_id, text_files

from harness import bakery

SWITCHES = [option for option in OPTIONS if option != "jwt_algorithm"]


def combinations_for(algorithm: str) -> list[dict[str, object]]:
    """All combinations of the other options with this algorithm."""
    values = bakery.option_values()
    return [
        {"jwt_algorithm": algorithm, **dict(zip(SWITCHES, row, strict=True))}
        for row in itertools.product(*(values[option] for option in SWITCHES))
    ]


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", bakery.option_values()["jwt_algorithm"])
def test_every_combination_renders_clean(tmp_path: Path, algorithm: str) -> None:
    residue = []
    for answers in combinations_for(algorithm):
        project = bakery.bake(tmp_path / combination_id(answers), **answers)
        residue += [
            f"{combination_id(answers)}: {path.relative_to(project)}"
            for path, text in text_files(project).items()
            if TEMPLATE_RESIDUE.search(text)
        ]
    assert residue == []
    for command in (["check"], ["format", "--check"]):
        result = bakery.run_in(tmp_path, sys.executable, "-m", "ruff", *command, "--no-cache", ".")
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("project_name", ["Api Service", "Zulu Service"])
def test_import_order_does_not_depend_on_the_package_name(
    tmp_path: Path, project_name: str
) -> None:
    """Ruff sorts imports by name: a package named before or after `conftest` must stay clean."""
    answers = {"use_middleware": True, "cookie_auth": True}
    project = bakery.bake(tmp_path, project_name=project_name, **answers)
    result = bakery.run_in(project, sys.executable, "-m", "ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr
