"""`hub case export`, `hub export` and `hub import`: the office's records written out and read in
(hub.transfer). Each prints what it did; `--json` gives the import's summary to scripts."""

from __future__ import annotations

import argparse
import sys

from hub.cli.context import EXIT_ERROR, print_json, with_hub
from hub.transfer.csv_cases import import_csv
from hub.transfer.export import Exported, export_case, export_office
from hub.transfer.importer import ImportSummary, import_archive


def cmd_case_export(args: argparse.Namespace) -> int:
    return _exported(with_hub(args, lambda hub: export_case(hub, args.ref, args.out)))


def cmd_export(args: argparse.Namespace) -> int:
    return _exported(with_hub(args, lambda hub: export_office(hub, args.out)))


def _exported(done: Exported) -> int:
    print(f"wrote {done.path}: {done.cases} case{'s' if done.cases != 1 else ''}, {done.messages} messages, "
          f"{done.files} files")
    for warning in done.warnings:
        print(f"hub: warning: {warning}", file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    if (args.path is None) == (args.csv is None):
        print("hub: import takes an export archive (hub import PATH) or a CSV file (hub import --csv FILE)",
              file=sys.stderr)
        return EXIT_ERROR
    summary: ImportSummary = with_hub(args, lambda hub: import_csv(hub, args.csv) if args.csv is not None
                                      else import_archive(hub, args.path))
    if args.json:
        print_json(summary.as_json())
    else:
        for old, new in summary.imported:
            print(f"imported {old} as {new}")
        for old, new in summary.already:
            print(f"already here: {old} (as {new}); left as it is")
        for note in summary.notes:
            print(f"note: {note}")
        print(f"{len(summary.imported)} imported, {len(summary.already)} already here, {len(summary.skipped)} "
              "not imported; nothing was sent")
    for problem in summary.skipped:
        print(f"hub: {problem}", file=sys.stderr)
    return EXIT_ERROR if summary.skipped else 0
