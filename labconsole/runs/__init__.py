"""Console-measured runs: executors, metric extraction, run tracking."""
