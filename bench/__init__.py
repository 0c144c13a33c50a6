"""Benchmarks of aecodec against conventional codecs; see bench/README.md."""
