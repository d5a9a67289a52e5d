"""Benchmarks: measured and printed, never asserted (shared machines make timings noisy)."""
