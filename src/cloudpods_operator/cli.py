"""Command line: ``plan`` (what would run; no cluster needed), ``crd`` (the CRD), ``run`` (the operator).

Bad input is one line on stderr naming the field and the reason, and exit code 2; never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import ValidationError

from cloudpods_operator import __version__, crdgen, planner
from cloudpods_operator.errors import SpecError
from cloudpods_operator.model import OnecloudCluster, describe_validation_error

EXIT_BAD_INPUT = 2


class InputError(Exception):
    """A file the user gave cannot be used; the message is the whole story."""


def load_cluster(text: str, source: str) -> OnecloudCluster:
    """The one OnecloudCluster in a YAML stream; other kinds are skipped.

    Raises InputError, naming ``source``, for bad YAML, no cluster or several, or a schema violation.
    """
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"{source}:{where} not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    clusters = [d for d in documents if isinstance(d, dict) and d.get("kind") == "OnecloudCluster"]
    if len(clusters) != 1:
        raise InputError(f"{source}: expected exactly one OnecloudCluster document, found {len(clusters)}")
    try:
        return OnecloudCluster.model_validate(clusters[0])
    except ValidationError as exc:
        raise InputError(f"{source}: {describe_validation_error(exc)}") from exc


def _plan_rows(plan: planner.Plan) -> list[dict[str, Any]]:
    rows = []
    for obj in plan.objects:
        pod = obj.body.get("spec", {}).get("template", {}).get("spec", {})
        containers = [*pod.get("initContainers", []), *pod.get("containers", [])]
        rows.append(
            {
                "component": obj.component,
                "kind": obj.kind,
                "name": obj.name,
                "namespace": obj.namespace,
                "containers": [{"name": c["name"], "image": c["image"]} for c in containers],
            }
        )
    return rows


def _print_table(plan: planner.Plan) -> None:
    rows = _plan_rows(plan)
    lines = [("COMPONENT", "KIND", "NAME", "IMAGE")]
    for row in rows:
        images = [
            f"{c['image']}" + (f" ({c['name']})" if len(row["containers"]) > 1 else "")
            for c in row["containers"]
        ]
        lines.append((row["component"], row["kind"], row["name"], images[0] if images else "-"))
        lines.extend(("", "", "", image) for image in images[1:])
    widths = [max(len(line[i]) for line in lines) for i in range(3)]
    for line in lines:
        sys.stdout.write(
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line[:3])) + "  " + line[3] + "\n"
        )
    skipped = [c for c in plan.components if c.state is not planner.State.ENABLED]
    if skipped:
        sys.stdout.write("\nNot planned:\n")
        for comp in skipped:
            sys.stdout.write(f"  {comp.name}: {comp.state.value}, {comp.reason}\n")


def cmd_plan(args: argparse.Namespace) -> int:
    """``plan``: print what the operator would apply for a cluster file, with no API server.

    The file's namespace wins over ``-n``; a spec that cannot be planned is an InputError, like bad YAML.
    """
    source = "<stdin>" if args.file == "-" else args.file
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    except OSError as exc:
        raise InputError(f"{source}: cannot read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    cluster = load_cluster(text, source)
    if cluster.metadata.namespace is None:
        cluster.metadata.namespace = args.namespace
    try:
        plan = planner.plan(cluster)
    except SpecError as exc:
        raise InputError(f"{source}: {exc}") from exc
    if args.output == "json":
        sys.stdout.write(orjson.dumps(_plan_rows(plan), option=orjson.OPT_INDENT_2).decode() + "\n")
    elif args.output == "yaml":
        sys.stdout.write(yaml.safe_dump_all([o.body for o in plan.objects], sort_keys=False))
    else:
        _print_table(plan)
    return 0


def cmd_crd(args: argparse.Namespace) -> int:
    """``crd``: print the generated CRD; ``--write`` overwrites both committed copies under ``--root``."""
    text = crdgen.render_yaml()
    if not args.write:
        sys.stdout.write(text)
        return 0
    for path in crdgen.crd_paths(Path(args.root)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        sys.stderr.write(f"wrote {path}\n")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """``run``: the operator in the foreground until SIGTERM or SIGINT."""
    from cloudpods_operator import manager  # late: the shell imports kubernetes_asyncio (~60 MiB)

    return manager.main(args)


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand sets ``func``; ``run``'s flags live in ``settings``, next to the fields they fill."""
    parser = argparse.ArgumentParser(prog="cloudpods-operator", description=__doc__)
    parser.add_argument("--version", action="version", version=f"cloudpods-operator {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    plan = sub.add_parser("plan", help="print every object the operator would apply for a cluster file")
    plan.add_argument("-f", "--file", required=True, help="OnecloudCluster YAML, or - for stdin")
    plan.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    plan.add_argument("-n", "--namespace", default="default", help="namespace when the file names none")
    plan.set_defaults(func=cmd_plan)

    crd = sub.add_parser("crd", help="print the CRD generated from the model")
    crd.add_argument("--write", action="store_true", help="write crd/ and the chart's crds/ instead")
    crd.add_argument("--root", default=".", help="project root for --write")
    crd.set_defaults(func=cmd_crd)

    run = sub.add_parser("run", help="run the operator")
    from cloudpods_operator.settings import add_run_arguments

    add_run_arguments(run)
    run.set_defaults(func=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The console script's exit code: 2 with one ``error:`` line for bad input, never a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except InputError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT
