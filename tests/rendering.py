"""Render one file of the template with chosen answers, without baking a whole project.

Files whose content depends on options (CI services, compose services) are checked for every
value by rendering them alone with cookiecutter's own Jinja environment: far cheaper than a bake
per value.
"""

from pathlib import Path

from cookiecutter.environment import StrictEnvironment
from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config

from harness import bakery

PROJECT_TEMPLATE = bakery.TEMPLATE_DIR / "{{cookiecutter.project_slug}}"


def answers(**overrides: object) -> dict[str, object]:
    """The answers of a bake without prompts, with `overrides` applied before derivation."""
    context = generate_context(
        context_file=str(bakery.TEMPLATE_DIR / "cookiecutter.json"), extra_context=overrides
    )
    return dict(prompt_for_config(context, no_input=True))


def render(relative_path: str, **overrides: object) -> str:
    """Return the project file at `relative_path` as a bake with `overrides` would write it."""
    chosen = answers(**overrides)
    environment = StrictEnvironment(context={"cookiecutter": chosen}, keep_trailing_newline=True)
    source = (PROJECT_TEMPLATE / Path(relative_path)).read_text(encoding="utf-8")
    return environment.from_string(source).render(cookiecutter=chosen)
