"""Command line: ``plan`` (what would run; no cluster needed), ``crd`` (the CRD), ``run`` (the operator),
``export-cluster-config`` (hand a cluster back to the Go operator).

Bad input is one line on stderr naming the field and the reason, and exit code 2; never a traceback.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import orjson
import yaml
from pydantic import ValidationError

from cloudpods_operator import (
    __version__,
    clusterconfig,
    crdgen,
    credentials,
    errors,
    kinds,
    manifests,
    planner,
)
from cloudpods_operator.errors import SpecError
from cloudpods_operator.model import OnecloudCluster, describe_validation_error

EXIT_BAD_INPUT = 2
T = TypeVar("T")
VALUE_CHARS = 80
"""A quoted value in an error message is cut to this many characters."""
MESSAGE_CHARS = 600
"""An error line is cut to this many characters."""


class InputError(Exception):
    """A file the user gave cannot be used; the message is the whole story."""


def load_cluster(data: str | bytes, source: str) -> OnecloudCluster:
    """The one OnecloudCluster in a YAML stream; other kinds are skipped.

    Raises InputError, naming ``source``, for YAML the reader refuses (limits: :mod:`manifests`), no
    cluster or several, or a schema violation.
    """
    try:
        documents = manifests.load(data.encode() if isinstance(data, str) else data)
    except manifests.ManifestError as exc:
        raise InputError(f"{source}: {exc}") from None
    clusters = [d for d in documents if d.get("kind") == "OnecloudCluster"]
    if len(clusters) != 1:
        raise InputError(f"{source}: expected exactly one OnecloudCluster document, found {len(clusters)}")
    try:
        return OnecloudCluster.model_validate(clusters[0])
    except ValidationError as exc:
        raise InputError(f"{source}: {describe_validation_error(exc)}") from None
    except RecursionError:  # a value nested below the reader's limit but deep for the model: still one line
        raise InputError(f"{source}: nested too deeply") from None


def _read(path: str) -> bytes:
    """At most one byte more than :data:`manifests.MAX_BYTES` of a file, or of stdin for ``-``."""
    limit = manifests.MAX_BYTES + 1
    if path == "-":
        raw = getattr(sys.stdin, "buffer", None)  # a test's StringIO has none
        return raw.read(limit) if raw is not None else sys.stdin.read(limit).encode()
    with Path(path).open("rb") as stream:
        return stream.read(limit)


def _write(text: str) -> None:
    """Standard output; a full disk or a closed descriptor is an InputError (a broken pipe stays one)."""
    try:
        sys.stdout.write(text)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise InputError(f"cannot write the output ({exc.strerror or exc})") from None


def containers(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A workload body's init and main containers (none for other kinds)."""
    pod = body.get("spec", {}).get("template", {}).get("spec", {})
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def _print_table(plan: planner.Plan) -> None:
    lines = [("NAMESPACE", "COMPONENT", "KIND", "NAME", "IMAGE")]
    for obj in plan.objects:
        found = containers(obj.body)
        images = [c["image"] + (f" ({c['name']})" if len(found) > 1 else "") for c in found]
        lines.append((obj.namespace, obj.component, obj.kind, obj.name, images[0] if images else "-"))
        lines.extend(("", "", "", "", image) for image in images[1:])
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    for line in lines:
        _write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line[:4])) + "  " + line[4] + "\n")
    skipped = [c for c in plan.components if c.state is not planner.State.ENABLED]
    enabled = len(plan.components) - len(skipped)
    workloads = sum(1 for o in plan.objects if o.kind in kinds.WORKLOAD_KINDS)
    total = f"{len(plan.objects)} objects ({workloads} workloads) for {enabled} components"
    _write(f"\n{total}; {len(skipped)} not planned\n")
    if skipped:
        _write("\nNot planned:\n")
        for comp in skipped:
            _write(f"  {comp.name}: {comp.state.value}, {comp.reason}\n")


