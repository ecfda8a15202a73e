"""Review, the gate: pending candidates one after another, their diff and evidence; approve/reject/merge."""

from __future__ import annotations

import functools
from collections.abc import Callable

from rich.console import Group
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Static

from labconsole.gpu.bench_evidence import bench_table
from labconsole.lab import gate
from labconsole.lab import state as S
from labconsole.lab.change_checks import flag_line
from labconsole.lab.state import HypothesisState, LabState
from labconsole.tui import diffs, keymap
from labconsole.tui.decisions import decision, merge_question, reject_question, remeasure_question
from labconsole.tui.colors import HYP_STATUS_COLOR, theme_colors
from labconsole.tui.screens.base import LabScreen, box
from labconsole.tui.screens.dialogs import ConfirmDialog, PromptDialog
from labconsole.tui.screens.viewers import TextViewer
from labconsole.tui.widgets import evidence as evidence_view

REVIEWABLE = (S.AWAITING_HUMAN, S.APPROVED)
DIFF_PREVIEW_LINES = 400  # the pane shows this much; `d` opens the whole diff


def candidates(state: LabState) -> list[HypothesisState]:
    """Awaiting a decision first, then approved ones waiting to be merged."""
    return sorted(
        (h for h in state.hypotheses.values() if h.status in REVIEWABLE),
        key=lambda h: (REVIEWABLE.index(h.status), h.hyp_id),
    )


def _on_candidate(
    action: Callable[[ReviewScreen, HypothesisState], None],
) -> Callable[[ReviewScreen], None]:
    """An action on the candidate on screen; with none selected, the key only says so (``_current``)."""

    @functools.wraps(action)
    def on_current(self: ReviewScreen) -> None:
        h = self._current()
        if h is not None:
            action(self, h)

    return on_current


