"""The token store kept in Redis: sessions, their refresh tokens, revocations.

Keys (all under REDIS_KEY_PREFIX, so several services can share one Redis):
  session:<sid>       hash {user, current, expires_at, cv, created_at, last_used_at, client,
                      user_agent}; expires on its own after the session's last access token
                      could have. `client` and `user_agent` are '' when unknown
  user:<uid>          set of the user's session ids, for "log out everywhere" and the list
                      of sessions; it lives at least as long as the longest-lived session it
                      lists
  credentials:<uid>   the user's credentials version, written on every password or account
                      change: a session of an older version can neither start nor rotate
  revoked             sorted set sid -> time until which the session's access tokens must be
                      refused; a worker loads it at start and after every reconnect
  revocations         pub/sub channel: every revocation is published the moment it is made

Times are Redis's own (TIME inside the scripts), the one clock all hosts share: a worker whose
clock is off can neither shorten how long a revocation is kept nor purge other entries early.

Each worker subscribes to the channel and proves the subscription is alive with a PING on it
every REVOCATION_POLL_SECONDS (a PONG comes back after every message published before it).
While that proof is older than two intervals, or the connection is down, access tokens are
refused with 503 rather than accepted unchecked: the worker fails closed, and recovers by
itself when Redis answers again, catching up from the `revoked` set. Scripts build key names
from the prefix, so this store needs a single Redis 7+ (or its primary), not Redis Cluster.
"""

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Mapping

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine

from ...config import Settings
from ...security.redis_throttle import RedisAttemptLog
from ...security.revocation import RevokedSessions
from ...users import repository as users
from ..exceptions import AuthenticationError
from .interface import (
    NewSession,
    RotateOutcome,
    Rotation,
    SessionInfo,
    StoreBackend,
    TokenMaker,
)

logger = logging.getLogger(__name__)

# A hung Redis must turn into a quick 503, not a request that waits forever.
_SOCKET_TIMEOUT_SECONDS = 2.0
# Access tokens of a revoked session stay refused this long past their possible expiry,
# covering clock skew between the hosts that issue and verify them (and the leeway).
_REVOCATION_MARGIN_SECONDS = 60
_RECONNECT_DELAY_SECONDS = (0.05, 1.0)
_PURGE_EVERY_SECONDS = 600.0

# Every script starts with ARGV[1] = key prefix, ARGV[2] = seconds a revocation is kept.
# `now` and `until_time` are Redis's clock.
_PRELUDE = """
local prefix = ARGV[1]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local until_time = now + tonumber(ARGV[2])

-- Keep `key` at least until `at` (seconds): never shorten a lifetime another call set.
local function keep_until(key, at)
  if redis.call('EXPIRETIME', key) < at then
    redis.call('EXPIREAT', key, at)
  end
end

-- Revoke the live sessions among `sids`: forget them (so their refresh tokens fail), list
-- them as revoked until `until_time`, tell every worker. Returns {until_time, sid...}.
local function revoke(sids)
  local revoked = {string.format('%.6f', until_time)}
  for _, sid in ipairs(sids) do
    local key = prefix .. 'session:' .. sid
    local user = redis.call('HGET', key, 'user')
    if user then
      redis.call('SREM', prefix .. 'user:' .. user, sid)
      redis.call('DEL', key)
      redis.call('ZADD', prefix .. 'revoked', until_time, sid)
      table.insert(revoked, sid)
    end
  end
  if #revoked > 1 then
    redis.call('ZREMRANGEBYSCORE', prefix .. 'revoked', '-inf', now)
    keep_until(prefix .. 'revoked', math.ceil(until_time))
    redis.call('PUBLISH', prefix .. 'revocations', table.concat(revoked, ' '))
  end
  return revoked
end

-- The user's credentials version as Redis knows it (0 until the first change).
local function credentials_version(user)
  return tonumber(redis.call('GET', prefix .. 'credentials:' .. user) or '0')
end
"""

# ARGV: prefix, keep, user id, session id, refresh token id, expires_at, credentials version,
# client, user agent.
_START_SESSION_LUA = (
    _PRELUDE
    + """
local user, sid, cv = ARGV[3], ARGV[4], tonumber(ARGV[7])
if credentials_version(user) > cv then
  return 0
end
local key = prefix .. 'session:' .. sid
-- Kept past the session's end for as long as its last access token can live, so a logout
-- then still revokes that token.
local keep = tonumber(ARGV[6]) + tonumber(ARGV[2])
local stamp = string.format('%.6f', now)
redis.call(
  'HSET', key, 'user', user, 'current', ARGV[5], 'expires_at', ARGV[6], 'cv', cv,
  'created_at', stamp, 'last_used_at', stamp, 'client', ARGV[8], 'user_agent', ARGV[9]
)
redis.call('EXPIREAT', key, keep)
redis.call('SADD', prefix .. 'user:' .. user, sid)
keep_until(prefix .. 'user:' .. user, keep)
return 1
"""
)

