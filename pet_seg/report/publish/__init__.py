"""The report in W&B: the sweep's report run and the saved W&B Report over its group."""
