"""The study's results: one row per configuration and seed, the latest run winning."""

import pandas as pd

from mnistflow.study.runner import results_frame


def test_a_rerun_replaces_the_killed_run_of_its_configuration_and_seed():
    children = pd.DataFrame({"configuration": ["a", "a", "a"], "seed": [1, 2, 2],
                             "status": ["FINISHED", "KILLED", "FINISHED"], "run_id": ["r1", "r2", "r3"],
                             "start_time": [1, 2, 3], "test_accuracy": [0.9, None, 0.95]})
    results = results_frame(children)
    assert list(results["run_id"]) == ["r1", "r3"] and "start_time" not in results.columns
