"""Progress bars on stderr for the commands' long steps (rich.progress).

Bars are drawn only when stderr is a terminal and the command is not --quiet, so pipes, CI
and tests get no control characters. The library never sees them: it is handed plain
callbacks (`on_step(step, seconds)`, `on_batch(source, rows)`), or None when no bar is shown.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from migralink.timing import BatchDone, StepDone


def shown(quiet: bool) -> bool:
    """Bars only for a person at a terminal who has not asked for quiet."""
    return not quiet and sys.stderr.isatty()


class Bars:
    """The bars of one command, used as a context (erased when it ends). When not `show`,
    every method gives None: the library then skips its callbacks altogether."""

    def __init__(self, show: bool) -> None:
        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description:<34}"), BarColumn(bar_width=16),
            TextColumn("{task.fields[count]:>14}"), TimeElapsedColumn(),
            console=Console(stderr=True), transient=True) if show else None
        self.counts: list[TaskID] = []  # the row counts, hidden when a bar of steps appears

    def __enter__(self) -> Bars:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def steps(self, title: str, names: Sequence[str], at_once: bool = True) -> StepDone | None:
        """A bar over the steps `names`, naming the one under way; its callback is told each
        step as it ends (a step not in `names` is ignored). Not `at_once`: the bar appears
        when the first step ends (a part of a longer job), and goes when the last does."""
        if self.progress is None:
            return None
        progress = self.progress
        task = progress.add_task(f"{title}: {names[0]}", total=len(names), visible=at_once,
                                 count=f"0/{len(names)}")
        appeared = [at_once]

        def step_done(step: str, seconds: float) -> None:
            if step not in names:
                return
            if not appeared[0]:
                self._hide_counts()
                appeared[0] = True
            done = names.index(step) + 1
            following = names[done] if done < len(names) else ""
            progress.update(task, completed=done, count=f"{done}/{len(names)}",
                            description=f"{title}: {following}", visible=done < len(names))

        return step_done

    def rows(self, title: str, first: str | None = None) -> BatchDone | None:
        """A running count of the rows read per source (the total is not known before the
        file is read), shown from its first batch, or at once for `first`; a new source
        hides the count before it."""
        if self.progress is None:
            return None
        progress = self.progress
        read: dict[str, int] = {}

        def batch_done(source: str, rows: int) -> None:
            if source not in read:
                self._hide_counts()
                self.counts.append(progress.add_task(f"{title} {source}", total=None, count=""))
                read[source] = 0
            read[source] += rows
            progress.update(self.counts[-1], count=f"{read[source]:,} rows")

        if first is not None:
            batch_done(first, 0)
        return batch_done

    def busy(self, title: str) -> None:
        """A spinner and the time elapsed, for a step that says nothing of its progress."""
        if self.progress is not None:
            self.progress.add_task(title, total=None, count="")

    def _hide_counts(self) -> None:
        for task in self.counts:
            self.progress.update(task, visible=False)  # type: ignore[union-attr]
