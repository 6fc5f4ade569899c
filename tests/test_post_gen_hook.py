"""The post-gen hook's secrets, signing keys and option-file removal, tested in isolation.

Each test runs the hook's functions inside an empty temporary directory standing in for a
freshly rendered project, so every algorithm is covered before the template enables it.
"""

import re
import stat
from pathlib import Path
from types import ModuleType

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

EXAMPLE = "# Settings\r\nSECRET_KEY=change-me\r\nJWT_ALGORITHM=HS256\r\nNAME=Café\r\n"
SECRET_LINE = re.compile(r"^SECRET_KEY=([A-Za-z0-9_-]{43,})$", re.MULTILINE)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project directory, made the working directory as cookiecutter does."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def mode(path: Path) -> int:
    """Return the permission bits of `path`."""
    return stat.S_IMODE(path.stat().st_mode)


def load_key(path: Path) -> object:
    """Load a PEM private key the way the rendered app does, through `cryptography`."""
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def test_env_file_is_the_example_with_a_fresh_secret(
    post_gen_hook: ModuleType, project: Path
) -> None:
    (project / ".env.example").write_bytes(EXAMPLE.encode())
    post_gen_hook.write_env_file()
    env = (project / ".env").read_bytes().decode()
    secret = SECRET_LINE.search(env)
    assert secret, env
    assert env == EXAMPLE.replace("\r\n", "\n").replace("change-me", secret[1])
    assert mode(project / ".env") == 0o600


def test_env_file_is_never_overwritten(post_gen_hook: ModuleType, project: Path) -> None:
    (project / ".env.example").write_text(EXAMPLE)
    (project / ".env").write_text("SECRET_KEY=keep-me\n")
    with pytest.raises(SystemExit, match=r"\.env already exists"):
        post_gen_hook.write_env_file()
    assert (project / ".env").read_text() == "SECRET_KEY=keep-me\n"


@pytest.mark.parametrize("example", ["JWT_ALGORITHM=HS256\n", "SECRET_KEY=a\nSECRET_KEY=b\n"])
def test_example_needs_exactly_one_secret_key_line(
    post_gen_hook: ModuleType, project: Path, example: str
) -> None:
    (project / ".env.example").write_text(example)
    with pytest.raises(SystemExit, match="exactly one SECRET_KEY= line"):
        post_gen_hook.write_env_file()


@pytest.mark.parametrize(
    ("algorithm", "key_type"),
    [
        ("EdDSA", ed25519.Ed25519PrivateKey),
        ("ES256", ec.EllipticCurvePrivateKey),
        ("RS256", rsa.RSAPrivateKey),
    ],
)
def test_asymmetric_algorithm_gets_a_signing_and_a_next_key_only_its_owner_reads(
    post_gen_hook: ModuleType, project: Path, algorithm: str, key_type: type
) -> None:
    post_gen_hook.write_signing_key(algorithm, "my_service")
    keys = [project / "keys" / name for name in ("private.pem", "next.pem")]
    for key_file in keys:
        assert isinstance(load_key(key_file), key_type)
        assert mode(key_file) == 0o600
    assert mode(project / "keys") == 0o700
    # The staged next key is a key of its own, not a copy of the signing key.
    assert keys[0].read_bytes() != keys[1].read_bytes()
    assert sorted(path.name for path in (project / "keys").iterdir()) == ["next.pem", "private.pem"]


def test_p256_key_is_on_the_right_curve(post_gen_hook: ModuleType) -> None:
    key = serialization.load_pem_private_key(post_gen_hook.p256_private_key(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)


@pytest.mark.parametrize("draw", ["lowest", "highest"])
def test_p256_scalar_stays_inside_the_group_order(
    post_gen_hook: ModuleType, monkeypatch: pytest.MonkeyPatch, draw: str
) -> None:
    # randbelow(n - 1) returns 0 .. n - 2; the key's scalar must then be 1 .. n - 1.
    order = post_gen_hook.P256_ORDER
    monkeypatch.setattr(
        post_gen_hook.secrets, "randbelow", lambda bound: 0 if draw == "lowest" else bound - 1
    )
    key = serialization.load_pem_private_key(post_gen_hook.p256_private_key(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    expected = 1 if draw == "lowest" else order - 1
    assert key.private_numbers().private_value == expected


def test_rsa_key_is_3072_bits(post_gen_hook: ModuleType) -> None:
    key = serialization.load_pem_private_key(post_gen_hook.rsa_private_key(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 3072


@pytest.mark.parametrize("generate", ["ed25519_private_key", "p256_private_key"])
def test_every_key_is_new(post_gen_hook: ModuleType, generate: str) -> None:
    assert getattr(post_gen_hook, generate)() != getattr(post_gen_hook, generate)()


def test_rsa_without_openssl_tells_how_to_make_the_key(
    post_gen_hook: ModuleType,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(post_gen_hook.shutil, "which", lambda _: None)
    post_gen_hook.write_signing_key("RS256", "my_service")
    assert "python -m my_service keys generate" in capsys.readouterr().err
    assert not (project / "keys").exists()


def test_hs256_needs_no_key_file(post_gen_hook: ModuleType, project: Path) -> None:
    post_gen_hook.write_signing_key("HS256", "my_service")
    assert list(project.iterdir()) == []


def make_files(root: Path, paths: list[str]) -> None:
    """Create empty files at `paths` under `root`."""
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).touch()


def option_files(post_gen_hook: ModuleType, answers: dict[str, object] | None = None) -> list[str]:
    """The files the manifest names for the package `my_service`: all of them, or with
    `answers` only those of the values chosen there."""
    return [
        path.format(package="my_service")
        for (field, value), paths in post_gen_hook.OPTION_FILES.items()
        if answers is None or answers[field] == value
        for path in paths
    ]


def test_unchosen_options_leave_no_files_or_empty_directories(
    post_gen_hook: ModuleType, project: Path, default_answers: dict[str, object]
) -> None:
    answers = default_answers | {"package_name": "my_service"}
    kept = ["src/my_service/auth/router.py", "tests/test_auth.py"]
    kept += option_files(post_gen_hook, answers)
    make_files(project, kept + option_files(post_gen_hook))
    post_gen_hook.remove_files(post_gen_hook.disabled_option_files(answers))
    remaining = sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file())
    assert remaining == sorted(set(kept))
    # Directories the removals emptied (tests/ of middleware-only files, say) are gone too.
    assert all(any(d.iterdir()) for d in project.rglob("*") if d.is_dir())
    assert (project / "src/my_service/auth").is_dir()


def test_chosen_options_keep_their_files(
    post_gen_hook: ModuleType, default_answers: dict[str, object]
) -> None:
    for (field, value), paths in post_gen_hook.OPTION_FILES.items():
        answers = default_answers | {field: value, "package_name": "my_service"}
        disabled = post_gen_hook.disabled_option_files(answers)
        assert not {Path(path.format(package="my_service")) for path in paths} & set(disabled)


def test_option_files_not_written_yet_are_tolerated(
    post_gen_hook: ModuleType, project: Path
) -> None:
    post_gen_hook.remove_files([Path("src/my_service/auth/cookies.py")])
    assert list(project.iterdir()) == []


def test_next_steps_name_the_real_commands(post_gen_hook: ModuleType) -> None:
    steps = post_gen_hook.next_steps("my-service", "my_service")
    for command in (
        "cd my-service",
        "pip install -e '.[dev]'",
        "python -m my_service migrate",
        "python -m my_service create-user admin --role admin",
        "python -m my_service serve",
        "pytest",
    ):
        assert command in steps
