"""DVC stages: each is `python -m mnistflow.stages.<name>` with the paths given by dvc.yaml."""
