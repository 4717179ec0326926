"""Reading manifest files: bytes in, a list of JSON-compatible documents out, or one ManifestError.

A file a user hands to ``plan`` is untrusted: YAML can expand a few hundred bytes of aliases into
gigabytes (an "alias bomb"), nest deeper than Python's stack, or carry values JSON cannot (NaN,
``!!binary``, dates). The reader refuses those at the YAML level, before any model sees them, with
limits that no real OnecloudCluster comes near:

- size: ``MAX_BYTES`` (4 MiB; the API server's own request limit is 3 MiB);
- nesting: ``MAX_DEPTH`` collections deep (a CR's deepest field, an affinity term, is about 10);
- aliases: expanded, they may add at most ``MAX_ALIAS_NODES`` nodes beyond the ones written, so an
  anchor can be reused, but not multiplied (go-yaml, under kubectl, limits alias expansion the same way).

Decisions where YAML and Kubernetes differ (kubectl and the API server decode YAML with go-yaml):

- duplicate keys in one mapping are refused, as the API server's strict field validation (kubectl's
  default) refuses them; PyYAML alone would keep the last one silently;
- keys must be strings (JSON object keys); quote ``1:`` or ``true:``;
- NaN and infinities are refused: JSON has no such numbers and kubectl refuses them too;
- ``!!binary`` and other non-JSON types are refused; YAML timestamps stay the strings they were
  written as (go-yaml decodes them so when the target is untyped, as a CR's JSON is);
- YAML 1.1's base-60 numbers (``1:20``) stay strings, as go-yaml reads them;
- documents that are neither a mapping nor empty (a bare list, a scalar) are refused: kubectl would too.

Pure: no I/O; the CLI reads the bytes (at most ``MAX_BYTES + 1``) and calls :func:`load`.
"""

from __future__ import annotations

import math
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIAS_NODES = 10_000

JSONDoc = dict[str, Any]


class ManifestError(ValueError):
    """A file that cannot be read as manifests; the message is one line and says where."""


def _where(node: Node | None) -> str:
    return f"line {node.start_mark.line + 1}: " if node is not None and node.start_mark else ""


class _Loader(yaml.SafeLoader):
    """SafeLoader with a depth limit, an alias budget and JSON-only values.

    The pure-Python composer is hooked (the C one cannot be): each composed node gets its expanded size
    (itself plus its children's, an alias counting its anchor's whole subtree again), so an alias bomb is
    refused while composing, after a few thousand nodes, never after expansion.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._via_aliases = 0
        self._sizes: dict[int, int] = {}

    def compose_document(self) -> Node | None:
        """One document; the budgets are per document (the anchors are too)."""
        self._via_aliases = 0
        self._sizes = {}
        node: Node | None = super().compose_document()
        return node

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        """Counts depth, written nodes and nodes added by aliases, refusing past the limits."""
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            node: Node | None = super().compose_node(parent, index)
            self._via_aliases += self._sizes.get(id(node), 1)
            if self._via_aliases > MAX_ALIAS_NODES:
                raise ManifestError(
                    f"line {event.start_mark.line + 1}: aliases expand to more than {MAX_ALIAS_NODES} nodes "
                    "(an alias bomb?); write the values out instead"
                )
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise ManifestError(f"line {event.start_mark.line + 1}: nested deeper than {MAX_DEPTH} levels")
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None:
            self._sizes[id(node)] = 1 + _children_size(node, self._sizes)
        return node

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        """A dict with string keys, each written at most once (``<<`` merge keys may still be overridden)."""
        seen: set[str] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if not isinstance(key_node, ScalarNode):
                raise ManifestError(f"{_where(key_node)}a key is a {key_node.id}; JSON keys are strings")
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                raise ManifestError(
                    f"{_where(key_node)}key {_short(repr(key))} is not a string; quote it (JSON keys are)"
                )
            if key in seen:
                raise ManifestError(f"{_where(key_node)}duplicate key {_short(repr(key))}")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_json_float(self, node: ScalarNode) -> float | str:
        """A float JSON can carry: NaN and infinities are refused."""
        if ":" in str(node.value):  # base 60, as for ints
            return str(node.value)
        value = self.construct_yaml_float(node)
        if not math.isfinite(value):
            raise ManifestError(f"{_where(node)}{node.value!r} is not a JSON number (NaN or infinite)")
        return float(value)

    def construct_json_int(self, node: ScalarNode) -> int | str:
        """An int, except YAML 1.1's base-60 ``1:20`` (80), which go-yaml and so kubectl read as a string."""
        if ":" in str(node.value):
            return str(node.value)
        value: int = self.construct_yaml_int(node)
        return value

    def construct_timestamp_text(self, node: ScalarNode) -> str:
        """A timestamp stays the string it was written as (JSON has no dates)."""
        return str(node.value)

    def construct_non_json(self, node: Node) -> Any:
        """``!!binary``, ``!!omap``, ``!!pairs``, ``!!set``: no JSON value says the same."""
        raise ManifestError(f"{_where(node)}tag {node.tag} has no JSON equivalent")


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_json_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_json_float)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_timestamp_text)
for _tag in ("binary", "omap", "pairs", "set"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _Loader.construct_non_json)


def _children_size(node: Node, sizes: dict[int, int]) -> int:
    if isinstance(node, SequenceNode):
        return sum(sizes.get(id(child), 1) for child in node.value)
    if isinstance(node, MappingNode):
        return sum(sizes.get(id(k), 1) + sizes.get(id(v), 1) for k, v in node.value)
    return 0


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def decode(data: bytes) -> str:
    """UTF-8 text (a BOM is dropped), within MAX_BYTES; ManifestError otherwise."""
    if len(data) > MAX_BYTES:
        raise ManifestError(f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def load(data: bytes) -> list[JSONDoc]:
    """Every non-empty document of a YAML stream, each a mapping of JSON values; ManifestError otherwise."""
    text = decode(data)
    loader: _Loader | None = None
    documents: list[JSONDoc] = []
    try:
        loader = _Loader(text)  # the reader refuses control characters here already
        while loader.check_data():  # type: ignore[no-untyped-call]
            document = loader.get_data()
            if document is None:
                continue
            if not isinstance(document, dict):
                raise ManifestError(
                    f"document {len(documents) + 1} is a {type(document).__name__}, not a mapping (an object)"
                )
            documents.append(document)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ManifestError(f"{where}not valid YAML ({problem})") from None
    except RecursionError:  # unreachable with MAX_DEPTH well below the stack; kept as a last guard
        raise ManifestError(f"nested deeper than {MAX_DEPTH} levels") from None
    finally:
        if loader is not None:
            loader.dispose()
    return documents
