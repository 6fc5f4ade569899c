"""The rules a new password must pass, following NIST SP 800-63B section 5.1.1.2 and the OWASP
Authentication Cheat Sheet: long enough, not the username, not a known common password.

There are deliberately no composition rules ("one digit, one symbol"): they push people to
`Password1!`, which the common-password check then refuses anyway.
"""

import string
from functools import cache
from importlib.resources import files

from .repository import username_key

# Digits and symbols people put around a common word ("!Summer2024!", "2024password").
_DECORATION = string.digits + string.punctuation + " "
# Character swaps that make "p@ssw0rd" look clever; "1" is tried as both "i" and "l".
_LEET = [str.maketrans("0@4$5!37891", "oaassietbgi"), str.maketrans("1", "l")]
# Shorter usernames are not searched for: "password contains 'al'" would refuse half the
# dictionary, and a password equal to so short a name already fails the minimum length.
_MIN_USERNAME_TO_SEARCH = 4


class PasswordRejectedError(Exception):
    """`rule` is a stable machine-readable name; `message` tells the person what to change."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(rule, message)
        self.rule = rule
        self.message = message


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (lower case), read once."""
    text = files(__package__).joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("# "))


def _variants(password: str) -> set[str]:
    """The forms a common password hides behind: case, decoration, spaces, leetspeak."""
    folded = password.casefold()
    base = {folded, folded.strip(_DECORATION), "".join(folded.split())}
    return base | {form.translate(table) for form in base for table in _LEET}


class PasswordPolicy:
    """Checks a new password against the rules; the maximum length is the request schema's."""

    def __init__(self, *, min_length: int) -> None:
        self._min_length = min_length

    def check(self, username: str, password: str) -> None:
        """Raise PasswordRejectedError naming the first rule `password` breaks."""
        if len(password) < self._min_length:
            raise PasswordRejectedError(
                "password_too_short", f"Password must have at least {self._min_length} characters"
            )
        name, folded = username_key(username), username_key(password)
        # An email address is also refused by its local part: "erin" for erin@example.com.
        parts = {name, name.partition("@")[0]}
        if any(len(part) >= _MIN_USERNAME_TO_SEARCH and part in folded for part in parts):
            raise PasswordRejectedError(
                "password_contains_username", "Password must not contain the username"
            )
        if _variants(password) & common_passwords():
            raise PasswordRejectedError(
                "password_too_common", "Password is too common; choose a less guessable one"
            )
