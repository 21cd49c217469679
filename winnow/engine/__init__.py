"""Planning and executing recipes: segments, checkpoints, ledger, stats."""
