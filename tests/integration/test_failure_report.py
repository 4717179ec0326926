"""A failed integration test prints the operator's log tail and the cluster's status (conftest.py's hook).

A pytest of its own, in a subprocess, runs a small file against this session's cluster (through
KUBECONFIG_FOR_TESTS, so no second control plane starts): one test that fails with the example cluster up,
one that passes. Only the failure gets the two sections.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Kube
from .helpers import REPO

pytestmark = pytest.mark.integration

SMALL_FILE = """
import pytest

from tests.integration.cloud import Cloud
from tests.integration.helpers import wait_for

pytestmark = pytest.mark.integration


def test_passes(cloud: Cloud) -> None:
    assert cloud.get("onecloudclusters.onecloud.yunion.io")["items"] == []


def test_fails_with_the_cluster_up(cloud: Cloud) -> None:
    cloud.apply()
    wait_for(lambda: cloud.condition("Ready"), 60, what="a Ready condition")
    raise AssertionError("deliberately failed")
"""


def test_a_failed_test_reports_the_operator_log_and_the_cluster_status(kube: Kube, tmp_path: Path) -> None:
    small = tmp_path / "test_small.py"
    small.write_text(SMALL_FILE)
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "tests.integration.conftest",
    ]
    argv += ["-c", str(REPO / "pyproject.toml"), "--rootdir", str(REPO), str(small)]
    done = subprocess.run(
        argv,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "KUBECONFIG_FOR_TESTS": str(kube.kubeconfig), "TMPDIR": str(tmp_path)},
    )
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "1 failed, 1 passed" in out, out
    # One section of each kind, both under the failure.
    assert out.count(" (last 80 lines) ") == 1, out
    assert out.count(" OnecloudCluster status in it-") == 1, out
    log_section = out.split(" (last 80 lines) ")[1]
    assert '"caches synced' in log_section and '"created ' in log_section, out
    status_section = out.split(" OnecloudCluster status in it-")[1]
    assert "conditions:" in status_section and "type: Ready" in status_section, out
    assert "components:" in status_section and "keystone:" in status_section, out
    assert out.index("deliberately failed") < out.index(" (last 80 lines) "), out
