"""Secret redaction: API keys and tokens never reach the log, a blob, the TUI, a report or Trackio.

Two sources of secrets: well-known key formats (matched anywhere in text) and the
values of environment variables whose *names* look secret (``*KEY*``, ``*TOKEN*``…).
This is the one redaction of the console: everything a backend emits and everything a
measurement run wrote (its log, text artifacts, its error line) goes through
:class:`Redactor` before it is stored. It lives in ``core`` so that agents and runs share it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "[REDACTED]"

# Ordered most-specific first so `sk-ant-…` is not half-matched by the generic `sk-…`.
KEY_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p)
    for p in (
        r"sk-ant-[A-Za-z0-9_\-]{8,}",  # Anthropic
        r"sk-(?:proj-|svcacct-)?[A-Za-z0-9_\-]{16,}",  # OpenAI
        r"gh[pousr]_[A-Za-z0-9]{20,}",  # GitHub tokens
        r"github_pat_[A-Za-z0-9_]{20,}",
        r"hf_[A-Za-z0-9]{20,}",  # Hugging Face
        r"(?:AKIA|ASIA)[A-Z0-9]{16}",  # AWS access key id
        r"xox[abprs]-[A-Za-z0-9\-]{10,}",  # Slack
        r"AIza[0-9A-Za-z_\-]{35}",  # Google API key
    )
)
# Keep the prefix (useful context), hide the credential.
PREFIXED_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"(bearer\s+)[A-Za-z0-9._~+/\-]{8,}=*",
        r"(aws_secret_access_key\s*[=:]\s*)[A-Za-z0-9/+]{30,}",
        r"((?:api[_-]?key|x-api-key|authorization)[\"']?\s*[=:]\s*[\"']?)[A-Za-z0-9._\-]{12,}",
    )
)

SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
# Names that match SECRET_NAME but hold no secret (and whose values are short, common words).
NOT_SECRET_NAMES = frozenset({"KEYTIMEOUT", "TOKENIZERS_PARALLELISM", "GPG_TTY"})
MIN_SECRET_LEN = 6  # shorter values ("1", "true") would redact half the log


def secret_env_values(env: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names look secret."""
    env = os.environ if env is None else env
    return [
        v
        for k, v in env.items()
        if SECRET_NAME.search(k) and k.upper() not in NOT_SECRET_NAMES and len(v) >= MIN_SECRET_LEN
    ]


def redact(text: str, extra_secrets: Iterable[str] = ()) -> str:
    """Mask known key formats, secret env values and ``extra_secrets`` in ``text``."""
    return Redactor(extra_secrets).text(text)


class Redactor:
    """Caches the secret list (env is read once) and redacts strings or nested JSON values."""

    def __init__(self, extra_secrets: Iterable[str] = (), env: Mapping[str, str] | None = None) -> None:
        values = {s for s in (*secret_env_values(env), *extra_secrets) if s and len(s) >= MIN_SECRET_LEN}
        # Longest first: a secret that contains another is masked whole.
        self._values = sorted(values, key=len, reverse=True)

    def add(self, secret: str) -> None:
        if secret and len(secret) >= MIN_SECRET_LEN and secret not in self._values:
            self._values.append(secret)
            self._values.sort(key=len, reverse=True)

    def text(self, text: str) -> str:
        if not text:
            return text
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        for pattern in KEY_PATTERNS:
            text = pattern.sub(MASK, text)
        for pattern in PREFIXED_PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        return text

    def value(self, obj: Any) -> Any:
        """Redact every string inside a JSON-like value (dict keys are left alone)."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {k: self.value(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.value(v) for v in obj]
        return obj

    def data(self, raw: bytes) -> bytes:
        """Redact a blob. Text (a log, a JSON report) is redacted; binary data (a NUL in its head) is kept
        as it is. A log cut mid-character is still text: undecodable bytes become U+FFFD only when
        something had to be masked, otherwise the bytes are stored unchanged."""
        if not raw or b"\0" in raw[:4096]:
            return raw
        text = raw.decode("utf-8", "replace")
        redacted = self.text(text)
        return raw if redacted == text else redacted.encode("utf-8")
