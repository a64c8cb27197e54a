"""Whole-stack benchmarks (``govbot-bench load``, ``govbot-bench faults``): scripts that print numbers."""
