"""When a trial is pruned: a class collapsed for N epochs in a row, checked on the epochs' collapsed classes."""

from mnistflow.study.pruning import collapse_reason


def test_a_class_collapsed_for_the_configured_epochs_prunes():
    assert collapse_reason([[], [3], [3, 5]], 2, 0.05) == ("class 3 collapsed (validation recall < 0.05) for "
                                                           "2 epochs in a row")


def test_a_break_in_the_collapse_or_too_few_epochs_does_not_prune():
    assert collapse_reason([[3], [], [3]], 2, 0.05) is None
    assert collapse_reason([[3]], 2, 0.05) is None
    assert collapse_reason([[3], [3], [3]], 0, 0.05) is None  # 0 turns collapse pruning off


def test_different_classes_in_a_row_still_count_and_are_named():
    assert collapse_reason([[1], [2]], 2, 0.05).startswith("class 2 collapsed")
    assert collapse_reason([[4]], 1, 0.1) == "class 4 collapsed (validation recall < 0.1) for 1 epoch in a row"
