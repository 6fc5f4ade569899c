"""Baking the template and serving bakes: shared by the template's tests and its benchmark.

- `harness.bakery`: bake into a temporary directory, read a bake's answers, run tools in it;
- `harness.served`: run a bake's CLI, pick free loopback ports, start servers, wait until they
  answer, stop them with their workers.

The tests import it through pytest's `pythonpath` (pyproject.toml); bench/run.py puts the
repository root on `sys.path` itself.
"""
