"""A client-go exec credential plugin for tests: hands out the tokens listed in a JSON file, one per run.

    python exec_credential.py PLAN   # PLAN: [{"token": "...", "ttl": 12}, ...]; ttl null = no expiry

Each run appends a line to PLAN.runs and prints the next entry (the last one again when they run out)
as an ExecCredential, with an ``expirationTimestamp`` ``ttl`` seconds from now.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path


def main(plan_path: str) -> None:
    plan = json.loads(Path(plan_path).read_text())
    runs = Path(plan_path + ".runs")
    count = len(runs.read_text().splitlines()) if runs.exists() else 0
    with runs.open("a") as fh:
        fh.write("run\n")
    entry = plan[min(count, len(plan) - 1)]
    status: dict[str, str] = {"token": entry["token"]}
    if entry.get("ttl") is not None:
        expiry = datetime.now(UTC) + timedelta(seconds=float(entry["ttl"]))
        status["expirationTimestamp"] = expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
    credential = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": status}
    sys.stdout.write(json.dumps(credential))


if __name__ == "__main__":
    main(sys.argv[1])
