"""Fixtures for the template's tests; the baking itself lives in harness/bakery.py."""

from pathlib import Path
from types import ModuleType

import pytest
from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config

from harness import bakery


@pytest.fixture(scope="session")
def default_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One bake with every default answer, shared by tests that only read it."""
    return bakery.bake(tmp_path_factory.mktemp("default"))


@pytest.fixture
def default_answers() -> dict[str, object]:
    """The answers a bake without prompts resolves, exactly as the hooks receive them."""
    context = generate_context(context_file=str(bakery.TEMPLATE_DIR / "cookiecutter.json"))
    return dict(prompt_for_config(context, no_input=True))


@pytest.fixture(scope="session")
def pre_gen_hook() -> ModuleType:
    """hooks/pre_gen_project.py, imported unrendered."""
    return bakery.load_hook("pre_gen_project")


@pytest.fixture(scope="session")
def post_gen_hook() -> ModuleType:
    """hooks/post_gen_project.py, imported unrendered."""
    return bakery.load_hook("post_gen_project")
