#!/usr/bin/env python3
"""Everyday tasks of the template repository, with nothing but Python 3.11+ installed.

    python3 tasks.py demo    render the default project into demo/ and start its server
    python3 tasks.py test    run the template's whole test suite (what CI runs)
    python3 tasks.py lint    ruff on the template's own Python
    python3 tasks.py bench   the benchmark (bench/run.py; `bench --quick` for a smoke run)

Both create `.venv` here on first use and install the template's test dependencies into it.
Standard library only: this runs before anything else is installed.
"""

import argparse
import os
import secrets
import subprocess
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".installed-from-pyproject"
DEMO_DIR = ROOT / "demo"


def run(*args: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> None:
    """Run a command, echoing it; stop with its exit code if it fails."""
    print("+", " ".join(str(arg) for arg in args), flush=True)
    result = subprocess.run([str(arg) for arg in args], cwd=cwd, env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(result.returncode)


def ensure_venv() -> None:
    """Create .venv and install the test extra, again only when pyproject.toml changed."""
    if not PYTHON.exists():
        venv.create(VENV, with_pip=True)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    if STAMP.exists() and STAMP.read_text(encoding="utf-8") == pyproject:
        return
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", ".[test]")
    STAMP.write_text(pyproject, encoding="utf-8")


def demo(port: int) -> None:
    """Render the default project (once), migrate it, create a first user, serve it."""
    project = DEMO_DIR / "my-service"
    if not project.exists():
        run(PYTHON, "-m", "cookiecutter", "--no-input", ROOT, "--output-dir", DEMO_DIR)
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", f"{project}[dev]")
    cli = (PYTHON, "-m", "my_service")
    run(*cli, "migrate", cwd=project)
    # The demo's password is kept beside it (demo/ is git-ignored) so a second run can show it.
    password_file = DEMO_DIR / "admin-password.txt"
    if not password_file.exists():
        password = secrets.token_urlsafe(12)
        print("+ python -m my_service create-user admin --role admin --password-stdin", flush=True)
        subprocess.run(
            [
                str(part)
                for part in (*cli, "create-user", "admin", "--role", "admin", "--password-stdin")
            ],
            cwd=project,
            input=password + "\n",
            text=True,
            check=True,
        )
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(password + "\n")
    print(f"\nFirst user: admin / {password_file.read_text(encoding='utf-8').strip()}")
    print(f"Open http://127.0.0.1:{port}/docs and press Authorize.\n", flush=True)
    os.chdir(project)
    os.execv(str(PYTHON), [str(PYTHON), "-m", "my_service", "serve", "--port", str(port)])


def test(pytest_args: list[str]) -> None:
    """The template's test suite: bakes option combinations and runs each bake's lint and tests."""
    run(PYTHON, "-m", "pytest", "-n", "auto", *pytest_args)


def lint() -> None:
    """Ruff on the template's own Python; the bake tests lint the rendered project."""
    paths = ("hooks", "harness", "tests", "bench", "tasks.py")
    run(PYTHON, "-m", "ruff", "check", *paths)
    run(PYTHON, "-m", "ruff", "format", "--check", *paths)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="render the default project and serve it")
    demo_parser.add_argument("--port", type=int, default=8000)
    # Unknown arguments (`-k hooks`, `--quick`) go to pytest or the benchmark as they are.
    commands.add_parser("test", help="run the template's test suite; other arguments go to pytest")
    commands.add_parser("lint", help="lint the template's own Python")
    commands.add_parser("bench", help="run the benchmark (bench/run.py); other arguments go to it")
    args, passed_on = parser.parse_known_args()
    if passed_on and args.command not in ("test", "bench"):
        parser.error(f"unrecognized arguments: {' '.join(passed_on)}")
    ensure_venv()
    if args.command == "demo":
        demo(args.port)
    elif args.command == "lint":
        lint()
    elif args.command == "bench":
        run(PYTHON, ROOT / "bench" / "run.py", *passed_on)
    else:
        test(passed_on)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
