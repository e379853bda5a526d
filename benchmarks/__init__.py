"""Benchmarks of commonsky (`make bench`, or `python -m benchmarks`): tracker accuracy and tracker speed.

Benchmarks are not tests: they print tables with the issue's targets beside the measured numbers
and write JSON results (default `out/bench/`), but never fail on a number.
"""
