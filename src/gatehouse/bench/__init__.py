"""Benchmarks, run as `gatehouse bench` (printing numbers, never asserted in tests)."""
