"""What a model says about itself: collapse diagnostics, error analysis, galleries, plots, run comparison."""
