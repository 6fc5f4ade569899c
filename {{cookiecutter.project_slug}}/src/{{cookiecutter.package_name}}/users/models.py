"""The `users` table."""

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, String, func
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base
from .roles import Role

MAX_USERNAME_LENGTH = 254  # the longest valid email address, which is a valid username


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('user', 'admin')", name="ck_users_role"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(MAX_USERNAME_LENGTH))
    # The username folded for comparison; unique, so "Alice" and "alice" are one account.
    username_key: Mapped[str] = mapped_column(String(4 * MAX_USERNAME_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    # What the user may do, as the scopes of users/roles.py. Changing it is a credentials
    # change: it raises credentials_version and ends the user's sessions.
    role: Mapped[str] = mapped_column(String(16), default=Role.USER, server_default=Role.USER)
    # Raised by every change to the password or the account's state. A session starts, and a
    # refresh token rotates, only while the version it was issued under is still current, so
    # a login that was already hashing when the password changed cannot outlive the change.
    credentials_version: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
