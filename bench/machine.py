"""What the figures were measured on: CPU, load, Python, wrk and the versions of the stack."""

import os
import platform
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

# The comparison venv gets the very versions of the stack the template is measured on.
STACK = ["fastapi", "starlette", "uvicorn", "uvloop", "httptools", "pyjwt"]
REPORTED_PACKAGES = [
    *STACK,
    "pydantic",
    "cryptography",
    "sqlalchemy",
    "aiosqlite",
    "pwdlib",
    "argon2-cffi",
    "redis",
    "cookiecutter",
]


@dataclass(frozen=True)
class Machine:
    cpu: str
    cores: int | None
    load_before: str
    os: str
    python: str
    wrk: str
    packages: dict[str, str]


def load_average() -> str:
    """The 1/5/15-minute load averages: other work on the machine skews every figure."""
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def machine() -> Machine:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for name in REPORTED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "-"
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return Machine(
        cpu=cpu,
        cores=os.cpu_count(),
        load_before=load_average(),
        os=platform.platform(),
        python=platform.python_version(),
        wrk=(wrk.stdout + wrk.stderr).split("[")[0].strip(),
        packages=versions,
    )
