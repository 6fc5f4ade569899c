"""The database token store's tables: one row per login, and the log of revocations."""

import uuid

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ...db import Base
from ..session_details import MAX_CLIENT_LENGTH, MAX_USER_AGENT_LENGTH


class AuthSession(Base):
    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # The one refresh token of this session that may still be used. Any other validly signed
    # refresh token of the session is a rotated-out copy, and its return means theft.
    current_token_id: Mapped[str] = mapped_column(String(32))
    # The user's credentials version at login: the session rotates only while it is current.
    credentials_version: Mapped[int] = mapped_column(Integer)
    # Database time of the login, and of the login or last refresh, with the address and
    # User-Agent of that request (auth/session_details.py bounds them): the user's list of
    # sessions shows them.
    created_at: Mapped[float] = mapped_column(Float)
    last_used_at: Mapped[float] = mapped_column(Float)
    client: Mapped[str | None] = mapped_column(String(MAX_CLIENT_LENGTH))
    user_agent: Mapped[str | None] = mapped_column(String(MAX_USER_AGENT_LENGTH))
    # Absolute end of the session (login + REFRESH_TOKEN_DAYS), never extended by refreshing.
    expires_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[float | None] = mapped_column(Float)


class Revocation(Base):
    """One revoked session, numbered in commit order for the workers that follow the log."""

    __tablename__ = "revocations"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    session_id: Mapped[str] = mapped_column(String(32))
    # Database time after which no access token of the session can be valid anyway.
    until: Mapped[float] = mapped_column(Float, index=True)


class RevocationCounter(Base):
    """The last number given to a revocation: a single row, locked by each revoking
    transaction until it commits, so numbers are handed out in commit order."""

    __tablename__ = "revocation_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