class ReviewScreen(LabScreen):
    TITLE_TEXT = "Review"
    BINDINGS = keymap.bindings("review")

    class BlobsLoaded(Message):
        def __init__(self, hyp_id: str, diff: str, bundle: dict, bench: list[str]) -> None:
            super().__init__()
            self.hyp_id, self.diff, self.bundle, self.bench = hyp_id, diff, bundle, bench

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.current: str | None = None
        self._loaded: tuple[str, str | None, str | None] | None = None  # (hyp, diff blob, evidence blob) shown
        self._diff_text = ""
        self._bundle: dict = {}
        self._bench: list[str] = []  # the harness's table from the candidate's bench.json evidence (kernel labs)

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield Static(id="review-title")
        with Horizontal(id="review-body"):
            yield box("Diff", Static(id="diff"), id="diff-pane", kind=VerticalScroll)
            yield box("Evidence", Static(id="evidence"), id="evidence-pane", kind=VerticalScroll)
        yield from self.compose_footer()

    # -- state

    def select(self, hyp_id: str | None) -> None:
        self.current = hyp_id
        self.show_state(self.console.lab_state)

    def _hyp(self, state: LabState) -> HypothesisState | None:
        queue = candidates(state)
        if self.current in state.hypotheses:
            return state.hypotheses[self.current]  # type: ignore[index]
        if queue:
            self.current = queue[0].hyp_id
            return queue[0]
        return None

    def show_state(self, state: LabState) -> None:
        super().show_state(state)
        c = theme_colors(self.app)
        h = self._hyp(state)
        title = self.query_one("#review-title", Static)
        queue = [x.hyp_id for x in candidates(state)]
        if h is None:
            title.update(
                Text(
                    " Nothing awaits review. Candidates appear here once measured and auto-reviewed.", style=c["muted"]
                )
            )
            self.query_one("#diff", Static).update("")
            self.query_one("#evidence", Static).update("")
            return
        pos = f"{queue.index(h.hyp_id) + 1}/{len(queue)}" if h.hyp_id in queue else f"-/{len(queue)}"
        title.update(
            Text.assemble(
                (f" {pos} ", "bold reverse"),
                " ",
                (h.hyp_id, "bold"),
                f"  {h.title}  ",
                (h.status, f"bold {c[HYP_STATUS_COLOR.get(h.status, 'foreground')]}"),
                f"  +{h.additions} -{h.deletions} in {len(h.files)} file{'s' if len(h.files) != 1 else ''}",
                no_wrap=True,
                overflow="ellipsis",
            )
        )
        key = (h.hyp_id, h.diff_blob, h.evidence_blob)
        if self._loaded != key:
            self._loaded = key
            self._diff_text, self._bundle, self._bench = "", {}, []
            self.query_one("#diff", Static).update(Text("loading…", style=c["muted"]))
            self._load(h.hyp_id, h.diff_blob, h.evidence_blob)
        self._render_hyp(h, state)

    @work(thread=True, exclusive=True, group="review-blobs")
    def _load(self, hyp_id: str, diff_blob: str | None, evidence_blob: str | None) -> None:
        """Blobs come off disk in a worker; the UI thread only renders."""
        source = self.console.source
        raw = source.blob(diff_blob)
        bundle = evidence_view.load_bundle(source.blob(evidence_blob))
        bench = bench_table(bundle, lambda digest: source.blob(digest) or b"")
        self.post_message(self.BlobsLoaded(hyp_id, raw.decode("utf-8", "replace") if raw else "", bundle, bench))

    def on_review_screen_blobs_loaded(self, message: ReviewScreen.BlobsLoaded) -> None:
        if message.hyp_id != self.current:
            return
        self._diff_text, self._bundle, self._bench = message.diff, message.bundle, message.bench
        state = self.console.lab_state
        if message.hyp_id in state.hypotheses:
            self._render_hyp(state.hypotheses[message.hyp_id], state)

    def _files(self, h: HypothesisState, state: LabState) -> list[diffs.FileDiff]:
        protected = list(state.objective.get("protected", []))
        flagged = list(h.evidence.get("protected_changes") or self._bundle.get("protected_changes") or [])
        return diffs.parse(self._diff_text, protected, flagged)

    def _render_hyp(self, h: HypothesisState, state: LabState) -> None:
        c = theme_colors(self.app)
        if self._diff_text:
            text, truncated = diffs.render(self._files(h, state), c, DIFF_PREVIEW_LINES)
            if truncated:
                text.append(
                    f"… diff truncated at {DIFF_PREVIEW_LINES} lines: press d for all of it", style=c["warning"]
                )
            self.query_one("#diff", Static).update(text)
        elif self._loaded and self._loaded[1] is None:
            self.query_one("#diff", Static).update(Text("no diff recorded", style=c["muted"]))
        evidence = evidence_view.render(h, state, self._bundle, c)
        if self._bench:
            evidence = Group(
                evidence, Text("\n".join(self._bench), style=c["muted"], no_wrap=True, overflow="ellipsis")
            )
        self.query_one("#evidence", Static).update(evidence)

    # -- actions

    def _current(self) -> HypothesisState | None:
        state = self.console.lab_state
        h = state.hypotheses.get(self.current or "")
        if h is None:
            self.notify("no candidate selected", severity="warning")
        return h

    def action_step(self, delta: int) -> None:
        queue = [h.hyp_id for h in candidates(self.console.lab_state)]
        if not queue:
            self.notify("nothing awaits review", severity="information")
            return
        i = queue.index(self.current) if self.current in queue else -delta if delta > 0 else 0
        self.select(queue[(i + delta) % len(queue)])

    @decision("approve")
    @_on_candidate
    def action_approve(self, h: HypothesisState) -> None:
        if h.status != S.AWAITING_HUMAN:
            self.notify(
                f"{h.hyp_id} is {h.status}: only a candidate awaiting review can be approved", severity="warning"
            )
            return
        flags = gate.needs_confirmation(h)
        hyp_id = h.hyp_id
        changes = gate.change_flags(h)
        if changes:
            # A flagged change is approved only over a named override with a reason the log records.
            names = list(dict.fromkeys(str(f["flag"]) for f in changes))

            def overridden(reason: str | None) -> None:
                if reason:
                    self.console.run_command(
                        "approve", lambda: self.console.source.approve(hyp_id, reason, True, overrides=names)
                    )

            self.app.push_screen(
                PromptDialog(
                    f"{hyp_id} is flagged — the measurement cannot vouch for these changes:\n  "
                    + "\n  ".join(flag_line(f) for f in changes)
                    + f"\n\nApproving overrides {', '.join(names)}; the log records who and why. Reason:",
                    placeholder="why this is safe",
                ),
                overridden,
            )
            return
        if not flags:
            self.console.run_command(
                "approve", lambda: self.console.source.approve(hyp_id, "approved in console", False)
            )
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.console.run_command(
                    "approve", lambda: self.console.source.approve(hyp_id, "approved over reviewer flags", True)
                )

        self.app.push_screen(
            ConfirmDialog(
                f"The reviewer flagged {hyp_id}:\n  " + "\n  ".join(flags) + "\n\nApprove anyway?",
                yes="Approve (y)",
                no="Cancel (n)",
            ),
            answered,
        )

    @decision("reject")
    @_on_candidate
    def action_reject(self, h: HypothesisState) -> None:
        hyp_id = h.hyp_id

        def answered(reason: str | None) -> None:
            if reason:
                self.console.run_command("reject", lambda: self.console.source.reject(hyp_id, reason))

        self.app.push_screen(PromptDialog(reject_question(h), placeholder="reason"), answered)

    @decision("merge")
    @_on_candidate
    def action_merge(self, h: HypothesisState) -> None:
        hyp_id, source = h.hyp_id, self.console.source
        question = merge_question(h, self.console.lab_state, source.main_branch)
        change = gate.rules_change(h)
        if change:  # the person confirms the rules change itself, shown as what changes
            question += (
                "\n\nIt changes the lab's rules:\n  " + "\n  ".join(change) + "\nThe next session runs under them."
            )
        self.console.confirm_command(
            question, "Merge", "merge", lambda: source.merge(hyp_id, confirm_rules_change=bool(change))
        )

    @decision("re-measure")
    @_on_candidate
    def action_remeasure(self, h: HypothesisState) -> None:
        hyp_id, source = h.hyp_id, self.console.source
        self.console.confirm_command(
            remeasure_question(h, self.console.lab_state, source.main_branch),
            "Re-measure",
            "remeasure",
            lambda: source.remeasure(hyp_id),
        )

    @_on_candidate
    def action_full_diff(self, h: HypothesisState) -> None:
        if not self._diff_text:
            self.notify("no diff loaded for this candidate", severity="warning")
            return
        text, _ = diffs.render(self._files(h, self.console.lab_state), theme_colors(self.app))
        self.app.push_screen(TextViewer(f"{h.hyp_id} · full diff", text))
