"""Where sessions, revocations and throttling slots live: `interface.py` is what every store
offers; `database.py` (the application database) or `redis.py` (Redis) implements it. The
project keeps the one it was generated with."""