# ARGV: prefix, keep, old token id, new token id, session id, client, user agent.
_ROTATE_LUA = (
    _PRELUDE
    + """
local key = prefix .. 'session:' .. ARGV[5]
local session = redis.call('HMGET', key, 'current', 'expires_at', 'user', 'cv')
if not session[1] or tonumber(session[2]) <= now then
  return 'invalid'
end
if credentials_version(session[3]) > tonumber(session[4] or '0') then
  -- Issued under a password or account state that has changed since.
  revoke({ARGV[5]})
  return 'invalid'
end
if session[1] == ARGV[3] then
  -- The refresh is recorded for the list of sessions in the same step.
  redis.call(
    'HSET', key, 'current', ARGV[4], 'last_used_at', string.format('%.6f', now),
    'client', ARGV[6], 'user_agent', ARGV[7]
  )
  return 'rotated'
end
if session[1] == ARGV[4] then
  -- This very call already succeeded and only its reply was lost: retrying must not look
  -- like reuse. Token ids are random, so nobody else can know ARGV[4].
  return 'rotated'
end
revoke({ARGV[5]})
return 'reused'
"""
)

# ARGV: prefix, keep, user id, session id. Returns {1 if the session was live, revoked}.
_REVOKE_SESSION_LUA = (
    _PRELUDE
    + """
local session = redis.call('HMGET', prefix .. 'session:' .. ARGV[4], 'user', 'expires_at')
if session[1] ~= ARGV[3] then
  return {0, {}}
end
-- Past its end it is still revoked (its last access token may yet be valid), but was not live.
local live = tonumber(session[2]) > now and 1 or 0
return {live, revoke({ARGV[4]})}
"""
)

# ARGV: prefix, keep, user id, the user's new credentials version or '', the session to keep
# or ''.
_REVOKE_USER_LUA = (
    _PRELUDE
    + """
local user, version, keep = ARGV[3], tonumber(ARGV[4]), ARGV[5]
if version and version > credentials_version(user) then
  -- Kept for good: one small key per user whose credentials ever changed.
  redis.call('SET', prefix .. 'credentials:' .. user, version)
end
local index = prefix .. 'user:' .. user
local sessions = redis.call('SMEMBERS', index)
redis.call('DEL', index)
local ended = {}
for _, sid in ipairs(sessions) do
  local session = redis.call('HMGET', prefix .. 'session:' .. sid, 'user', 'cv', 'expires_at')
  if sid == keep and version and session[1] == user
      and tonumber(session[2]) == version - 1 and credentials_version(user) == version
      and tonumber(session[3]) > now then
    -- The session that changed the credentials goes on under the new version, re-stamped in
    -- the step that records the version and ends the others.
    redis.call('HSET', prefix .. 'session:' .. sid, 'cv', version)
    redis.call('SADD', index, sid)
    keep_until(index, tonumber(session[3]) + tonumber(ARGV[2]))
  else
    table.insert(ended, sid)
  end
end
return revoke(ended)
"""
)

# ARGV: prefix, keep, user id. Returns {sid, created_at, last_used_at, client, user_agent}
# for each live session.
_LIST_SESSIONS_LUA = (
    _PRELUDE
    + """
local user = ARGV[3]
local current = credentials_version(user)
local listed = {}
for _, sid in ipairs(redis.call('SMEMBERS', prefix .. 'user:' .. user)) do
  local session = redis.call(
    'HMGET', prefix .. 'session:' .. sid,
    'user', 'expires_at', 'cv', 'created_at', 'last_used_at', 'client', 'user_agent'
  )
  if session[1] == user and tonumber(session[2]) > now
      and tonumber(session[3] or '0') >= current then
    table.insert(listed, {sid, session[4], session[5], session[6], session[7]})
  end
end
return listed
"""
)


def redis_client(redis_url: str) -> Redis:
    """A client for commands: one immediate retry heals a pooled connection that Redis closed
    while restarting; more would only delay the 503 while Redis is really down. Every script
    here is safe to run twice."""
    return Redis.from_url(
        redis_url,
        decode_responses=True,
        retry=Retry(NoBackoff(), 1),
        socket_timeout=_SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=_SOCKET_TIMEOUT_SECONDS,
    )


class RevocationViewStaleError(AuthenticationError):
    """This worker cannot prove it has seen every revocation, so it trusts no access token.

    An AuthenticationError, so the dependency and the middleware both answer it the same way
    they refuse a token, here with 503 and "try again": fail closed, never 500, never a pass.
    """

    status_code = 503
    detail = "Service temporarily unavailable"
    headers: Mapping[str, str] = {"Retry-After": "1"}


