"""The console says when a session's runs were not contained: a header badge, and a warning on each candidate's
evidence whose runs ran without a sandbox."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from textual.app import App, ComposeResult

from labconsole.lab.reducer import reduce
from labconsole.tui.colors import _FALLBACK
from labconsole.tui.widgets import evidence
from labconsole.tui.widgets.status import LabHeader
from tests.lab.test_sandbox_visible import log
from tests.tui.helpers import plain


class HeaderApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LabHeader()


@pytest.mark.anyio
async def test_header_badge_only_when_the_session_is_degraded() -> None:
    app = HeaderApp()
    async with app.run_test(size=(120, 3)) as pilot:
        header = app.query_one(LabHeader)
        header.show(reduce(log("bwrap")), "LIVE", "overview")
        await pilot.pause()
        assert "SANDBOX" not in plain(header)
        header.show(reduce(log("degraded")), "LIVE", "overview")
        await pilot.pause()
        assert "SANDBOX: DEGRADED" in plain(header)


def rendered(mode: str) -> str:
    state = reduce(log(mode))
    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(evidence.render(state.hypotheses["h001"], state, {}, dict(_FALLBACK)))
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_evidence_warns_on_a_candidate_measured_without_a_sandbox() -> None:
    assert "SANDBOX: DEGRADED: 2 run(s) ran without a sandbox" in rendered("degraded")
    assert "SANDBOX" not in rendered("bwrap")
