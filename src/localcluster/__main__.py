"""python -m localcluster up|down|status."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
