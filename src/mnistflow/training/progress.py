"""Per-epoch progress on a console that is passed in (tests hand in Console(file=StringIO()))."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from mnistflow.training.loop import EpochRecord


def epoch_line(record: EpochRecord) -> str:
    metrics = record.metrics
    line = (f"epoch {record.epoch}/{record.epochs}  loss {metrics['loss']:.4f}  "
            f"accuracy {metrics['accuracy']:.4f}  val_loss {metrics['val_loss']:.4f}  "
            f"val_accuracy {metrics['val_accuracy']:.4f}  {metrics['epoch_seconds']:.2f} s")
    if record.collapsed:
        line += f"  collapsed classes {record.collapsed}"
    return line


class EpochProgress:
    """A progress bar over epochs in a terminal, plus one line per epoch (kept in logs, e.g. under DVC)."""

    def __init__(self, console: Console, epochs: int, description: str = "training"):
        self.console = console
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), console=console, transient=True)
        self.task = self.progress.add_task(description, total=epochs)

    def __enter__(self) -> EpochProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.progress.stop()

    def __call__(self, record: EpochRecord) -> None:
        self.progress.console.print(epoch_line(record), highlight=False, soft_wrap=True)
        self.progress.advance(self.task)
