"""Secrets never leave the backend; cost comes from the price table (overridable)."""

from __future__ import annotations

import io
import json

import pytest

from labconsole.agents.backends.pricing import PriceTable, TurnUsage
from labconsole.agents.emitter import Emitter
from labconsole.agents.redact import MASK, RedactingEmitter, Redactor, redact, secret_env_values


@pytest.mark.parametrize(
    "secret",
    [
        "sk-ant-api03-abcdefghijklmnop_QRST-uvwx",
        "sk-proj-abcdefghijklmnopqrstuvwx",
        "sk-abcdefghijklmnopqrstuvwx1234",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "hf_abcdefghijklmnopqrstuvwxyzABCD",
        "AKIAIOSFODNN7EXAMPLE",
    ],
)
def test_known_key_formats(secret: str) -> None:
    out = redact(f"using key {secret} now")
    assert secret not in out and MASK in out and out.startswith("using key")


def test_bearer_and_assignments_keep_their_prefix() -> None:
    assert redact("Authorization: Bearer abc.def-ghi_jkl") == f"Authorization: Bearer {MASK}"
    assert redact("x-api-key: 1234567890abcdefXYZ") == f"x-api-key: {MASK}"


def test_secret_env_values_and_extras() -> None:
    env = {"MY_SERVICE_TOKEN": "plain-value-123", "DB_PASSWORD": "hunter2hunter2", "HOME": "/root", "SHORT_KEY": "1"}
    assert sorted(secret_env_values(env)) == ["hunter2hunter2", "plain-value-123"]
    r = Redactor(extra_secrets=["custom-secret-xyz"], env=env)
    out = r.text("a plain-value-123 b hunter2hunter2 c custom-secret-xyz /root")
    assert out == f"a {MASK} b {MASK} c {MASK} /root"


def test_redacting_emitter_cleans_every_field() -> None:
    buf = io.StringIO()
    em = RedactingEmitter(Emitter(buf), Redactor(extra_secrets=["s3cr3t-value"], env={}))
    em.tool_call("run_command", "echo s3cr3t-value", ok=False, error="failed: s3cr3t-value")
    em.proposal("t", {"k": ["s3cr3t-value"]}, "r", "s")
    assert "s3cr3t-value" not in buf.getvalue()
    assert json.loads(buf.getvalue().splitlines()[0])["input"] == f"echo {MASK}"


def test_price_table_prefix_match_and_override() -> None:
    table = PriceTable()
    usage = TurnUsage(input_tokens=1_000_000, output_tokens=100_000, cached_tokens=1_000_000)
    assert table.cost("claude-sonnet-4-5-20250929", usage) == pytest.approx(3.0 + 1.5 + 0.3)
    assert table.cost("mystery-model", usage) is None
    custom = PriceTable({"mystery-model": {"input": 1, "output": 2, "cache_read": 0}})
    assert custom.cost("mystery-model", usage) == pytest.approx(1.2)
    with pytest.raises(ValueError, match="mystery"):
        PriceTable({"mystery": {"input": "cheap"}})
