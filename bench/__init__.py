"""Benchmarks of the product's promise, "instant" adaptation (issue #6): adapter generation, cache, hot load, end to
end cold vs warm, multi-adapter serving vs the base model, and the alternatives (fine-tuning, in-context learning).

`t2l bench` (make bench) runs them all in one process and writes bench/results/<host-kind>.json (+ .md, plots).
Every figure is a median over repeats with its spread; every ratio is measured within the same run.
"""
