"""The manifest reader: limits (size, depth, aliases) and the YAML that JSON (and kubectl) cannot carry.

Each refused input is refused fast (a hang is a failure: pytest-timeout's budget is not the check, the
elapsed time is) and with one line.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from cloudpods_operator import manifests


def alias_bomb(levels: int, fan: int = 10) -> bytes:
    """``levels`` anchors, each a list of ``fan`` aliases of the one before: fan**levels leaves."""
    lines = ["a0: &a0 [" + ", ".join(["x"] * fan) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]" for i in range(1, levels)]
    return (
        "\n".join(lines) + f"\nspec: {{keystone: {{affinity: {{nodeAffinity: *a{levels - 1}}}}}}}\n"
    ).encode()


def nested(depth: int, flow: bool) -> bytes:
    if flow:
        return ("spec: " + "{a: " * depth + "1" + "}" * depth + "\n").encode()
    return (
        "spec:\n" + "".join("  " * (i + 1) + "a:\n" for i in range(depth)) + "  " * (depth + 1) + "x: 1\n"
    ).encode()


def mapping_bomb(levels: int) -> bytes:
    """Each anchor a mapping of two aliases of the one before: 2**levels copies of the first."""
    lines = ["b0: &b0 {x: 1, y: 1, z: 1}"]
    lines += [f"b{i}: &b{i} {{p: *b{i - 1}, q: *b{i - 1}}}" for i in range(1, levels)]
    return ("\n".join(lines) + "\n").encode()


ACCEPTED: list[tuple[str, bytes, list[dict[str, Any]]]] = [
    ("one document", b"kind: A\n", [{"kind": "A"}]),
    ("empty documents are skipped", b"---\n---\nkind: A\n---\n", [{"kind": "A"}]),
    ("several documents", b"kind: A\n---\nkind: B\n", [{"kind": "A"}, {"kind": "B"}]),
    ("an anchor used once", b"a: &x {b: 1}\nc: *x\n", [{"a": {"b": 1}, "c": {"b": 1}}]),
    (
        "a merge key overridden",
        b"a: &x {b: 1, c: 2}\nd:\n  <<: *x\n  b: 3\n",
        [{"a": {"b": 1, "c": 2}, "d": {"b": 3, "c": 2}}],
    ),
    ("a timestamp stays text", b"t: 2001-12-14\n", [{"t": "2001-12-14"}]),
    ("base 60 stays text", b"t: 1:20\n", [{"t": "1:20"}]),
    ("a UTF-8 BOM", b"\xef\xbb\xbfkind: A\n", [{"kind": "A"}]),
    ("unicode", "k: \u00e9\U0001f600\n".encode(), [{"k": "\u00e9\U0001f600"}]),
    ("63 levels", nested(62, flow=True), [manifests.load(nested(62, flow=True))[0]]),
    ("an alias under the budget", alias_bomb(3), [manifests.load(alias_bomb(3))[0]]),
]


@pytest.mark.parametrize(("data", "expected"), [a[1:] for a in ACCEPTED], ids=[a[0] for a in ACCEPTED])
def test_accepted(data: bytes, expected: list[dict[str, Any]]) -> None:
    assert manifests.load(data) == expected


REFUSED: list[tuple[str, bytes, str]] = [
    ("alias bomb, 9 levels of 10", alias_bomb(9), "aliases expand to more than"),
    ("alias bomb, 5 levels of 10", alias_bomb(5), "aliases expand to more than"),
    ("alias bomb of mappings", mapping_bomb(20), "aliases expand"),
    ("500 nested flow mappings", nested(500, flow=True), "nested deeper than 64"),
    ("100 nested block mappings", nested(100, flow=False), "nested deeper than 64"),
    ("20000 nested flow sequences", b"a: " + b"[" * 20000 + b"]" * 20000, "nested deeper than 64"),
    ("larger than 4 MiB", b"a: '" + b"x" * manifests.MAX_BYTES + b"'\n", "larger than 4 MiB"),
    ("duplicate key", b"kind: A\nkind: B\n", "line 2: duplicate key 'kind'"),
    ("duplicate key in a flow mapping", b"a: {b: 1, b: 2}\n", "duplicate key 'b'"),
    ("a non-string key", b"1: x\n", "not a string"),
    ("a null key", b"~: x\n", "not a string"),
    ("a sequence key", b"? [a]\n: 1\n", "a key is a sequence"),
    ("NaN", b"a: .nan\n", "not a JSON number"),
    ("infinity", b"a: -.inf\n", "not a JSON number"),
    ("binary", b"a: !!binary aGk=\n", "no JSON equivalent"),
    ("a set", b"a: !!set {x}\n", "no JSON equivalent"),
    ("a python tag", b"a: !!python/object/apply:os.system [ls]\n", "not valid YAML"),
    ("a list document", b"- a\n- b\n", "document 1 is a list"),
    ("a scalar document", b"kind: A\n---\nhello\n", "document 2 is a str"),
    ("invalid UTF-8", b"a: r\xe9gion\n", "not UTF-8 text"),
    ("binary garbage", bytes(range(256)) * 4, "not UTF-8"),
    ("a NUL", b"a: \x00\n", "not valid YAML"),
    ("an escape sequence", b"a: \x1b[31m\n", "not valid YAML"),
    ("unclosed flow", b"a: [1\n", "line 2: not valid YAML"),
    ("an undefined alias", b"a: *nope\n", "undefined alias"),
    ("a tab indent", b"a:\n\t- b\n", "not valid YAML"),
]


@pytest.mark.parametrize(("data", "needle"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_refused_fast_with_one_line(data: bytes, needle: str) -> None:
    started = time.perf_counter()
    with pytest.raises(manifests.ManifestError) as caught:
        manifests.load(data)
    elapsed = time.perf_counter() - started
    message = str(caught.value)
    assert needle in message
    assert "\n" not in message and len(message) < 300
    assert elapsed < 2.0, f"took {elapsed:.1f}s"
