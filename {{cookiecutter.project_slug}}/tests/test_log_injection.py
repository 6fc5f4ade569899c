"""Audit lines cannot be forged: text-format values are quoted and escaped, and a client
address that is not an IP address is never written as it came."""

import json
import logging
import re

import httpx
import pytest
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.logs import TextFormatter

from conftest import PASSWORD

AUDIT_LOGGER = "{{ cookiecutter.package_name }}.audit"
# One `key=value` field of a text line: a bare token or a JSON string.
FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s"]+)')
FORGED_PEER = '10.0.0.1 event=login_succeeded user_id=admin reason="ok"\nforged line'


def parse_fields(line: str) -> dict[str, str]:
    """The fields of a text log line, as a log pipeline reading logfmt would see them."""
    fields: dict[str, str] = {}
    for name, value in FIELD.findall(line):
        assert name not in fields, f"{name} appears twice in {line!r}"
        fields[name] = json.loads(value) if value.startswith('"') else value
    return fields


def _record(**fields: str) -> logging.LogRecord:
    record = logging.LogRecord(AUDIT_LOGGER, logging.INFO, __file__, 1, "login_failed", None, None)
    record.__dict__.update(fields)
    return record


@pytest.mark.parametrize(
    "value",
    [
        'bad" user_id=admin',
        "two words",
        "line\nevent=logout",
        "back\\slash\\",
        "tab\tand\rreturn",
        "unicode line\u2028separator",
        "key=value",
    ],
)
def test_a_text_line_keeps_every_value_whole(value: str) -> None:
    line = TextFormatter().format(_record(event="login_failed", client="::1", reason=value))
    assert "\n" not in line
    assert "\u2028" not in line
    assert parse_fields(line) == {"event": "login_failed", "client": "::1", "reason": value}


async def test_a_peer_that_is_not_an_ip_address_is_not_logged_raw(
    caplog: pytest.LogCaptureFixture, app: FastAPI, user_id: str
) -> None:
    transport = httpx.ASGITransport(app=app, client=(FORGED_PEER, 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post(
            "/auth/login",
            data={
                "grant_type": "password",
                "username": "alice@example.com",
                "password": "wrong " + PASSWORD,
            },
        )
    assert response.status_code == 400
    [record] = [r for r in caplog.records if r.name == AUDIT_LOGGER]
    line = TextFormatter().format(record)
    fields = parse_fields(line)
    assert fields["event"] == "login_failed"
    assert fields["user_id"] == user_id
    assert re.fullmatch(r"invalid-[0-9a-f]{12}", fields["client"])
    assert "10.0.0.1" not in line
    assert "forged" not in line


@pytest.mark.parametrize("address", ["203.0.113.7", "2001:db8::1"])
async def test_ip_addresses_are_logged_as_they_are(
    caplog: pytest.LogCaptureFixture, app: FastAPI, address: str
) -> None:
    transport = httpx.ASGITransport(app=app, client=(address, 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        form = {"grant_type": "password", "username": "nobody", "password": "wrong"}
        await client.post("/auth/login", data=form)
    [record] = [r for r in caplog.records if r.name == AUDIT_LOGGER]
    assert parse_fields(TextFormatter().format(record))["client"] == address
