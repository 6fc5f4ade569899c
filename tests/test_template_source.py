"""The template's Python source keeps each option in files of its own.

Jinja conditionals spread through modules make the source unreadable until rendered in your
head. An option's behaviour belongs in its own files, which the post-gen hook removes when the
option is off (hooks/post_gen_project.py, OPTION_FILES); what is left in shared modules is an
import line or a one-line value. These tests hold the source to that.
"""

import re
from collections import Counter
from pathlib import Path

from harness import bakery

PROJECT_SOURCE = bakery.TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
# At most this many `{% if %}` blocks across every .py file of the template, tests included.
IF_BUDGET = 15
JINJA_IF = re.compile(r"\{%-?\s*if\b")
JINJA_ONLY_LINE = re.compile(r"^\s*\{%.*%\}\s*$")
FUNCTION = re.compile(r"^(\s*)(?:async\s+)?def\s+(\w+)")


def python_sources() -> dict[Path, str]:
    return {
        path.relative_to(PROJECT_SOURCE): path.read_text(encoding="utf-8")
        for path in sorted(PROJECT_SOURCE.rglob("*.py"))
    }


def code_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of the lines Python will see: no blank or Jinja-only lines."""
    return [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not JINJA_ONLY_LINE.match(line)
    ]


def conditionals_inside_functions(text: str) -> list[int]:
    """Line numbers of `{% if %}` tags that stand inside a function's body."""
    lines = text.splitlines()
    code = code_lines(text)
    found = []
    for number, line in enumerate(lines, start=1):
        if not JINJA_IF.search(line):
            continue
        before = [entry for entry in code if entry[0] < number and not JINJA_IF.search(entry[1])]
        after = [entry for entry in code if entry[0] > number]
        if not after:
            continue
        next_indent = len(after[0][1]) - len(after[0][1].lstrip())
        # The innermost `def` above whose body the next code line is still part of.
        for _, previous in reversed(before):
            indent = len(previous) - len(previous.lstrip())
            match = FUNCTION.match(previous)
            if match and next_indent > len(match[1]):
                found.append(number)
                break
            if indent < next_indent or indent == 0:
                break
    return found


def test_jinja_conditionals_stay_within_budget() -> None:
    counts = Counter({path: len(JINJA_IF.findall(text)) for path, text in python_sources().items()})
    total = sum(counts.values())
    listing = ", ".join(f"{path}: {count}" for path, count in counts.most_common() if count)
    assert total <= IF_BUDGET, f"{total} `{{% if %}}` blocks (budget {IF_BUDGET}): {listing}"


def test_no_conditional_inside_a_function_body() -> None:
    offenders = {
        str(path): lines
        for path, text in python_sources().items()
        if (lines := conditionals_inside_functions(text))
    }
    assert offenders == {}


def test_no_module_defines_a_function_twice() -> None:
    """Two definitions of one name in a module mean one per option value: that belongs in
    two files, one per value."""
    twice = {}
    for path, text in python_sources().items():
        names = Counter(
            match[2]
            for _, line in code_lines(text)
            if (match := FUNCTION.match(line)) and not match[1]
        )
        if repeated := sorted(name for name, count in names.items() if count > 1):
            twice[str(path)] = repeated
    assert twice == {}


def test_the_checks_catch_what_they_look_for() -> None:
    """The detectors themselves, on a conditional inside a body and a function defined twice."""
    source = "def f() -> int:\n{%- if x %}\n    return 1\n{%- else %}\n    return 2\n{%- endif %}\n"
    assert conditionals_inside_functions(source) == [2]
    outside = "{%- if x %}\ndef f() -> int:\n    return 1\n{%- endif %}\n"
    assert conditionals_inside_functions(outside) == []
