"""Token-store settings for the database store (conftest.py loads this as a pytest plugin)."""

# What make_settings adds for this store: other workers' revocations are polled, and tests
# wait for them, so poll often.
STORE_SETTINGS: dict[str, object] = {"revocation_poll_seconds": 0.05}
SHARED_STORE_SETTINGS: dict[str, object] = {}
