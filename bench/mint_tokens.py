"""Mint access tokens with a bake's own TokenService, one per line, each of its own session.

Usage (from the bake's directory, its `src` on PYTHONPATH, the servers' environment):
    python mint_tokens.py PACKAGE COUNT OUT

Not part of the `bench` package: it runs inside the bake, like its servers. The tokens come
from `TokenService.issue`, the code the login route uses, so they are exactly what a server
would hand out (claims, header, key), without COUNT argon2 logins.
"""

import importlib
import sys
import time
import uuid


def main() -> int:
    package, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    config = importlib.import_module(f"{package}.config")
    app_module = importlib.import_module(f"{package}.main")
    tokens = app_module.build_services(config.get_settings()).tokens
    user_id, now = str(uuid.uuid4()), int(time.time())
    with open(out, "w", encoding="ascii") as handle:
        for _ in range(count):
            handle.write(
                tokens.issue(user_id, uuid.uuid4().hex, now, ("profile",)).access_token + "\n"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
