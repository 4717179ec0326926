"""Fixtures for the unit tests (no cluster, no network; helm comes from tests/conftest.py).

Shared plain helpers live in modules of their own, imported by name (tests/unit is on sys.path and on
mypy's path): clusters.py builds OnecloudClusters and plans from spec dicts, repo_paths.py names the
repository's files, reference_table.py holds the reference's facts and the test oracle.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Tests marked ``anyio`` run on asyncio, the operator's event loop, and only there."""
    return "asyncio"
