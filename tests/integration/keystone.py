"""A real Keystone v3 server for the keystone tests: OpenStack Keystone from PyPI (localcluster._keystone).

The session prepares one empty database and its keys (``db_sync``, ``fernet_setup``, ``credential_setup``)
once; the fixture ``keystone`` copies them and starts a server of its own per test on 127.0.0.1 and a
free port, stopped at the end. Nobody is bootstrapped: the test plays Cloudpods keystone's first start
with :func:`bootstrap` and the password from the keystone config the operator wrote. A test module
imports the fixtures (pytest only loads conftest.py)::

    from .keystone import keystone_fixture, keystone_template_fixture  # noqa: F401

The venv comes from hack/keystone/install.sh (``make install`` runs it; the fixture runs it too).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcluster import _keystone
from localcluster._keystone import Server, bootstrap, resume, stop

__all__ = ["V3", "Server", "bootstrap", "keystone_fixture", "keystone_template_fixture", "resume", "stop"]


class V3:
    """Plain requests to the server, as a Cloudpods service makes them (no client of the operator's)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def call(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> tuple[int, Any, str]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("X-Auth-Token", token)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                text = resp.read().decode()
                return (
                    resp.status,
                    json.loads(text) if text else None,
                    resp.headers.get("X-Subject-Token", ""),
                )
        except urllib.error.HTTPError as err:
            text = err.read().decode()
            return err.code, json.loads(text) if text else None, ""

    def login(self, user: str, password: str, project: str | None = "system") -> tuple[int, Any, str]:
        """POST /v3/auth/tokens as a service's config does (domain Default, project ``system``)."""
        auth: dict[str, Any] = {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "domain": {"name": "Default"}, "password": password}},
            }
        }
        if project:
            auth["scope"] = {"project": {"name": project, "domain": {"name": "Default"}}}
        return self.call("POST", "/auth/tokens", body={"auth": auth})

    def admin_token(self, password: str) -> str:
        status, _, token = self.login("sysadmin", password)
        assert status == 201, status
        return token


@pytest.fixture(scope="session", name="keystone_template")
def keystone_template_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keystone-template")


@pytest.fixture(name="keystone")
def keystone_fixture(keystone_template: Path, tmp_path: Path) -> Iterator[Server]:
    root = tmp_path / "keystone"
    server = _keystone.start(root, template=keystone_template)
    try:
        yield server
    finally:
        stop(root)
