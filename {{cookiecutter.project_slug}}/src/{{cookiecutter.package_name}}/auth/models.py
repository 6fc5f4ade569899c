"""The `auth_sessions` table: one row per login (a refresh-token family)."""

import uuid

from sqlalchemy import BigInteger, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base


class AuthSession(Base):
    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # The one refresh token of this session that may still be used. Any other validly signed
    # refresh token of the session is a rotated-out copy, and its return means theft.
    current_token_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[float] = mapped_column(Float)
    # Absolute end of the session (login + REFRESH_TOKEN_DAYS), never extended by refreshing.
    expires_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[float | None] = mapped_column(Float, index=True)
