"""A hostile registry or token server cannot crash, stall or exhaust the broker.

Every answer below ends as a failed preflight step with a message, within the invocation's
time, never as an exception: in ``warn`` mode the login is still served, and one such
registry does not break ``broker check`` or the canary for the others.
"""

from __future__ import annotations

import json
import threading
import time
import tracemalloc

import pytest

from broker import challenges, preflight
from broker.app import App
from broker.cli import LocalContext, main
from broker.config import parse_config
from broker.deadline import Deadline
from broker.errors import ConfigError
from tests.support.configs import block, registry
from tests.support.scripted import challenge, gzipped, json_body, response

TOKEN_CHALLENGE = 'Bearer realm="http://{netloc}/token",service="svc"'


def token_registry(scripted, token_answer):
    """A registry on 127.0.0.1 whose token endpoint (same host) answers ``token_answer``."""
    reg = scripted("127.0.0.1")
    reg.on("/v2/", challenge(TOKEN_CHALLENGE.format(netloc=reg.netloc)))
    reg.on("/token", token_answer)
    return reg


def check_within(reg, login, seconds: float, deadline: Deadline | None = None,
                 **extra) -> preflight.Result:
    """Run the check in a thread; fail unless it returns a Result within ``seconds``."""
    outcome: dict = {}
    config = registry(reg.netloc, insecure=True, **extra)

    def run() -> None:
        try:
            outcome["result"] = preflight.check(config, login, deadline=deadline)
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            outcome["error"] = exc
    started = time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds + 5)
    elapsed = time.monotonic() - started
    assert "error" not in outcome, f"the check raised {outcome.get('error')!r}"
    assert "result" in outcome, f"the check was still running after {elapsed:.1f} s"
    assert elapsed < seconds, f"the check took {elapsed:.1f} s"
    return outcome["result"]


# --- Finding 8: every failure is a failed step, never an exception ----------------------------

HOSTILE_TOKEN_ANSWERS = {
    "garbage gzip": response(200, [("Content-Encoding", "gzip")], b"\x1f\x8bnot really gzip" * 9),
    "truncated body": response(200, [("Content-Type", "application/json")], b'{"tok',
                               length=4096),
    "non-latin-1 token": json_body(json.dumps({"token": "tok\u2603\u00e9n"}, ensure_ascii=False)),
    "token with CR LF": json_body(json.dumps({"token": "tok\r\nX-Injected: 1"})),
    "token with spaces": json_body(json.dumps({"token": "tok en"})),
    "huge token": json_body(json.dumps({"token": "t" * 300_000})),
    "gzip bomb": response(200, [("Content-Encoding", "gzip")], gzipped(b"0" * (64 << 20))),
}


@pytest.mark.parametrize("case", HOSTILE_TOKEN_ANSWERS)
def test_hostile_token_answers_end_as_a_failed_step(scripted, login, case):
    reg = token_registry(scripted, HOSTILE_TOKEN_ANSWERS[case])
    tracemalloc.start()
    try:
        result = check_within(reg, login, 3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.ok, result.step) == (False, "token"), result.detail
    assert peak < 16 << 20, f"{peak >> 20} MiB held for one answer"
    assert not [r for r in reg.requests if r.path == "/v2/" and "authorization" in r.headers]


def test_a_slow_body_is_a_failed_step(scripted, login):
    slow = [(response(200, [("Content-Type", "application/json")], b"", length=20), 0.0),
            (b'{"token": "late"}   ', 2.0)]
    reg = token_registry(scripted, slow)
    result = check_within(reg, login, 2.5, timeout=0.5)
    assert (result.ok, result.step) == (False, "token")
    assert "timed out" in result.detail


def test_an_unparseable_realm_is_a_failed_step(scripted, login):
    reg = scripted("127.0.0.1").on("/v2/", challenge('Bearer realm="https://[x",service="s"'))
    result = check_within(reg, login, 2)
    assert (result.ok, result.step) == (False, "realm")


def test_warn_mode_still_serves_the_login_when_the_registry_misbehaves(scripted, login,
                                                                      log_lines):
    reg = token_registry(scripted, HOSTILE_TOKEN_ANSWERS["garbage gzip"])
    config = {"registries": {"r": block(reg.netloc, insecure=True, preflight="warn")}}
    app = App(json.dumps(config), environ={"RU": "robot", "RP": login.password})
    assert app.invoke({}, LocalContext("r"))["Credentials"]["Username"] == "robot"
    assert log_lines()[-1]["preflight"] == "warned"


def test_one_hostile_registry_does_not_break_broker_check(scripted, login, tmp_path, capsys,
                                                          monkeypatch):
    hostile = token_registry(scripted, HOSTILE_TOKEN_ANSWERS["non-latin-1 token"])
    fine = scripted("127.0.0.1").on("/v2/", response(200))
    monkeypatch.setenv("RU", "robot")
    monkeypatch.setenv("RP", login.password)
    path = tmp_path / "broker.json"
    path.write_text(json.dumps({"registries": {
        "hostile": block(hostile.netloc, insecure=True), "fine": block(fine.netloc, insecure=True)}}))
    assert main(["check", "--config", str(path), "--json"]) == 1
    results = {r["registry"]: r["ok"] for r in json.loads(capsys.readouterr().out)}
    assert results == {"hostile": False, "fine": True}


