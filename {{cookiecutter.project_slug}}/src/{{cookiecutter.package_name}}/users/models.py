"""The `users` table."""

import uuid
from datetime import datetime

from sqlalchemy import String, func
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base

MAX_USERNAME_LENGTH = 254  # the longest valid email address, which is a valid username


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(MAX_USERNAME_LENGTH))
    # The username folded for comparison; unique, so "Alice" and "alice" are one account.
    username_key: Mapped[str] = mapped_column(String(4 * MAX_USERNAME_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
