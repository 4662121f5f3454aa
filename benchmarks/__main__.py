"""``python -m benchmarks``: run the benchmark suite, print the tables, optionally write JSON.

    uv run python -m benchmarks [--sizes 100000,500000,1000000] [--quick] [--repeats N]
        [--only engine,import,query,sweep,startup,list,readback,store_latency,vector,funnel]
        [--sweep-end DATE] [--json PATH]
        [--workdir DIR]

Progress goes to stderr, the tables to stdout. Exit code 1 if ours and raw disagree (trade
counts, final PnL, rows) - never because a timing target is missed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.suite import BENCHMARKS, Settings, correctness_ok, run_suite


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--sizes", help="Bar counts for the backtest benchmark (default 100000,500000,1000000)."
    )
    parser.add_argument("--quick", action="store_true", help="Small sizes (about a minute).")
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="Times each backtest is measured (medians are reported; default 1).",
    )
    parser.add_argument(
        "--only", help=f"Comma-separated benchmarks to run, of {','.join(BENCHMARKS)}."
    )
    parser.add_argument(
        "--sweep-end",
        metavar="DATE",
        help="Last day of the sweep's mock bars, from 2024-01-02 (default 2024-12-31, a year).",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="Write the results as JSON.")
    parser.add_argument(
        "--workdir", type=Path, help="Folder for generated files (default: a temp folder)."
    )
    args = parser.parse_args(argv)
    if args.only:
        unknown = set(args.only.split(",")) - set(BENCHMARKS)
        if unknown:
            parser.error(
                f"--only: unknown {', '.join(sorted(unknown))}; use {','.join(BENCHMARKS)}"
            )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings.quick() if args.quick else Settings()
    if args.sizes:
        settings.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",")]
    settings.engine_repeats = max(1, args.repeats)
    if args.sweep_end:
        settings.sweep_end = args.sweep_end
    only = args.only.split(",") if args.only else list(BENCHMARKS)

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def save(results: dict[str, Any]) -> None:
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=2, default=str))

    with tempfile.TemporaryDirectory(prefix="research-lib-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        results = run_suite(settings, only, workdir, log=log, checkpoint=save)

    from benchmarks.report import print_report

    print_report(results)
    if args.json:
        log(f"wrote {args.json}")
    if not correctness_ok(results):
        log("ours and the reference disagree (see 'same' columns)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