def test_a_check_has_a_budget_of_its_own_even_without_an_invocation(scripted, login):
    reg = scripted("127.0.0.1")
    hop = 0.45  # each answer just inside the 0.5 s timeout, and five redirects in a row
    reg.on("/v2/", [(response(307, [("Location", "/p1")]), hop)])
    for i in range(1, 5):
        reg.on(f"/p{i}", [(response(307, [("Location", f"/p{i + 1}")]), hop)])
    reg.on("/p5", [(challenge('Basic realm="r"'), hop)])
    result = check_within(reg, login, preflight.CHECK_BUDGET * 0.5 + 0.5, timeout=0.5)
    assert (result.ok, result.step) == (False, "ping")
    assert "timed out" in result.detail or "no time left" in result.detail


# --- Finding 9: WWW-Authenticate floods -------------------------------------------------------

def test_a_flood_of_huge_challenge_headers_is_refused_fast(scripted, login):
    header = 'Bearer realm="https://h/t"' + ", k=v" * 12_000  # 60 KiB, well-formed
    flood = response(401, [("WWW-Authenticate", header)] * 20)
    reg = scripted("127.0.0.1").on("/v2/", flood)
    result = check_within(reg, login, 1.0)
    assert (result.ok, result.step) == (False, "ping")
    assert "WWW-Authenticate" in result.detail


def test_the_challenge_parser_is_linear():
    header = ", ".join(f'Bearer realm="https://h/{i}",service="s{i}",k="v"' for i in range(4000))
    started = time.perf_counter()
    parsed = challenges.parse(header, max_bytes=None)
    assert len(parsed) == 4000
    assert time.perf_counter() - started < 1.0


def test_challenge_headers_above_the_cap_are_refused():
    with pytest.raises(challenges.ChallengeError, match="longer than"):
        challenges.parse('Basic realm="' + "x" * challenges.MAX_HEADER_BYTES + '"')


# --- Finding 10: wall-clock budgets, no decompression ----------------------------------------

def test_a_dripping_body_cannot_hold_the_check_past_the_invocation(scripted, login):
    drip = [(response(200, [("Content-Type", "application/json")], b"", length=100), 0.0)]
    drip += [(b" ", 0.5)] * 100
    reg = token_registry(scripted, drip)
    deadline = Deadline()
    deadline.start(2500)  # 2.5 s left in the invocation, minus the 0.5 s answer margin
    result = check_within(reg, login, 2.5, deadline=deadline)
    assert (result.ok, result.step) == (False, "token")


def test_dripping_headers_cannot_hold_the_check_past_its_timeout(scripted, login):
    head = response(401, [("WWW-Authenticate", 'Basic realm="r"')])
    reg = scripted("127.0.0.1").on("/v2/", [(bytes([b]), 0.05) for b in head])
    result = check_within(reg, login, 2.0, timeout=1.0)
    assert (result.ok, result.step) == (False, "ping")


def test_every_request_asks_for_an_uncompressed_answer(scripted, login):
    reg = token_registry(scripted, json_body('{"token": "tok"}'))
    check_within(reg, login, 2)
    assert reg.requests and {r.headers.get("accept-encoding") for r in reg.requests} == {"identity"}


# --- Finding 11: hosts that are not hosts -----------------------------------------------------

@pytest.mark.parametrize("host", ["[abc]", "[1.2.3.4]", "[::1", "reg.example.com:0",
                                  "reg.example.com:70000", "a..example.com", "-a.example.com",
                                  "a-.example.com", "[::1]:99999", "reg.example.com\n",
                                  "reg.example.com:5000\n", "[::1]\n"])
def test_hosts_that_are_not_host_port_are_refused_at_validation(host):
    with pytest.raises(ConfigError, match="registries.r.host"):
        parse_config({"registries": {"r": block(host)}}, "test")


@pytest.mark.parametrize("key, value", [
    ("name", "acme\n"), ("invokers", ["arn:aws:iam::123456789012:role/Trainer\n"]),
    ("repository", "team/trainer\n"), ("reference", "v1\n"),
])
def test_a_trailing_newline_never_passes_validation(key, value):
    name, registry_block = "acme", block("r.example")
    if key == "name":
        name = value
    else:
        registry_block[key] = value
    with pytest.raises(ConfigError, match=f"registries.acme{'.' + key if key != 'name' else ''}"):
        parse_config({"registries": {name: registry_block}}, "test")


@pytest.mark.parametrize("host", ["[::1]:5000", "[fd00::1]", "10.0.0.1:443", "r.example", "R.ex-1.io"])
def test_real_hosts_pass_validation(host):
    assert parse_config({"registries": {"r": block(host)}}, "test").registries["r"].host == host.lower()


# --- Second review, finding 8: what reaches the operator's terminal ---------------------------

def test_broker_check_never_prints_terminal_escapes():
    from broker import checks

    hostile = preflight.Result("r", False, "basic", "basic: \x1b]0;pwned\x07\x1b[2J\u202e done",
                               "basic", ("\x1b[31mred",))
    table = checks.table([hostile])
    assert "\x1b" not in table and "\x07" not in table and "\u202e" not in table
    assert "\\x1b]0;pwned\\x07" in table


@pytest.mark.parametrize("realm", ["https://[x", "https://[::1", "https://a]b/token",
                                   "https://[fe80::1%25eth0]/token"])
def test_realms_with_brackets_are_a_failed_step(scripted, login, realm):
    reg = scripted("127.0.0.1").on("/v2/", challenge(f'Bearer realm="{realm}",service="s"'))
    result = check_within(reg, login, 2)
    assert (result.ok, result.step) == (False, "realm")
