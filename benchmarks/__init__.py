"""Benchmarks: one ``bench_<capability>.py`` module each; ``make bench`` runs them all."""
