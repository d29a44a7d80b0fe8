"""`hub run --deployment FILE [--worker K/N] [--once]`: the offices of a deployment file in one process."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from hub.cli.context import EXIT_ERROR
from hub.core.app import Hub
from hub.core.errors import UserError
from hub.run.deployment import Worker, load_deployment


def run_deployment(args: argparse.Namespace, prepare: Callable[[Hub], None]) -> int:
    if args.config:
        raise UserError("--config names one office and --deployment many: give one of them")
    if args.at and not args.once:
        raise UserError("--at goes with --once: the daemon runs on the real time")
    deployment = load_deployment(args.deployment)
    worker = Worker.parse(args.worker) if args.worker else Worker()

    def announce(line: str) -> None:
        print(line, flush=True)
    if args.once:
        from hub.run.offices import run_offices_once

        result = run_offices_once(deployment, worker, prepare, announce, args.at)
        print(f"{len(result.cycles) + len(result.failed)} offices (worker {worker.index}/{worker.count}): "
              f"{len(result.cycles)} ran, {len(result.failed)} failed"
              + "".join(f"\n  {name}: {why}" for name, why in result.failed.items()), flush=True)
        return EXIT_ERROR if result.failed else 0
    from hub.run.offices import run_offices  # here, not at the top: the scheduler is for `run` alone

    if run_offices(deployment, worker, prepare, announce):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # a job's thread was left in a network call: what it had not committed is done again
    return 0
