"""A DataTable that syncs to a list of keyed rows, touching only cells that changed.

Rebuilding a table at 10 Hz would reset the cursor and burn CPU; instead rows
are matched by key and only differing cells are updated.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

Cell = str | Text
Row = tuple[str, Sequence[Cell]]


class KeyedTable(DataTable):
    DEFAULT_CSS = """
    KeyedTable { height: 1fr; }
    """

    def __init__(self, columns: Sequence[tuple[str, str, int]], **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self._column_spec = list(columns)
        self._rows: dict[str, tuple[Cell, ...]] = {}
        self._order: list[str] = []

    def on_mount(self) -> None:
        self._ensure_columns()
        if self._order:  # rows arrived before mount were measured without styles: add them again
            rows = [(key, self._rows[key]) for key in self._order]
            self._order = []
            self.sync(rows)

    def _ensure_columns(self) -> None:
        # A screen may render state before this widget's on_mount ran: columns must exist first,
        # or auto widths are computed from the labels alone.
        if not self.columns:
            # Fixed widths: no re-measuring of every cell on each update, and stable columns at 10 Hz.
            for key, label, width in self._column_spec:
                self.add_column(label, key=key, width=width)

    @property
    def selected_key(self) -> str | None:
        if not self._order or self.cursor_row < 0 or self.cursor_row >= len(self._order):
            return None
        return self._order[self.cursor_row]

    def sync(self, rows: Sequence[Row]) -> None:
        self._ensure_columns()
        order = [key for key, _ in rows]
        if order == self._order:
            for key, cells in rows:
                old = self._rows[key]
                cells = tuple(cells)
                if old == cells:
                    continue
                for (col_key, _, _), before, after in zip(self._column_spec, old, cells):
                    if before != after:
                        self.update_cell(key, col_key, after)
                self._rows[key] = cells
            return
        selected = self.selected_key
        self.clear()
        self._rows = {}
        for key, cells in rows:
            self.add_row(*cells, key=key)
            self._rows[key] = tuple(cells)
        self._order = order
        if selected in self._rows:
            self.move_cursor(row=order.index(selected), animate=False)
