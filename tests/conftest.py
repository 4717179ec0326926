"""Fixtures both suites share: the helm binary the project builds, an environment to run it in, and the
hostile corpus planned once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hostile_corpus import Sweep, sweep

import localcluster

HELM_HOMES = ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    """helm from the local control plane's binaries. Missing, it fails every test that needs it, never
    skips one: `make test` builds it first (`make controlplane`)."""
    try:
        return localcluster.binaries(required=("helm",))["helm"]
    except localcluster.BinariesMissingError as exc:
        missing = str(exc)
    pytest.fail(f"helm is needed and not built (`make test` builds it first): {missing}", pytrace=False)


@pytest.fixture(scope="session")
def helm_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """This process's environment with empty cache, config and data homes of helm's own."""
    home = tmp_path_factory.mktemp("helm-home")
    return {**os.environ, **{var: str(home / var.lower()) for var in HELM_HOMES}}


@pytest.fixture(scope="session")
def hostile_sweep(tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    """Every hostile-corpus file through ``plan`` once per session (the slowest setup of the run): both
    tests/unit/test_hostile.py and tests/integration/test_hostile.py judge this one pass."""
    found = sweep(tmp_path_factory.mktemp("hostile"))
    print(f"\nhostile sweep, plan stage: {len(found.cases)} files in {found.seconds:.1f}s (once a session)")
    return found
