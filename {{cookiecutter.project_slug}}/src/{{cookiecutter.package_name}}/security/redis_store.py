"""The token store kept in Redis: sessions, their refresh tokens, revocations, login throttling.

Keys (all under REDIS_KEY_PREFIX, so several services can share one Redis):
  session:<sid>       hash {user, current, expires_at}; expires on its own after the session
  user:<uid>          set of the user's session ids, for "log out everywhere"
  revoked             sorted set sid -> time until which the session's access tokens must be
                      refused; a worker loads it at start
  revocations         pub/sub channel: every revocation is published the moment it is made

Each worker subscribes to the channel and proves the subscription is alive with a PING on it
every REVOCATION_POLL_SECONDS (a PONG comes back after every message published before it).
While that proof is older than two intervals, or the connection is down, access tokens are
refused with 503 rather than accepted unchecked: the worker fails closed, and recovers by
itself when Redis answers again. Scripts build key names from the prefix, so this store needs
a single Redis (or its primary), not Redis Cluster.
"""

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Mapping

from limits.aio.storage import RedisStorage, Storage
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ..auth.authenticator import AuthenticationError
from .revocation import RevokedSessions, RotateOutcome

logger = logging.getLogger(__name__)

# A hung Redis must turn into a quick 503, not a request that waits forever.
_SOCKET_TIMEOUT_SECONDS = 2.0
# Access tokens of a revoked session stay refused this long past their possible expiry,
# covering clock skew between workers (and the verifier's leeway).
_REVOCATION_MARGIN_SECONDS = 60
_RECONNECT_DELAY_SECONDS = (0.05, 1.0)
_PURGE_EVERY_SECONDS = 600.0

# Revoke the live sessions among `sids`: forget them (so their refresh tokens fail), list
# them as revoked until `until_time`, tell every worker, and return their ids.
_REVOKE_LUA = """
local function revoke(prefix, now, until_time, until_int, sids)
  local revoked = {}
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
  if #revoked > 0 then
    redis.call('ZREMRANGEBYSCORE', prefix .. 'revoked', '-inf', now)
    redis.call('EXPIREAT', prefix .. 'revoked', until_int)
    redis.call('PUBLISH', prefix .. 'revocations', until_time .. ' ' .. table.concat(revoked, ' '))
  end
  return revoked
end
"""

# ARGV: prefix, now, until, until_int, old token id, new token id, session id.
_ROTATE_LUA = (
    _REVOKE_LUA
    + """
local key = ARGV[1] .. 'session:' .. ARGV[7]
local session = redis.call('HMGET', key, 'current', 'expires_at')
if not session[1] or tonumber(session[2]) <= tonumber(ARGV[2]) then
  return 'invalid'
end
if session[1] == ARGV[5] then
  redis.call('HSET', key, 'current', ARGV[6])
  return 'rotated'
end
if session[1] == ARGV[6] then
  -- This very call already succeeded and only its reply was lost: retrying must not look
  -- like reuse. Token ids are random, so nobody else can know ARGV[6].
  return 'rotated'
end
revoke(ARGV[1], ARGV[2], ARGV[3], ARGV[4], {ARGV[7]})
return 'reused'
"""
)

# ARGV: prefix, now, until, until_int, user id, session id.
_REVOKE_SESSION_LUA = (
    _REVOKE_LUA
    + """
if redis.call('HGET', ARGV[1] .. 'session:' .. ARGV[6], 'user') ~= ARGV[5] then
  return {}
end
return revoke(ARGV[1], ARGV[2], ARGV[3], ARGV[4], {ARGV[6]})
"""
)

