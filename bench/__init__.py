"""Benchmarks of the operator against the API server's own floor: ``python -m bench`` (see bench/README.md).

Not part of ``make test``: a full run takes about twenty minutes on the project's 2-core machine.
"""
