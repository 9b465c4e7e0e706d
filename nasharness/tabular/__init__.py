"""Tabular benchmarks: one converter per source file into one compact parquet table, cached."""
