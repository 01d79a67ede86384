"""Benchmarks: the pipeline against the seed approach, plain Spark floors and delta-rs (`python -m benchmarks.run`)."""
