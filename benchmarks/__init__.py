"""Benchmarks: ratios measured side by side in one run, never timed tests.

The machine these run on is shared and noisy, so every benchmark times Sattva's path and a
bare baseline doing the same work in the same run (interleaved where it can) and reports the
ratio.  ``python -m benchmarks [name ...]``; ``scripts/bench`` sets up and runs them all.
"""
