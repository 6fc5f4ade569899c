"""The rendered GitHub Actions workflow: the README's commands, pinned actions, least privilege.

GitHub cannot be reached from here, so the workflow is checked as data: what it runs, which
actions it trusts and with what token, and which service containers it starts for each choice.
"""

import itertools
import re
from pathlib import Path

import pytest
import rendering
import yaml

WORKFLOW = ".github/workflows/ci.yml"
INSTALL = "python -m pip install -e '.[dev]'"
LINT_COMMANDS = [INSTALL, "ruff check .", "ruff format --check ."]
TEST_COMMANDS = [INSTALL, "pytest"]
# owner/name@<40 hex digits> # vX.Y.Z: a tag can be moved to other code, a commit cannot.
PINNED_ACTION = re.compile(r"^\s*- uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
SERVICE_CHOICES = list(itertools.product(["sqlite", "postgresql"], ["database", "redis"]))


def load(text: str) -> dict:
    return yaml.safe_load(text)


def run_commands(job: dict) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


@pytest.fixture(scope="module")
def workflow_text(default_project: Path) -> str:
    return (default_project / WORKFLOW).read_text(encoding="utf-8")


def test_lint_job_runs_the_readme_lint_commands(workflow_text: str) -> None:
    assert run_commands(load(workflow_text)["jobs"]["lint"]) == LINT_COMMANDS


def test_test_job_runs_the_readme_test_command(workflow_text: str) -> None:
    assert run_commands(load(workflow_text)["jobs"]["test"]) == TEST_COMMANDS


def test_readme_shows_every_command_ci_runs(default_project: Path) -> None:
    readme = (default_project / "README.md").read_text(encoding="utf-8")
    readme_lines = {line.strip() for line in readme.splitlines()}
    for command in {*LINT_COMMANDS, *TEST_COMMANDS}:
        assert command in readme_lines, f"CI runs {command!r}, the README does not show it"


def test_workflow_token_is_read_only(workflow_text: str) -> None:
    workflow = load(workflow_text)
    assert workflow["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in workflow["jobs"].values())


def test_every_action_is_pinned_to_a_commit(workflow_text: str) -> None:
    uses_lines = [line for line in workflow_text.splitlines() if "uses:" in line]
    assert uses_lines
    assert [line for line in uses_lines if not PINNED_ACTION.match(line)] == []


def test_checkout_does_not_keep_the_token(workflow_text: str) -> None:
    for job in load(workflow_text)["jobs"].values():
        [checkout] = [step for step in job["steps"] if "actions/checkout@" in step.get("uses", "")]
        assert checkout["with"]["persist-credentials"] is False


@pytest.mark.parametrize(("database", "token_store"), SERVICE_CHOICES)
def test_service_containers_follow_the_choices(database: str, token_store: str) -> None:
    text = rendering.render(WORKFLOW, database=database, token_store=token_store)
    test_job = load(text)["jobs"]["test"]
    services = test_job.get("services", {})
    expected = {"postgres"} if database == "postgresql" else set()
    expected |= {"redis"} if token_store == "redis" else set()
    assert set(services) == expected
    for service in services.values():
        # Without a health check the tests could start before the server accepts connections.
        assert "--health-cmd" in service["options"]
    assert run_commands(test_job) == TEST_COMMANDS
