"""How guessable a SECRET_KEY is: an estimate of its randomness, in bits.

Length is no measure: `my-super-secret-key-for-jwt-signing` is 35 bytes that anyone who has
read a few tutorials will try, and `changeme` repeated a hundred times is no stronger than
once. Whoever holds the key can forge any token (OWASP JWT cheat sheet, "weak secret"), and a
guessed key can be tested offline against a single token, so the estimate charges for the
patterns guessing tools try first (zxcvbn's approach, much reduced):

- words from `guessable_words.txt`, also in capitals or leetspeak (`S3cr3t`): a few bits each;
- sequences such as `abcdef`, `0123456789` or `zyx`: a few bits each;
- any stretch of 3 or more characters that already appeared earlier: almost nothing;
- every other character: log2 of the alphabet its character classes span.

A key is refused below `MIN_BITS`, when such patterns make up half of it or more, or when it
has fewer than `MIN_DISTINCT_CHARACTERS` different characters, whatever its length.
`secrets.token_urlsafe(48)`, which the template writes, is estimated at about 420 bits.
"""

import math
from dataclasses import dataclass
from importlib.resources import files

# 2**128 guesses are out of reach; a 32-byte random key has 256 bits.
MIN_BITS = 128
MIN_DISTINCT_CHARACTERS = 10
MAX_PATTERNED_SHARE = 0.5
MIN_RUN = 3
GENERATE_HINT = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'

# Words that example keys, tutorials and first attempts are made of (one per line; `#` lines
# are comments).
_WORD_FILE = files(__package__).joinpath("guessable_words.txt").read_text(encoding="utf-8")
GUESSABLE_WORDS = frozenset(
    line.strip() for line in _WORD_FILE.splitlines() if line.strip() and not line.startswith("#")
)
_LONGEST_WORD = max(map(len, GUESSABLE_WORDS))
# A letter or digit a leetspeak word stands in for: `s3cr3t` is `secret`.
_UNLEET = str.maketrans("0134578@$!", "oieastbasi")
_CLASSES = (
    (str.islower, 26),
    (str.isupper, 26),
    (str.isdigit, 10),
)
_OTHER_CLASS = 33  # the printable ASCII symbols and space; anything else is counted with them


@dataclass(frozen=True, slots=True)
class KeyStrength:
    """The estimate for one key."""

    bits: float
    patterned_share: float  # of its characters, the share inside words, sequences, repeats
    distinct_characters: int


def _alphabet(key: str) -> int:
    size = sum(size for test, size in _CLASSES if any(test(ch) and ch.isascii() for ch in key))
    if any(not (ch.isascii() and ch.isalnum()) for ch in key):
        size += _OTHER_CLASS
    return size


def _word_at(folded: str, start: int) -> int:
    """Length of the longest guessable word at `start`, or 0."""
    for length in range(min(_LONGEST_WORD, len(folded) - start), 1, -1):
        if folded[start : start + length] in GUESSABLE_WORDS:
            return length
    return 0


def _sequence_at(key: str, start: int) -> int:
    """Length of the run of steadily rising or falling characters at `start` (`abc`, `987`)."""
    if start + 1 >= len(key):
        return 0
    step = ord(key[start + 1]) - ord(key[start])
    if step not in (1, -1):
        return 0
    end = start + 1
    while end + 1 < len(key) and ord(key[end + 1]) - ord(key[end]) == step:
        end += 1
    length = end - start + 1
    return length if length >= MIN_RUN else 0


def _repeat_at(key: str, start: int) -> int:
    """Length of the longest stretch at `start` that also begins somewhere earlier."""
    length = 0
    while start + length < len(key) and (
        key.find(key[start : start + length + 1], 0, start + length) != -1
    ):
        length += 1
    return length if length >= MIN_RUN else 0


def estimate(key: str) -> KeyStrength:
    """Estimate `key`'s randomness, reading it left to right and charging each stretch as the
    cheapest explanation a guesser has for it."""
    if not key:
        return KeyStrength(0.0, 1.0, 0)
    folded = key.lower().translate(_UNLEET)
    per_character = math.log2(_alphabet(key))
    word_bits = math.log2(len(GUESSABLE_WORDS)) + 1  # which word, and its capitalisation
    bits = 0.0
    patterned = 0
    position = 0
    while position < len(key):
        found = {
            "word": _word_at(folded, position),
            "sequence": _sequence_at(key, position),
            "repeat": _repeat_at(key, position),
        }
        kind = max(found, key=lambda name: found[name])
        length = found[kind]
        if length == 0:
            bits += per_character
            position += 1
            continue
        if kind == "word":
            bits += word_bits
        elif kind == "sequence":
            bits += per_character + math.log2(length)  # where it starts, how long it runs
        else:
            bits += math.log2(position) + math.log2(length)  # where it came from, how long
        patterned += length
        position += length
    return KeyStrength(bits, patterned / len(key), len(set(key)))


def weakness(key: str) -> str | None:
    """Why `key` is too guessable to sign tokens with, or None if it is not."""
    strength = estimate(key)
    if strength.distinct_characters < MIN_DISTINCT_CHARACTERS:
        problem = f"uses only {strength.distinct_characters} different characters"
    elif strength.patterned_share >= MAX_PATTERNED_SHARE:
        problem = "is mostly common words, sequences or repeats"
    elif strength.bits < MIN_BITS:
        problem = f"has about {strength.bits:.0f} bits of randomness, fewer than {MIN_BITS}"
    else:
        return None
    return f"{problem}, so it can be guessed; generate one with: {GENERATE_HINT}"
