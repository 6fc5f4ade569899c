"""The rules a new password must pass, following NIST SP 800-63B section 5.1.1.2 and the OWASP
Authentication Cheat Sheet: long enough, not only whitespace, not the username or the service's
name ("context-specific words"), not a known common password, not mostly repeated or sequential
characters. Registration, POST /users/me/password and the command line (`create-user`,
`set-password`) apply the same.

There are deliberately no composition rules ("one digit, one symbol"): they push people to
`Password1!`, which the common-password check then refuses anyway.
"""

import string
from functools import cache
from importlib.resources import files
from itertools import pairwise

from .repository import username_key

# Digits and symbols people put around a common word ("!Summer2024!", "2024password").
_DECORATION = string.digits + string.punctuation + " "
# Character swaps that make "p@ssw0rd" look clever; "1" is tried as both "i" and "l".
_LEET = [str.maketrans("0@4$5!37891", "oaassietbgi"), str.maketrans("1", "l")]
# Shorter usernames and service names are not searched for: "password contains 'al'" would
# refuse half the dictionary, and a password equal to so short a name is too short anyway.
_MIN_USERNAME_TO_SEARCH = 4
# The service's own name, as people write it: NIST's example of a context-specific word.
_SERVICE_NAMES = (
    {{ cookiecutter.project_name | tojson }},
    __name__.partition(".")[0],
)
# Rows of a US keyboard, for runs like `qwerty` or `asdf`.
_KEYBOARD_ROWS = ("`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./")
_KEYBOARD_NEIGHBOURS = frozenset(
    pair for row in _KEYBOARD_ROWS for a, b in pairwise(row) for pair in ((a, b), (b, a))
)
# Refused when at least this share of the characters follows from the ones before.
_MAX_PREDICTABLE_SHARE = 0.5


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


def _letters_and_digits(text: str) -> str:
    return "".join(char for char in text.casefold() if char.isalnum())


def _predictable_share(password: str) -> float:
    """The share of characters that follow from the ones before them: the same again (`aaaa`),
    the next one up or down (`1234`, `cba`) or along a keyboard row (`qwerty`), or the end of a
    stretch of three typed before (`abc123abc123`). A guesser tries these first."""
    folded = password.casefold()
    predictable = 0
    for index in range(1, len(folded)):
        previous, current = folded[index - 1], folded[index]
        if (
            abs(ord(current) - ord(previous)) <= 1
            or (previous, current) in _KEYBOARD_NEIGHBOURS
            or (index >= 2 and folded[index - 2 : index + 1] in folded[:index])
        ):
            predictable += 1
    return predictable / len(folded)


def _contains_service_name(password: str) -> bool:
    """Whether the service's name is in `password`, whatever the case, separators or leetspeak
    (`My-$3rv1ce!` holds "My Service")."""
    folded = password.casefold()
    forms = {_letters_and_digits(form) for form in (folded, *(folded.translate(t) for t in _LEET))}
    names = {_letters_and_digits(name) for name in _SERVICE_NAMES}
    searched = [name for name in names if len(name) >= _MIN_USERNAME_TO_SEARCH]
    return any(name in form for name in searched for form in forms)


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
        if not password.strip():
            raise PasswordRejectedError("password_blank", "Password must not be only whitespace")
        name, folded = username_key(username), username_key(password)
        # An email address is also refused by its local part: "erin" for erin@example.com.
        parts = {name, name.partition("@")[0]}
        if any(len(part) >= _MIN_USERNAME_TO_SEARCH and part in folded for part in parts):
            raise PasswordRejectedError(
                "password_contains_username", "Password must not contain the username"
            )
        if _contains_service_name(password):
            raise PasswordRejectedError(
                "password_contains_service_name", "Password must not contain the service's name"
            )
        if _variants(password) & common_passwords():
            raise PasswordRejectedError(
                "password_too_common", "Password is too common; choose a less guessable one"
            )
        if _predictable_share(password) >= _MAX_PREDICTABLE_SHARE:
            raise PasswordRejectedError(
                "password_repetitive",
                "Password must not be mostly repeated or sequential characters",
            )
