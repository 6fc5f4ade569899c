"""The lowest version of each dependency that has no known advisory against it.

The one place to raise a floor when an advisory is published: test_dependency_floors.py holds
every rendered pyproject.toml, and the template's own test extra, to this table. Each entry
names what it excludes.
"""

MINIMUM_SAFE_VERSIONS = {
    # CVE-2026-32597: tokens with an unknown `crit` header parameter were accepted (RFC 7515
    # section 4.1.11 says they must be refused). Fixed in 2.12.0.
    "pyjwt": "2.12",
    # CVE-2024-53981: CR or LF bytes before the first multipart boundary were logged one by
    # one, so a large body of them stalled the event loop (denial of service). Fixed in 0.0.18.
    "python-multipart": "0.0.18",
    # CVE-2024-24762: ReDoS in the form Content-Type parser, fixed in FastAPI 0.109.1.
    "fastapi": "0.109.1",
    # CVE-2024-3772: ReDoS in email validation, fixed in pydantic 2.4.0.
    "pydantic": "2.4",
    # CVE-2023-28858 / CVE-2023-28859: a cancelled async command could leave a connection
    # returning another command's reply. Fixed in 4.5.4.
    "redis": "4.5.4",
    # CVE-2020-7694 / CVE-2020-7695: log and HTTP response splitting. Fixed in 0.11.7.
    "uvicorn": "0.11.7",
    # CVE-2026-27962: a token's embedded `jwk` header was trusted (authentication bypass),
    # fixed in 1.6.9; CVE-2026-41425 / CVE-2026-44681, fixed in 1.6.12. (A test client only,
    # in the template's test extra.)
    "authlib": "1.6.12",
}
