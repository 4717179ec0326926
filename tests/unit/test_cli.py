"""``cloudpods-operator plan``, in process: the three output formats and one-line errors with exit code 2."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from repo_paths import CRD_DIR, EXAMPLE

from cloudpods_operator import cli, provisioning, settings

HEADER = "apiVersion: onecloud.yunion.io/v1alpha1\nkind: OnecloudCluster\nmetadata:\n  name: default\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def example_rows() -> list[dict[str, Any]]:
    """`plan -o json` of the example, computed once (capsys is function-scoped, so capture by hand)."""
    buffer = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdout", buffer)
        assert cli.main(["plan", "-f", str(EXAMPLE), "-o", "json"]) == 0
    listing = json.loads(buffer.getvalue())
    assert (listing["apiVersion"], listing["kind"]) == ("v1", "List")
    return [_row(item) for item in listing["items"]]


def _row(body: dict[str, Any]) -> dict[str, Any]:
    """One planned object, summarised as the checks below read it."""
    return {
        "component": body["metadata"]["labels"].get("app.kubernetes.io/component", ""),
        "kind": body["kind"],
        "name": body["metadata"]["name"],
        "namespace": body["metadata"]["namespace"],
        "containers": [{"name": c["name"], "image": c["image"]} for c in cli.containers(body)],
    }


def _rows(out: str) -> list[dict[str, Any]]:
    return [_row(item) for item in json.loads(out)["items"]]


def test_plan_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "plan", "-f", str(EXAMPLE))
    assert code == 0, err
    assert err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["NAMESPACE", "COMPONENT", "KIND", "NAME", "IMAGE"]
    assert "106 objects (41 workloads) for 41 components; 15 not planned" in lines
    region = [line for line in lines if " default-region " in f" {line} " and "Deployment" in line]
    assert len(region) == 1
    assert "registry.cn-beijing.aliyuncs.com/yunionio/region:v3.11.5" in out
    assert "Not planned:" in out
    assert "meter: disabled" in out


def test_plan_json(example_rows: list[dict[str, Any]]) -> None:
    assert example_rows
    for row in example_rows:
        assert set(row) == {"component", "kind", "name", "namespace", "containers"}
        assert row["namespace"] == "onecloud"
        for container in row["containers"]:
            assert set(container) == {"name", "image"}
    components = {row["component"] for row in example_rows}
    assert {
        "region",
        "keystone",
        "host-sdnagent",
        "onecloud-service-operator",
        "host-ovs-vswitchd",
    } <= components
    assert not components & {"regionServer", "apiGateway", "onecloudServiceOperator", "hostagent"}
    [region] = [r for r in example_rows if r["kind"] == "Deployment" and r["name"] == "default-region"]
    assert region["component"] == "region"
    assert region["containers"] == [
        {"name": "init", "image": "registry.cn-beijing.aliyuncs.com/yunionio/region:v3.11.5"},
        {"name": "region", "image": "registry.cn-beijing.aliyuncs.com/yunionio/region:v3.11.5"},
    ]
    [sdn] = [r for r in example_rows if r["name"] == "default-host-sdnagent"]
    assert (sdn["component"], sdn["kind"]) == ("host-sdnagent", "DaemonSet")


def test_plan_yaml_is_multi_document(
    capsys: pytest.CaptureFixture[str], example_rows: list[dict[str, Any]]
) -> None:
    code, out, err = run(capsys, "plan", "-f", str(EXAMPLE), "-o", "yaml")
    assert code == 0, err
    docs = list(yaml.load_all(out, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    assert len(docs) == len(example_rows)
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        (r["kind"], r["name"]) for r in example_rows
    ]
    for doc in docs:
        assert doc["apiVersion"] and doc["metadata"]["namespace"] == "onecloud"


def test_namespace_flag_when_the_file_names_none(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(HEADER + "spec:\n  version: v1\n")
    code, out, _ = run(capsys, "plan", "-f", str(path), "-o", "json")
    assert code == 0
    assert {r["namespace"] for r in _rows(out)} == {"default"}
    code, out, _ = run(capsys, "plan", "-f", str(path), "-o", "json", "-n", "onecloud")
    assert {r["namespace"] for r in _rows(out)} == {"onecloud"}


def test_plan_reads_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(HEADER + "spec:\n  version: archdev-v36\n"))
    code, out, _ = run(capsys, "plan", "-f", "-", "-o", "json")
    assert code == 0
    images = {c["image"] for r in _rows(out) for c in r["containers"]}
    assert "registry.cn-beijing.aliyuncs.com/yunionio/keystone:archdev-v36" in images


# ---- bad input: exit code 2, one line on stderr naming the field ---------------------------------

BAD_INPUT: list[tuple[str, str, list[str]]] = [
    ("malformed YAML", HEADER + "spec:\n  version: [v1\n", ["not valid YAML", "line"]),
    (
        "unknown component",
        HEADER + "spec:\n  regionserver2:\n    tag: x\n",
        ["spec.regionserver2", "unknown field"],
    ),
    ("negative replicas", HEADER + "spec:\n  keystone:\n    replicas: -1\n", ["spec.keystone.replicas"]),
    (
        "bad repository",
        HEADER + "spec:\n  regionServer:\n    repository: 192.168.0.1:5000/YunionIO\n",
        ["spec.regionServer.repository", "192.168.0.1:5000/YunionIO"],
    ),
    ("bad tag", HEADER + "spec:\n  version: ':latest'\n", ["spec.version"]),
    (
        "bad imageName",
        HEADER + "spec:\n  webconsole:\n    Guacd:\n      imageName: Guacd\n",
        ["spec.webconsole.Guacd.imageName"],
    ),
    ("bad image", HEADER + "spec:\n  keystone:\n    image: 'not an image'\n", ["spec.keystone.image"]),
    (
        "unknown edition",
        HEADER + "  annotations:\n    onecloud.yunion.io/edition: enterprise\n",
        ["onecloud.yunion.io/edition", "enterprise"],
    ),
    (
        "nodePort conflict",
        HEADER + "spec:\n  regionServer:\n    service:\n      nodePort: 30500\n",
        ["nodePort", "30500"],
    ),
    (
        "a value only a planned part refuses",  # a pydantic traceback from planner.plan before
        HEADER + "spec:\n  etcd:\n    disable: true\n    repository: " + "r" * 256 + "\n",
        ["repository"],
    ),
    ("no OnecloudCluster", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n", ["OnecloudCluster"]),
    ("empty file", "", ["OnecloudCluster"]),
]


@pytest.mark.parametrize(("text", "needles"), [b[1:] for b in BAD_INPUT], ids=[b[0] for b in BAD_INPUT])
def test_bad_input_is_one_error_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, needles: list[str]
) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(text)
    code, out, err = run(capsys, "plan", "-f", str(path))
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert str(path) in lines[0]
    for needle in needles:
        assert needle in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("name", ["missing.yaml", "a-directory"])
def test_unreadable_file_is_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str) -> None:
    (tmp_path / "a-directory").mkdir()
    code, out, err = run(capsys, "plan", "-f", str(tmp_path / name))
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    assert name in err


def test_non_utf8_file_is_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(HEADER.encode() + b"spec:\n  region: r\xe9gion\n")
    code, _, err = run(capsys, "plan", "-f", str(path))
    assert code == 2
    assert err.startswith("error: ") and len(err.splitlines()) == 1


def test_crd_command_prints_the_generated_crd(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "crd")
    assert code == 0
    assert out == (CRD_DIR / "onecloudclusters.onecloud.yunion.io.yaml").read_text()


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("", None),
        ("127.0.0.1:3306", ("127.0.0.1", 3306)),
        ("[::1]:13306", ("::1", 13306)),
        ("db:1", ("db", 1)),
    ],
)
def test_mysql_address(text: str, parsed: tuple[str, int] | None) -> None:
    assert settings.parse_address(text) == parsed


@pytest.mark.parametrize("text", ["mysql", "mysql:", ":3306", "mysql:0", "mysql:99999", "mysql:x"])
def test_mysql_address_refused(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        settings.parse_address(text)


def test_a_mysql_host_without_a_dot_is_a_service_of_the_namespace() -> None:
    assert provisioning.service_host("mysql", "onecloud") == "mysql.onecloud.svc"
    assert provisioning.service_host("db.example.com", "onecloud") == "db.example.com"
    assert provisioning.service_host("10.0.0.5", "onecloud") == "10.0.0.5"
    assert provisioning.service_host("fd00::5", "onecloud") == "fd00::5"


def test_mysql_address_flag_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = argparse.ArgumentParser()
    settings.add_run_arguments(parser)
    assert settings.from_args(parser.parse_args([])).mysql_address is None
    flagged = settings.from_args(parser.parse_args(["--mysql-address", "127.0.0.1:13306"]))
    assert (flagged.mysql_address, flagged.manage_databases) == (("127.0.0.1", 13306), True)
    monkeypatch.setenv("MYSQL_ADDRESS", "db.example.com:3306")
    monkeypatch.setenv("MANAGE_DATABASES", "false")
    parser = argparse.ArgumentParser()
    settings.add_run_arguments(parser)
    from_env = settings.from_args(parser.parse_args([]))
    assert (from_env.mysql_address, from_env.manage_databases) == (("db.example.com", 3306), False)


# ---- every error is one line, in a real process: pipes, disks, environment, kubeconfig, ports ------------

CLI = [sys.executable, "-c", "import sys; from cloudpods_operator.cli import main; sys.exit(main())"]
_RUN_ENV_NAMES = ("KUBECONFIG", "WORKERS", "LEADER_ELECT", "METRICS_ADDRESS", "HEALTH_ADDRESS", "LOG_LEVEL")


def cli_process(
    *argv: str, env: dict[str, str] | None = None, stdout: int | None = subprocess.PIPE, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, with a clean environment plus ``env``."""
    base = {k: v for k, v in os.environ.items() if k not in _RUN_ENV_NAMES}
    return subprocess.run(
        [*CLI, *argv],
        env={**base, **(env or {})},
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_one_error_line(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for needle in needles:
        assert needle in lines[0]


def test_a_closed_pipe_ends_plan_quietly() -> None:
    """``plan | head -1``: the reader is gone before plan writes; exit 1 as Python on EPIPE, nothing else."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = cli_process("plan", "-f", str(EXAMPLE), "-o", "yaml", stdout=write_end)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (1, "")


@pytest.mark.parametrize(
    "argv", [["plan", "-f", str(EXAMPLE), "-o", "yaml"], ["plan", "-f", str(EXAMPLE)], ["crd"]]
)
def test_a_full_disk_is_one_error_line(argv: list[str]) -> None:
    with open("/dev/full", "w") as full:
        done = cli_process(*argv, stdout=full.fileno())
    assert_one_error_line(done, "cannot write the output", "No space left on device")


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"]])
def test_help_works_whatever_the_environment(argv: list[str]) -> None:
    done = cli_process(*argv, env={"WORKERS": "abc", "LEADER_ELECT": "maybe", "RESYNC_SECONDS": "soon"})
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("usage: cloudpods-operator")


BAD_RUN_SETTINGS: list[tuple[str, dict[str, str], list[str], list[str]]] = [
    ("WORKERS=abc", {"WORKERS": "abc"}, [], ["--workers", "'abc'", "$WORKERS"]),
    ("WORKERS=0", {"WORKERS": "0"}, [], ["--workers", "below 1"]),
    ("APPLY_CONCURRENCY=1.5", {"APPLY_CONCURRENCY": "1.5"}, [], ["$APPLY_CONCURRENCY"]),
    ("RESYNC_SECONDS=nan", {"RESYNC_SECONDS": "nan"}, [], ["$RESYNC_SECONDS", "finite"]),
    ("LEASE_DURATION=-1", {"LEASE_DURATION": "-1"}, [], ["$LEASE_DURATION"]),
    ("LOG_LEVEL=loud", {"LOG_LEVEL": "loud"}, [], ["$LOG_LEVEL", "'loud'"]),
    ("LOG_FORMAT=xml", {"LOG_FORMAT": "xml"}, [], ["$LOG_FORMAT"]),
    ("LEADER_ELECT=maybe", {"LEADER_ELECT": "maybe"}, [], ["$LEADER_ELECT", "'maybe'"]),
    ("MANAGE_DATABASES=2", {"MANAGE_DATABASES": "2"}, [], ["$MANAGE_DATABASES"]),
    ("METRICS_ADDRESS=8080", {"METRICS_ADDRESS": "8080"}, [], ["$METRICS_ADDRESS"]),
    ("MYSQL_ADDRESS=db", {"MYSQL_ADDRESS": "db"}, [], ["$MYSQL_ADDRESS", "HOST:PORT"]),
    ("KEYSTONE_URL=ftp://x", {"KEYSTONE_URL": "ftp://x"}, [], ["$KEYSTONE_URL"]),
    ("a long value is cut", {"WORKERS": "x" * 100_000}, [], ["$WORKERS", "..."]),
    ("--workers x", {}, ["--workers", "x"], ["--workers"]),
    ("an unknown flag", {}, ["--frobnicate"], ["--frobnicate"]),
    (
        "lease timings out of order",
        {},
        ["--leader-elect", "--lease-duration", "5", "--renew-deadline", "10"],
        ["--lease-duration", "--renew-deadline"],
    ),
    ("a missing kubeconfig", {}, ["--kubeconfig", "/nonexistent"], ["/nonexistent", "no such file"]),
]


@pytest.mark.parametrize(
    ("env", "argv", "needles"), [b[1:] for b in BAD_RUN_SETTINGS], ids=[b[0] for b in BAD_RUN_SETTINGS]
)
def test_bad_run_settings_are_one_error_line(
    env: dict[str, str], argv: list[str], needles: list[str]
) -> None:
    done = cli_process("run", *argv, env=env)
    assert_one_error_line(done, *needles)
    assert len(done.stderr) < 700


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("", "no usable kubeconfig"),
        ("apiVersion: v1\nkind: Config\n", "no usable kubeconfig"),
        ("[", "ParserError"),
    ],
    ids=["empty", "no current-context", "not YAML"],
)
def test_an_unusable_kubeconfig_is_one_error_line(tmp_path: Path, content: str, needle: str) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(content)
    done = cli_process(
        "run", "--kubeconfig", str(kubeconfig), "--health-address", "", "--metrics-address", ""
    )
    assert_one_error_line(done, str(kubeconfig), needle)


DEAD_SERVER_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


def test_a_taken_port_is_one_error_line(tmp_path: Path) -> None:
    """A second operator while another holds the metrics port: one line naming the address, exit 2.

    Loading a kubeconfig dials nothing, and the probes start before any request: no API server is needed.
    """
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(DEAD_SERVER_KUBECONFIG)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        address = f"127.0.0.1:{holder.getsockname()[1]}"
        done = cli_process(
            "run",
            "--kubeconfig",
            str(kubeconfig),
            "--metrics-address",
            address,
            "--health-address",
            "",
            timeout=30,
        )
    assert_one_error_line(done, address, "address already in use")


def test_an_alias_bomb_is_refused_at_once_in_a_process(tmp_path: Path) -> None:
    """The 570-byte bomb of the issue (9 levels of 10 aliases under keystone.affinity) ran for minutes."""
    levels = ["a0: &a0 [" + ", ".join(["x"] * 10) + "]"]
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text(HEADER + "spec:\n  keystone:\n    affinity:\n" + "".join(f"      {x}\n" for x in levels))
    assert len(path.read_bytes()) < 1024
    started = time.monotonic()
    done = cli_process("plan", "-f", str(path), "-o", "yaml", timeout=30)
    assert_one_error_line(done, "aliases expand")
    assert time.monotonic() - started < 10


def test_deep_nesting_is_one_error_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(HEADER + "spec:\n  keystone:\n    affinity: " + "{a: " * 500 + "1" + "}" * 500 + "\n")
    code, out, err = run(capsys, "plan", "-f", str(path))
    assert (code, out) == (2, "")
    assert err.splitlines() == [f"error: {path}: line 7: nested deeper than 64 levels"]


def test_a_huge_value_is_not_echoed(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(HEADER + f"spec:\n  version: '{'@' * 1_000_000}'\n")
    code, _, err = run(capsys, "plan", "-f", str(path))
    assert code == 2
    assert len(err.splitlines()) == 1 and len(err) < 700, err[:1000]
    assert "spec.version" in err


def test_every_command_and_flag_says_what_it_does() -> None:
    """Each command has a description, each flag a help; run's flags name their environment variable."""
    parser = cli.build_parser()
    assert parser.description and "``" not in parser.description
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        assert sub.description, f"{name} has no description"
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help and not action.help.startswith("["), f"{name} {action.option_strings}: no help"
            if name == "run":
                assert re.search(r"\[[A-Z_]+\]$", action.help), f"run {action.option_strings}: no variable"