# ARGV: prefix, now, until, until_int, user id.
_REVOKE_USER_LUA = (
    _REVOKE_LUA
    + """
local sessions = redis.call('SMEMBERS', ARGV[1] .. 'user:' .. ARGV[5])
redis.call('DEL', ARGV[1] .. 'user:' .. ARGV[5])
return revoke(ARGV[1], ARGV[2], ARGV[3], ARGV[4], sessions)
"""
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
    """TokenStore on Redis: atomic Lua scripts for rotation and revocation, pub/sub to spread it.

    The store owns every connection to Redis, the login throttle's included, so `close()`
    releases them all.
    """

    def __init__(
        self,
        redis_url: str,
        revoked: SyncedRevokedSessions,
        *,
        key_prefix: str,
        access_ttl: int,
        poll_seconds: float,
    ) -> None:
        self._revoked = revoked
        self._prefix = key_prefix
        self._access_ttl = access_ttl
        self._poll_seconds = poll_seconds
        timeouts = {
            "socket_timeout": _SOCKET_TIMEOUT_SECONDS,
            "socket_connect_timeout": _SOCKET_TIMEOUT_SECONDS,
        }
        # One immediate retry heals a pooled connection that Redis closed while restarting;
        # more would only delay the 503 while Redis is really down. Every script is safe to
        # run twice.
        self._redis = Redis.from_url(
            redis_url, decode_responses=True, retry=Retry(NoBackoff(), 1), **timeouts
        )
        # No retries at all for the subscriber: redis-py would silently re-subscribe, and the
        # revocations published while it was away would be lost without the reload below.
        # Bytes, not decoded strings: redis-py misreads a PONG's payload when decoding.
        self._subscriber = Redis.from_url(redis_url, retry=Retry(NoBackoff(), 0), **timeouts)
        self._throttle_pool = ConnectionPool.from_url(
            redis_url, retry=Retry(NoBackoff(), 1), **timeouts
        )
        self.throttle_storage: Storage = RedisStorage(
            f"async+{redis_url}",
            implementation="redispy",
            key_prefix=f"{key_prefix}throttle",
            connection_pool=self._throttle_pool,
        )
        self._rotate = self._redis.register_script(_ROTATE_LUA)
        self._revoke_session = self._redis.register_script(_REVOKE_SESSION_LUA)
        self._revoke_user = self._redis.register_script(_REVOKE_USER_LUA)
        self._task: asyncio.Task[None] | None = None

    def _key(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    def _revocation_args(self) -> list[str | float | int]:
        # Access tokens of the session were all issued before now, so none can be valid
        # beyond now + access lifetime: the revocation can be forgotten after that.
        now = time.time()
        until = now + self._access_ttl + _REVOCATION_MARGIN_SECONDS
        return [self._prefix, repr(now), repr(until), math.ceil(until)]

    def _apply(self, until: float, session_ids: list[str]) -> None:
        for session_id in session_ids:
            self._revoked.add(session_id, until)

    async def start_session(
        self, user_id: str, session_id: str, refresh_token_id: str, expires_at: int
    ) -> None:
        # Kept past the session's end for as long as its last access token can live, so a
        # logout then still revokes that token.
        keep_until = expires_at + self._access_ttl + _REVOCATION_MARGIN_SECONDS
        session_key, user_key = self._key("session", session_id), self._key("user", user_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                session_key,
                mapping={"user": user_id, "current": refresh_token_id, "expires_at": expires_at},
            )
            pipe.expireat(session_key, keep_until)
            pipe.sadd(user_key, session_id)
            # Sessions all last as long, so the newest one decides when the set can go.
            pipe.expireat(user_key, keep_until)
            await pipe.execute()

    async def rotate(self, session_id: str, old_token_id: str, new_token_id: str) -> RotateOutcome:
        args = self._revocation_args()
        outcome = RotateOutcome(
            await self._rotate(args=[*args, old_token_id, new_token_id, session_id])
        )
        if outcome is RotateOutcome.REUSED:
            self._apply(float(args[2]), [session_id])
        return outcome

    async def revoke_session(self, session_id: str, user_id: str) -> None:
        args = self._revocation_args()
        self._apply(float(args[2]), await self._revoke_session(args=[*args, user_id, session_id]))

    async def revoke_user(self, user_id: str) -> None:
        args = self._revocation_args()
        self._apply(float(args[2]), await self._revoke_user(args=[*args, user_id]))

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
        for close in (self._redis.aclose, self._subscriber.aclose, self._throttle_pool.aclose):
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
                until, *session_ids = message["data"].decode().split()
                self._apply(float(until), session_ids)
        if self._revoked.is_stale():
            # Connected but silent (a hung server or a dead network path): start over.
            raise TimeoutError("no PONG on the revocation subscription")

    async def _load_revocations(self) -> None:
        entries = await self._redis.zrangebyscore(
            self._key("revoked"), time.time(), "+inf", withscores=True
        )
        for session_id, until in entries:
            self._revoked.add(session_id, until)
