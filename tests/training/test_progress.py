"""Per-epoch progress goes to the console it is given: one line per epoch, collapse named."""

from io import StringIO

from rich.console import Console

from mnistflow.training.loop import EpochRecord
from mnistflow.training.progress import EpochProgress, epoch_line

METRICS = {"loss": 0.5, "accuracy": 0.9, "val_loss": 0.6, "val_accuracy": 0.85, "epoch_seconds": 0.25}


def test_one_line_per_epoch_on_the_console_passed_in():
    sink = StringIO()
    with EpochProgress(Console(file=sink, width=200), epochs=2) as progress:
        progress(EpochRecord(1, 2, METRICS, []))
        progress(EpochRecord(2, 2, {**METRICS, "loss": 0.25}, [3, 7]))
    lines = [line for line in sink.getvalue().splitlines() if line.startswith("epoch")]
    assert lines == [
        "epoch 1/2  loss 0.5000  accuracy 0.9000  val_loss 0.6000  val_accuracy 0.8500  0.25 s",
        "epoch 2/2  loss 0.2500  accuracy 0.9000  val_loss 0.6000  val_accuracy 0.8500  0.25 s"
        "  collapsed classes [3, 7]",
    ]


def test_epoch_line_names_no_collapse_when_there_is_none():
    assert "collapsed" not in epoch_line(EpochRecord(1, 1, METRICS, []))
