"""tunecost.launcher.ledger: the run ledger, its records, their liveness and repair."""
