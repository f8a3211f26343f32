"""The published-run validation harness: estimates beside measurements, LOSO fits. Tests and benchmarks only."""
