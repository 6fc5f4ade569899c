"""Take up a key rotation in a running worker, without a restart.

`keys rotate` (key_files.py) only changes files. Every worker process checks those files every
KEY_RELOAD_SECONDS, and when any of them changed it loads the whole key set again and hands it
to the token service, which signs, verifies and publishes the JWKS from it: one source of
truth per worker.

Workers take up a rotation at different moments, within KEY_RELOAD_SECONDS of each other. That
is safe because rotation is staged: the key that starts signing was every worker's published
next key long before, so a worker that reloads late still verifies the tokens of one that
reloaded early, and the key it still signs with stays published as a retired key.

A reload that fails (a key file half-copied by hand, a key of the wrong type) keeps the key
set that works and logs one warning per change, without key material: a rotation mistake must
never take down a serving worker. The next start would refuse the same files with the message
naming the file.
"""

import asyncio
import contextlib
import logging
from pathlib import Path

from ..config import Settings, SettingsError
from .keys import load_keys, next_key_path, previous_keys_dir
from .tokens import TokenService

logger = logging.getLogger(__name__)

# What is compared between checks: each key file's path, inode, modification time and size.
# The inode catches a file renamed into place within the file system's timestamp granularity.
FileState = tuple[tuple[str, int, int, int], ...]


def key_file_state(private_key_path: Path) -> FileState:
    """The state of the signing key, the next key and the retired keys (absent ones left out)."""
    paths = [
        private_key_path,
        next_key_path(private_key_path),
        *sorted(previous_keys_dir(private_key_path).glob("*.pem")),
    ]
    state = []
    for path in paths:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        state.append((str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size))
    return tuple(state)


class KeyReloader:
    """Checks the key files every `settings.key_reload_seconds`; swaps in a changed key set."""

    def __init__(self, settings: Settings, tokens: TokenService, seen: FileState) -> None:
        """`seen` is the files' state taken before the key set in use was loaded, so a change
        made while it loaded is taken up by the first check."""
        assert settings.private_key_path is not None  # key-pair settings only
        self._settings = settings
        self._private_key_path = settings.private_key_path
        self._tokens = tokens
        self._seen = seen
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def check(self) -> bool:
        """Check the key files once; return whether a new key set is now in use."""
        async with self._lock:
            state = await asyncio.to_thread(key_file_state, self._private_key_path)
            if state == self._seen:
                return False
            # Recorded whatever the outcome: a broken file is warned about once, not every
            # interval, and tried again as soon as it changes.
            self._seen = state
            try:
                keys = await asyncio.to_thread(load_keys, self._settings)
            except SettingsError as exc:
                # Our messages name the file and the reason, never the key's contents.
                logger.warning(
                    "key files changed but were not loaded; keeping the old keys: %s", exc
                )
                return False
            except Exception as exc:  # a worker must outlive any bad key file
                logger.warning(
                    "key files changed but were not loaded (%s); keeping the old keys",
                    type(exc).__name__,
                )
                return False
            self._tokens.use_keys(keys)
            logger.info(
                "key files changed: signing with kid %s; %d keys published",
                keys.current.kid,
                len(keys.by_kid),
            )
            return True

    def start(self) -> None:
        """Start checking in the background (Services.start)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="key-reloader")

    async def stop(self) -> None:
        """Stop checking (Services.stop)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._settings.key_reload_seconds)
            try:
                await self.check()
            except Exception as exc:  # the key directory became unreadable, say
                logger.warning("checking the key files failed: %s", type(exc).__name__)