def cmd_plan(args: argparse.Namespace) -> int:
    """``plan``: print what the operator would apply for a cluster file, with no API server.

    The file's namespace wins over ``-n``; a spec that cannot be planned is an InputError, like bad YAML.
    """
    source = "<stdin>" if args.file == "-" else args.file
    try:
        data = _read(args.file)
    except OSError as exc:
        raise InputError(f"{source}: cannot read ({exc.strerror or exc})") from None
    cluster = load_cluster(data, source)
    if cluster.metadata.namespace is None:
        cluster.metadata.namespace = args.namespace
    try:
        plan = planner.plan(cluster)
    except SpecError as exc:
        raise InputError(f"{source}: {exc}") from exc
    except ValidationError as exc:  # a value the model let through but a part built from it refuses
        raise InputError(f"{source}: {describe_validation_error(exc)}") from None
    if args.output == "json":
        # The same objects as -o yaml, as kubectl prints several objects: one v1 List.
        listing = {"apiVersion": "v1", "kind": "List", "items": [o.body for o in plan.objects]}
        _write(orjson.dumps(listing, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif args.output == "yaml":
        _write(yaml.safe_dump_all([o.body for o in plan.objects], sort_keys=False))
    else:
        _print_table(plan)
    return 0


def cmd_crd(args: argparse.Namespace) -> int:
    """``crd``: print the generated CRD; ``--write`` overwrites both committed copies under ``--root``."""
    text = crdgen.render_yaml()
    if not args.write:
        _write(text)
        return 0
    for path in crdgen.crd_paths(Path(args.root)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        sys.stderr.write(f"wrote {path}\n")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """``run``: the operator in the foreground until SIGTERM or SIGINT.

    What stops it from starting (settings that contradict each other, no kubeconfig, a taken port) is an
    InputError; once it runs, it logs.
    """
    from cloudpods_operator import settings  # late, as manager: plan and crd read no run settings

    try:
        settings.from_args(args)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    paths = [p for p in (args.kubeconfig or "").split(os.pathsep) if p]  # $KUBECONFIG may list several
    if paths and not any(Path(p).is_file() for p in paths):
        raise InputError(f"--kubeconfig {args.kubeconfig}: no such file")
    from cloudpods_operator import manager  # late: the shell imports kubernetes_asyncio (~60 MiB)

    try:
        return manager.main(args)
    except manager.StartupError as exc:
        raise InputError(str(exc)) from None


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def cluster_ref(text: str) -> tuple[str, str]:
    """``NAMESPACE/NAME`` of a cluster; InputError unless both are valid Kubernetes names."""
    namespace, slash, name = text.partition("/")
    if not slash or not namespace or not name:
        raise InputError(f"{text!r}: expected NAMESPACE/NAME of a cluster, e.g. onecloud/default")
    if not _DNS_LABEL.fullmatch(namespace):
        raise InputError(f"{text!r}: namespace {namespace!r} is not a DNS label (lowercase, digits, '-')")
    longest = max(len(credentials.secret_name(name)), len(clusterconfig.configmap_name(name)))
    if not _DNS_SUBDOMAIN.fullmatch(name) or longest > 253:
        raise InputError(f"{text!r}: name {name!r} is not a DNS subdomain name of at most 238 characters")
    return namespace, name


async def _read_secret(kubeconfig: str | None, namespace: str, name: str) -> dict[str, str]:
    from cloudpods_operator.kube.client import Kube  # late, as in cmd_run: plan and crd need no client

    logging.getLogger("kubernetes_asyncio").setLevel(logging.ERROR)  # no "Config not found": our error says
    kube = await Kube.connect(kubeconfig)
    try:
        secret = await kube.get(kinds.RESOURCES["Secret"], namespace, name)
    finally:
        await kube.close()
    data: dict[str, str] = secret.get("data") or {}
    return data


def cmd_export_cluster_config(args: argparse.Namespace) -> int:
    """``export-cluster-config``: the Go operator's ``<NAME>-cluster-config`` ConfigMap with the passwords
    of ``<NAME>-credentials`` in use now, so that handing the cluster back keeps every login working.

    Passwords the Secret lacks are left empty (the Go operator generates them): a note on stderr says which.
    """
    namespace, name = cluster_ref(args.cluster)
    if args.kubeconfig and not Path(args.kubeconfig).is_file():
        raise InputError(f"--kubeconfig {args.kubeconfig}: no such file")
    import anyio  # late: the other commands need no async runtime

    where = f"Secret {namespace}/{credentials.secret_name(name)}"
    raw = _against_the_api(
        where, lambda: anyio.run(_read_secret, args.kubeconfig, namespace, credentials.secret_name(name))
    )
    try:
        secrets = {key: base64.b64decode(value, validate=True).decode() for key, value in raw.items()}
    except (binascii.Error, UnicodeDecodeError, TypeError) as exc:
        raise InputError(f"{where}: a value is not base64 of UTF-8 text ({type(exc).__name__})") from None
    try:
        document = clusterconfig.build(secrets)
    except clusterconfig.ClusterConfigError as exc:
        raise InputError(f"{where}, key {clusterconfig.CLUSTER_CONFIG_KEY}: {exc}") from None
    missing = [] if clusterconfig.CLUSTER_CONFIG_KEY in secrets else clusterconfig.missing_passwords(secrets)
    if missing:
        shown = ", ".join(missing[:8]) + (", ..." if len(missing) > 8 else "")
        sys.stderr.write(
            f"note: {where} lacks {len(missing)} password(s) ({shown}); "
            "they are left empty and the Go operator generates them\n"
        )
    _write(document if args.output == "yaml" else clusterconfig.manifest(name, namespace, document))
    return 0


def _against_the_api(where: str, call: Callable[[], T]) -> T:
    """``call()``, with API and kubeconfig trouble as one InputError line naming ``where``."""
    try:
        return call()
    except errors.NotFound:
        raise InputError(f"{where}: not found") from None
    except errors.SpecError as exc:
        raise InputError(f"{where}: {exc}") from None
    except errors.OperatorError as exc:
        raise InputError(f"{where}: {exc}") from None
    except Exception as exc:  # loading the kubeconfig: kubernetes_asyncio's ConfigException, OSError, ...
        if type(exc).__name__ == "ConfigException":
            hint = "no usable kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config) nor in-cluster config"
            raise InputError(f"{hint}: {exc}") from None
        raise InputError(f"{where}: cannot reach the API server ({type(exc).__name__}: {exc})") from None


async def _live_diff(
    kubeconfig: str | None, file_cluster: OnecloudCluster | None, ref: tuple[str, str], field_manager: str
) -> Any:
    from cloudpods_operator import livediff  # late, as in cmd_run: plan and crd need no client
    from cloudpods_operator.kube.client import Kube

    logging.getLogger("kubernetes_asyncio").setLevel(logging.ERROR)
    kube = await Kube.connect(kubeconfig)
    try:
        cluster = file_cluster
        if cluster is None:
            raw = await kube.get(kinds.RESOURCES[kinds.CLUSTER_KIND], *ref)
            try:
                cluster = OnecloudCluster.model_validate({k: v for k, v in raw.items() if k != "status"})
            except ValidationError as exc:
                raise InputError(f"{ref[0]}/{ref[1]}: {describe_validation_error(exc)}") from None
        return await livediff.compute(kube, cluster, field_manager=field_manager)
    finally:
        await kube.close()


def cmd_diff(args: argparse.Namespace) -> int:
    """``diff``: what applying a cluster file (or, with ``--cluster``, the live CR's own spec) would change
    on the live cluster, found by server-side dry runs: nothing is written. Exit 0 for no change, 1 for
    changes, 2 for an error, as ``kubectl diff``."""
    if (args.file is None) == (args.cluster is None):
        raise InputError("diff: give -f FILE or --cluster NAMESPACE/NAME (one of them)")
    if args.kubeconfig and not Path(args.kubeconfig).is_file():
        raise InputError(f"--kubeconfig {args.kubeconfig}: no such file")
    file_cluster = None
    if args.file is not None:
        source = "<stdin>" if args.file == "-" else args.file
        try:
            file_cluster = load_cluster(_read(args.file), source)
        except OSError as exc:
            raise InputError(f"{source}: cannot read ({exc.strerror})") from None
        if file_cluster.metadata.namespace is None:
            file_cluster.metadata.namespace = args.namespace
        ref = (file_cluster.metadata.namespace, file_cluster.metadata.name)
    else:
        ref = cluster_ref(args.cluster)
    import anyio  # late: the other commands need no async runtime

    from cloudpods_operator import livediff

    where = f"OnecloudCluster {ref[0]}/{ref[1]}"
    report: livediff.Report = _against_the_api(
        where, lambda: anyio.run(_live_diff, args.kubeconfig, file_cluster, ref, args.field_manager)
    )
    _write(livediff.render(report))
    return 1 if report.changed else 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one ``error:`` line (its subcommands' parsers are of this class too)."""

    def error(self, message: str) -> NoReturn:
        """One line naming the command, exit 2; ``--help`` shows the usage."""
        sys.stderr.write(f"error: {self.prog}: {one_line(message)} (see --help)\n")
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand sets ``func``; ``run``'s flags live in ``settings``, next to the fields they fill."""
    parser = _Parser(
        prog="cloudpods-operator",
        description="Runs every service of a Cloudpods cloud from one OnecloudCluster resource "
        "(onecloud.yunion.io/v1alpha1), and shows what it would run or change.",
        epilog="Bad input is one 'error:' line and exit code 2. See 'cloudpods-operator COMMAND --help'.",
    )
    parser.add_argument("--version", action="version", version=f"cloudpods-operator {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    plan = sub.add_parser(
        "plan",
        help="print every object the operator would apply for a cluster file (no cluster needed)",
        description="Plan a OnecloudCluster file offline: every object of every enabled component, with its "
        "images, and why the others are not planned. No API server is contacted; passwords are placeholders.",
    )
    plan.add_argument("-f", "--file", required=True, help="OnecloudCluster YAML, or - for stdin")
    plan.add_argument(
        "-o",
        "--output",
        choices=("table", "json", "yaml"),
        default="table",
        help="table: one line per object and image (default); yaml: every object, one document each; "
        "json: the same objects as one v1 List",
    )
    plan.add_argument("-n", "--namespace", default="default", help="namespace when the file names none")
    plan.set_defaults(func=cmd_plan)

    diff = sub.add_parser(
        "diff",
        help="show what a cluster file would change on the live cluster (a server-side dry run)",
        description=(
            "Plan the cluster as the operator would, from the live state, and send every object as a "
            "server-side apply dry run under the operator's field manager. Prints each change as a unified "
            "diff (Secret values masked), created and pruned objects, and which workloads would roll. "
            "Exit 0: no change; 1: changes; 2: error (as kubectl diff)."
        ),
    )
    source = diff.add_mutually_exclusive_group()
    source.add_argument("-f", "--file", help="OnecloudCluster YAML, or - for stdin")
    source.add_argument("--cluster", metavar="NAMESPACE/NAME", help="the live OnecloudCluster's own spec")
    diff.add_argument("-n", "--namespace", default="default", help="namespace when the file names none")
    diff.add_argument("--kubeconfig", help="default: in-cluster config, then $KUBECONFIG or ~/.kube/config")
    diff.add_argument(
        "--field-manager", default="cloudpods-operator", help="the operator's (default: %(default)s)"
    )
    diff.set_defaults(func=cmd_diff)

    crd = sub.add_parser(
        "crd",
        help="print the CRD generated from the model",
        description="Print the onecloudclusters.onecloud.yunion.io CRD (apiextensions.k8s.io/v1) generated "
        "from the model; apply it with kubectl apply --server-side -f -.",
    )
    crd.add_argument("--write", action="store_true", help="write crd/ and the chart's crds/ instead")
    crd.add_argument("--root", default=".", help="project root for --write")
    crd.set_defaults(func=cmd_crd)

    run = sub.add_parser(
        "run",
        help="run the operator",
        description="Watch OnecloudClusters and keep every component they ask for applied, by server-side "
        "apply under one field manager. Every flag has an environment variable (in brackets); the flag wins.",
    )
    from cloudpods_operator.settings import add_run_arguments

    add_run_arguments(run)
    run.set_defaults(func=cmd_run)

    export = sub.add_parser(
        "export-cluster-config",
        help="print the Go operator's <NAME>-cluster-config ConfigMap with the cluster's current passwords",
        description="Read the cluster's <NAME>-credentials Secret and print the Go operator's "
        "<NAME>-cluster-config ConfigMap with those passwords, so that handing the cluster back to the Go "
        "operator keeps every login working.",
    )
    export.add_argument("cluster", metavar="NAMESPACE/NAME", help="the OnecloudCluster")
    export.add_argument("--kubeconfig", help="default: in-cluster config, then $KUBECONFIG or ~/.kube/config")
    export.add_argument(
        "-o",
        "--output",
        choices=("configmap", "yaml"),
        default="configmap",
        help="configmap: a manifest for kubectl apply -f - (default); yaml: the OnecloudClusterConfig alone",
    )
    export.set_defaults(func=cmd_export_cluster_config)
    return parser


_LONG_QUOTED = re.compile(f"'[^']{{{VALUE_CHARS},}}'|\"[^\"]{{{VALUE_CHARS},}}\"")


def one_line(message: str) -> str:
    """``message`` on one line: control characters become spaces, quoted values over VALUE_CHARS
    characters are cut (a 10 MB value is not echoed), and the whole stays under MESSAGE_CHARS."""
    text = "".join(" " if not ch.isprintable() else ch for ch in message)

    def cut(match: re.Match[str]) -> str:
        quoted = match.group(0)
        return quoted if len(quoted) <= VALUE_CHARS else quoted[: VALUE_CHARS - 4] + "..." + quoted[0]

    text = _LONG_QUOTED.sub(cut, text)
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 3] + "..."


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's last flush cannot fail too
    (what the Python documentation recommends for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout replaced (tests) or already gone
        pass


def _flush() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise InputError(f"cannot write the output ({exc.strerror or exc})") from None


def main(argv: list[str] | None = None) -> int:
    """The console script's exit code: 2 with one ``error:`` line for bad input, never a traceback.

    A reader that goes away (``plan | head -1``) ends the command quietly with 1, as Python does on EPIPE;
    a full disk is an error line.
    """
    try:
        try:
            args = build_parser().parse_args(argv)
            code = int(args.func(args))
        finally:
            _flush()  # --help too: its SystemExit passes through here
        return code
    except InputError as exc:
        _silence_stdout_after_error()
        sys.stderr.write(f"error: {one_line(str(exc))}\n")
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        _silence_stdout()
        return 1
    except KeyboardInterrupt:  # Ctrl-C during plan or crd (run handles its signals itself)
        sys.stderr.write("interrupted\n")
        return 130


def _silence_stdout_after_error() -> None:
    """A write that failed left its text in the buffer: drop it, so exiting does not try again."""
    try:
        sys.stdout.flush()
    except OSError:
        _silence_stdout()
