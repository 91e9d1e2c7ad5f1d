"""Studies: a grid of configurations and seeds, run on local worker processes or on Ray."""
