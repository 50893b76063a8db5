"""ProgressDisplay: a line per item; a bar redrawn in place on a terminal, plain lines otherwise."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

BAR_WIDTH = 30
# Without a terminal the lines land in a log; one line per 5 % keeps a long download readable.
PLAIN_STEP_PERCENT = 5

# ANSI: move the cursor up N lines; return to column 0 and clear the line.
_CURSOR_UP = "\x1b[{}A"
_CLEAR_LINE = "\r\x1b[2K"


@dataclass(slots=True)
class _Line:
    label: str
    percent: int = 0
    note: str = ""
    printed_step: int = -1


class ProgressDisplay:
    """Show the progress of several items on ``stream``, addressed by their index.

    With ``redraw`` (a terminal) the block of lines is rewritten in place on every change;
    otherwise a plain line is printed per item at most once per 5 % step, plus a final line.
    """

    def __init__(self, stream: TextIO, labels: Sequence[str], *, redraw: bool) -> None:
        self._stream = stream
        self._lines = [_Line(label) for label in labels]
        self._redraw = redraw
        self._drawn = False
        self._label_width = max((len(label) for label in labels), default=0)

    def update(self, index: int, percent: int) -> None:
        """Record that item ``index`` is ``percent`` done (clamped to 0-100)."""
        line = self._lines[index]
        line.percent = max(0, min(100, percent))
        if self._redraw:
            self._draw()
            return
        step = line.percent // PLAIN_STEP_PERCENT
        if step > line.printed_step:
            line.printed_step = step
            self._write(f"{line.label}: {line.percent}%\n")

    def finish(self, index: int, note: str, *, percent: int | None = None) -> None:
        """Mark item ``index`` as finished with ``note`` (e.g. ``done`` or the failure)."""
        line = self._lines[index]
        if percent is not None:
            line.percent = max(0, min(100, percent))
        line.note = note
        if self._redraw:
            self._draw()
        else:
            self._write(f"{line.label}: {note}\n")

    def _draw(self) -> None:
        parts = [_CURSOR_UP.format(len(self._lines))] if self._drawn and self._lines else []
        parts.extend(f"{_CLEAR_LINE}{self._render(line)}\n" for line in self._lines)
        self._drawn = True
        self._write("".join(parts))

    def _render(self, line: _Line) -> str:
        filled = line.percent * BAR_WIDTH // 100
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        text = f"{line.label:<{self._label_width}} [{bar}] {line.percent:>3}%"
        return f"{text} {line.note}" if line.note else text

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()