class SyncedRevokedSessions(RevokedSessions):
    """Revoked sessions that are only answered for while the Redis subscription is proven live."""

    def __init__(self, *, stale_after: float) -> None:
        super().__init__()
        self._stale_after = stale_after
        # Monotonic time as of which every revocation is known to be here; none yet.
        self._complete_as_of = -math.inf

    def confirm(self, as_of: float) -> None:
        """Every revocation published before monotonic time `as_of` has been applied."""
        self._complete_as_of = max(self._complete_as_of, as_of)

    def invalidate(self) -> None:
        """The subscription broke: revocations may be missed until it is re-established."""
        self._complete_as_of = -math.inf

    def is_stale(self) -> bool:
        return time.monotonic() - self._complete_as_of > self._stale_after

    def is_revoked(self, session_id: str) -> bool:
        if self.is_stale():
            raise RevocationViewStaleError
        return super().is_revoked(session_id)


class RedisTokenStore:
    """TokenStore on Redis: atomic Lua scripts for sessions and revocations, pub/sub to spread
    them. The store owns its Redis connections, and `close()` releases them; users stay in
    the database of `engine`, where a rotation reads its user first."""

    def __init__(
        self,
        redis_url: str,
        revoked: SyncedRevokedSessions,
        engine: AsyncEngine,
        *,
        key_prefix: str,
        access_ttl: int,
        poll_seconds: float,
    ) -> None:
        self._revoked = revoked
        self._engine = engine
        self._prefix = key_prefix
        # Access tokens of the session were all issued before it was revoked, so none can be
        # valid beyond that moment + access lifetime: the revocation can be forgotten then.
        self._keep_revoked = access_ttl + _REVOCATION_MARGIN_SECONDS
        self._poll_seconds = poll_seconds
        self._redis = redis_client(redis_url)
        # No retries at all for the subscriber: redis-py would silently re-subscribe, and the
        # revocations published while it was away would be lost without the reload below.
        # Bytes, not decoded strings: redis-py misreads a PONG's payload when decoding.
        self._subscriber = Redis.from_url(
            redis_url,
            retry=Retry(NoBackoff(), 0),
            socket_timeout=_SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=_SOCKET_TIMEOUT_SECONDS,
        )
        self._start_session = self._redis.register_script(_START_SESSION_LUA)
        self._rotate = self._redis.register_script(_ROTATE_LUA)
        self._revoke_session = self._redis.register_script(_REVOKE_SESSION_LUA)
        self._revoke_user = self._redis.register_script(_REVOKE_USER_LUA)
        self._list_sessions = self._redis.register_script(_LIST_SESSIONS_LUA)
        self._task: asyncio.Task[None] | None = None

    def _key(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    def _args(self, *args: str | int) -> list[str | int]:
        return [self._prefix, self._keep_revoked, *args]

    def _apply(self, revoked: list[str]) -> None:
        """Apply a script's or a message's `[until, session id...]` (empty: nothing revoked)."""
        if revoked:
            until, *session_ids = revoked
            for session_id in session_ids:
                self._revoked.add(session_id, float(until))

    async def start_session(self, session: NewSession) -> bool:
        started = await self._start_session(
            args=self._args(
                session.user_id,
                session.session_id,
                session.refresh_token_id,
                session.expires_at,
                session.credentials_version,
                session.client or "",
                session.user_agent or "",
            )
        )
        return started == 1

    async def rotate(
        self,
        session_id: str,
        old_token_id: str,
        new_token_id: str,
        *,
        user_id: str,
        client: str | None,
        user_agent: str | None,
        make_tokens: TokenMaker,
    ) -> Rotation:
        # The user is read from the database, and the new tokens made, before the script
        # spends the old token: if either fails, nothing is spent. Redis and SQL share no
        # transaction; a change to the user made after this read raises their credentials
        # version in Redis too (AccountService), which the script checks, so the rotation is
        # refused or the session revoked right after it.
        user = await users.read_by_id(self._engine, user_id)
        if user is None or not user.is_active:
            # Gone or deactivated, perhaps by hand in SQL without revoking anything: its
            # session ends here, its access tokens with it.
            await self.revoke_session(session_id, user_id)
            return Rotation(RotateOutcome.INVALID)
        tokens = make_tokens(user)
        outcome = RotateOutcome(
            await self._rotate(
                args=self._args(
                    old_token_id, new_token_id, session_id, client or "", user_agent or ""
                )
            )
        )
        if outcome is not RotateOutcome.ROTATED:
            # Refused at once by this worker too (the others learn it from the channel).
            self._revoked.add(session_id, time.time() + self._keep_revoked)
            return Rotation(outcome)
        return Rotation(outcome, tokens)

    async def list_sessions(self, user_id: str) -> list[SessionInfo]:
        rows = await self._list_sessions(args=self._args(user_id))
        sessions = [
            SessionInfo(sid, float(created_at), float(last_used_at), client or None, agent or None)
            for sid, created_at, last_used_at, client, agent in rows
        ]
        return sorted(sessions, key=lambda session: (session.created_at, session.session_id))

    async def revoke_session(self, session_id: str, user_id: str) -> bool:
        live, revoked = await self._revoke_session(args=self._args(user_id, session_id))
        self._apply(revoked)
        return live == 1

    async def revoke_user(
        self,
        user_id: str,
        *,
        credentials_version: int | None = None,
        keep_session: str | None = None,
    ) -> None:
        version = "" if credentials_version is None else credentials_version
        self._apply(await self._revoke_user(args=self._args(user_id, version, keep_session or "")))

    async def open(self) -> None:
        """Start following revocations; returns once the first attempt to sync is over.

        If Redis is down at start the app still starts, answers 503 where it needs Redis, and
        catches up by itself when Redis comes back.
        """
        first_attempt = asyncio.Event()
        self._task = asyncio.create_task(self._follow(first_attempt))
        await first_attempt.wait()

    async def close(self) -> None:
        if self._task is not None:
            # redis-py's timed read can swallow a cancellation as a timeout: insist until done.
            while not self._task.done():
                self._task.cancel()
                await asyncio.wait({self._task}, timeout=0.01)
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for close in (self._redis.aclose, self._subscriber.aclose):
            # Shutting down: a connection that Redis already dropped needs no goodbye.
            with contextlib.suppress(RedisError, OSError):
                await close()

    async def _follow(self, first_attempt: asyncio.Event) -> None:
        """Keep the revocation view complete: subscribe, load, then apply and heartbeat."""
        delay = _RECONNECT_DELAY_SECONDS[0]
        last_purge = time.monotonic()
        while True:
            pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
            try:
                # Subscribe first, then load: a revocation made in between arrives twice
                # (harmless) instead of never.
                await pubsub.subscribe(self._key("revocations"))
                loaded_as_of = time.monotonic()
                await self._load_revocations()
                self._revoked.confirm(loaded_as_of)
                first_attempt.set()
                delay = _RECONNECT_DELAY_SECONDS[0]
                while True:
                    await self._heartbeat(pubsub)
                    if time.monotonic() - last_purge > _PURGE_EVERY_SECONDS:
                        self._revoked.purge()
                        last_purge = time.monotonic()
            except (RedisError, OSError, ValueError) as exc:
                self._revoked.invalidate()
                first_attempt.set()
                logger.error("revocation subscription lost (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RECONNECT_DELAY_SECONDS[1])
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()

    async def _heartbeat(self, pubsub: PubSub) -> None:
        """PING on the subscription, applying messages until its PONG or the next interval.

        The PONG carries the PING's send time: Redis delivers in order, so every revocation
        published before that moment has been applied once it arrives.
        """
        sent = time.monotonic()
        await pubsub.ping(repr(sent))
        deadline = sent + self._poll_seconds
        while (remaining := deadline - time.monotonic()) > 0:
            message = await pubsub.get_message(timeout=remaining)
            if message is None:
                continue
            if message["type"] == "pong":
                self._revoked.confirm(float(message["data"]))
            elif message["type"] == "message":
                self._apply(message["data"].decode().split())
        if self._revoked.is_stale():
            # Connected but silent (a hung server or a dead network path): start over.
            raise TimeoutError("no PONG on the revocation subscription")

    async def _load_revocations(self) -> None:
        """Catch up: every revocation still kept, whatever this worker missed while away."""
        entries = await self._redis.zrange(self._key("revoked"), 0, -1, withscores=True)
        for session_id, until in entries:
            self._revoked.add(session_id, until)


def build_backend(settings: Settings, engine: AsyncEngine) -> StoreBackend:
    """Sessions, revocations and throttling slots in Redis; users stay in the database."""
    # Fail closed: a worker that cannot prove it has seen every revocation answers 503.
    revoked = SyncedRevokedSessions(stale_after=2 * settings.revocation_poll_seconds)
    store = RedisTokenStore(
        settings.redis_url,
        revoked,
        engine,
        key_prefix=settings.redis_key_prefix,
        access_ttl=settings.access_token_seconds,
        poll_seconds=settings.revocation_poll_seconds,
    )
    attempts = RedisAttemptLog(
        redis_client(settings.redis_url), key_prefix=settings.redis_key_prefix
    )
    # Without Redis no login, refresh or logout can be recorded: "try again shortly" is the
    # honest answer, never a 500 (stale revocations: SyncedRevokedSessions).
    return StoreBackend(
        store, revoked, attempts, unavailable=(RedisConnectionError, RedisTimeoutError)
    )
