"""Side-by-side measurements of cipub and the peer tools; run ``python -m benchmarks [--quick]``."""
