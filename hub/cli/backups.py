"""`hub backup PATH` and `hub restore PATH --into DIR`: the office in one file, and back (hub.run.backup, .restore)."""

from __future__ import annotations

import argparse

from hub.core import config as config_module
from hub.core.app import config_path
from hub.core.clock import SystemClock
from hub.core.config_values import SENT_FOLDER_NONE
from hub.core.db import redact_url
from hub.core.migrations import HEAD
from hub.run.backup import back_up
from hub.run.restore import restore


def cmd_backup(args: argparse.Namespace) -> int:
    config = config_module.load(config_path(args.config))
    made = back_up(config, args.path, SystemClock().now())
    print(f"backed up the office to {made.path} ({made.entries} entries, schema {made.schema or 'none'})")
    if not made.secret_included:
        print("the reference secret comes from HUB_SECRET and is not in the backup: keep it with your backups "
              "(a restore needs it)")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    done = restore(args.path, args.into, args.database_url)
    manifest = done.manifest
    config = done.config
    print(f"restored the backup of {manifest['created_at']} (casework-hub {manifest['hub_version']}) into "
          f"{args.into}; database {redact_url(done.database_url)}")
    if done.in_doubt:
        outbound = config_module.load(config).outbound
        if outbound.sent_folder == SENT_FOLDER_NONE:
            how = ("[outbound] sent_folder = \"none\": they go again, and may arrive twice (cancel those that went "
                   "before the loss)")
        else:
            how = "each is looked for in the Sent folder (a text: asked of Twilio) before it goes"
        print(f"{done.in_doubt} letters and texts were waiting at the backup and may have gone since: {how}")
    schema = manifest["schema"]
    if schema != HEAD:
        print(f"the backup's schema is {schema}, this hub needs {HEAD}: next, hub --config {config} db upgrade")
    print(f"then: hub --config {config} check, and start the daemon (Maildir folders are not in a backup)")
    return 0
