"""Optuna searches on a database: the sweeper (``sweeper``), the trial side of pruning
(``pruning``), the study's plots and best command line (``results``)."""
