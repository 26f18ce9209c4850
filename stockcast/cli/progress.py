"""Progress on stderr for long commands: a rich bar on a terminal, one plain line per step
otherwise (cron logs, pipes), nothing when quiet. Subclasses say what a step reads like."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stockcast.cli.app import stderr

if TYPE_CHECKING:
    from collections.abc import Callable

    from stockcast.training.loop import EpochReport


class StepProgress:
    """Context manager yielding the step callback (None when ``silent``). ``total`` steps;
    ``label`` starts every line. Subclasses define ``first`` (the bar's text before any step),
    ``line(*step)`` (the plain line of a step) and ``bar(*step)`` (the bar's ``completed`` and
    ``description``, plus ``info`` when ``info_column``)."""

    info_column = False  # show a task field "info" after the bar
    elapsed = False  # TimeElapsedColumn instead of TimeRemainingColumn

    def __init__(self, label: str, total: int, silent: bool) -> None:
        self.label, self.total, self.silent = label, total, silent
        self.progress: Any = None

    def __enter__(self) -> Callable[..., None] | None:
        if self.silent:
            return None
        con = stderr()
        if not con.is_terminal:
            if self.start():  # a log shows that the work began, long before its first step
                con.print(self.start(), markup=False)
            return lambda *step: con.print(self.line(*step), markup=False)
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns: list[Any] = [TextColumn("{task.description}"), BarColumn(bar_width=20)]
        if self.info_column:
            columns.append(TextColumn("{task.fields[info]}"))
        columns.append(TimeElapsedColumn() if self.elapsed else TimeRemainingColumn())
        self.progress = Progress(*columns, console=con)
        self.progress.start()
        self.task = self.progress.add_task(self.first(), total=self.total, info="")
        return lambda *step: self.progress.update(self.task, **self.bar(*step))

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=self.total)  # early stops end the bar too
            self.progress.stop()

    def first(self) -> str:
        raise NotImplementedError

    def start(self) -> str:
        """The plain line printed before the first step ("" for none)."""
        return ""

    def line(self, *step: Any) -> str:
        raise NotImplementedError

    def bar(self, *step: Any) -> dict[str, Any]:
        raise NotImplementedError


class EpochProgress(StepProgress):
    """`train`: one step per epoch (``EpochReport``)."""

    info_column = True

    def first(self) -> str:
        return f"{self.label} epoch 0/{self.total}"

    def start(self) -> str:
        return f"{self.label}: training, at most {self.total} epochs (Ctrl-C keeps the best so far)"

    def line(self, r: EpochReport) -> str:
        return (
            f"{self.label} epoch {r.epoch}/{r.max_epochs}  train {r.train_loss:.4f}  "
            f"val {r.val_loss:.4f}  best {r.best_val_loss:.4f} (epoch {r.best_epoch})  "
            f"lr {r.lr:.1e}  {r.seconds:.1f}s"
        )

    def bar(self, r: EpochReport) -> dict[str, Any]:
        info = f"train {r.train_loss:.4f} val {r.val_loss:.4f} best epoch {r.best_epoch}"
        return {"completed": r.epoch, "info": info,
                "description": f"{self.label} epoch {r.epoch}/{r.max_epochs}"}  # fmt: skip


class FoldProgress(StepProgress):
    """`backtest`: a step as fold k starts (``row`` None) and one as it ends (its fold row)."""

    elapsed = True

    def first(self) -> str:
        return f"{self.label} fold 0/{self.total}"

    def line(self, k: int, n: int, origin: str, row: dict | None) -> str:
        if row is None:
            return f"{self.label} fold {k + 1}/{n}: training up to the block from {origin}"
        ratio = row["mae_ratio"][0]
        r = "n/a" if ratio is None else f"{ratio:.3f}"
        return f"{self.label} fold {k + 1}/{n} done: {row['n']} windows, h=1 MAE/best {r}"

    def bar(self, k: int, n: int, origin: str, row: dict | None) -> dict[str, Any]:
        return {"completed": k + (row is not None), "description": self.line(k, n, origin, row)}
