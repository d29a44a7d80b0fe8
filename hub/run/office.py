"""`hub init DIR`: a new office folder with config/, var/ and a migrated database, ready to run.

With `demo=True` the Maildir inbox is seeded with a handful of realistic messages (a new constituent
email, the constituent's reply, an agency's answer with a rewritten subject, an out-of-office reply,
an HTML-only message in Spanish) so `hub run --once` has something to show.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from email.utils import format_datetime
from importlib import resources
from pathlib import Path
from string import Template
from zoneinfo import ZoneInfo

from hub.core import config as config_module
from hub.core.clock import Clock, SystemClock
from hub.core.db import make_engine, migrate
from hub.core.errors import UserError
from hub.core.private_files import make_folder, write_file
from hub.core.refs import References
from hub.sources.maildir import ensure_maildir


def init_office(folder: Path, demo: bool = False, clock: Clock | None = None) -> Path:
    """Create the office folder; returns the path of its hub.toml. Refuses to overwrite a configuration."""
    config_dir = folder / "config"
    hub_toml = config_dir / "hub.toml"
    if hub_toml.exists():
        raise UserError(f"{hub_toml} already exists; not overwriting an office's configuration")
    packaged = resources.files("hub.packaged.config")
    try:
        make_folder(config_dir)
        make_folder(folder / "var")
    except OSError as error:
        raise UserError(f"cannot create {folder}: {error.strerror}") from None
    # The configuration holds the reference secret: written 0600 like everything else the hub writes.
    text = packaged.joinpath("hub.toml").read_text().replace("REPLACED-BY-HUB-INIT", secrets.token_urlsafe(32))
    write_file(hub_toml, text)
    agencies = config_dir / "agencies.toml"
    if not agencies.exists():
        write_file(agencies, packaged.joinpath("agencies.toml").read_text())
    config = config_module.load(hub_toml)
    _letters_folder(config.resolve(config.letters.folder))
    engine = make_engine(config.database_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    if demo:
        seed_demo_inbox(config, (clock or SystemClock()).now())
    return hub_toml


LETTERS_README = """The office's own letters.

A file here named like a packaged letter (acknowledgement.email.j2, agency-inquiry.email.j2, ...)
replaces the packaged one. Start from a copy: `hub letter show NAME > {folder}/NAME.email.j2`, edit
it, and check the result with `hub letter preview NAME --case REF`. The first line is the subject
("Subject: ..."), then a blank line, then the text.
"""


def _letters_folder(folder: Path) -> None:
    make_folder(folder)
    readme = folder / "README.txt"
    if not readme.exists():
        write_file(readme, LETTERS_README.format(folder=folder.name))


def seed_demo_inbox(config: config_module.Config, now: datetime) -> int:
    """Drop the demo messages into the Maildir inbox; the first will open case number 1 of this year."""
    if not config.inbox.url.startswith("maildir:"):
        raise UserError("the demo inbox needs [inbox] url = \"maildir:…\"")
    inbox = config.resolve(config.inbox.url[len("maildir:"):])
    ensure_maildir(inbox)
    refs = References(config.office.reference_prefix, config.office.secret)
    year = now.astimezone(ZoneInfo(config.office.timezone)).year
    first = refs.make(year, 1)
    demo = resources.files("hub.packaged.demo")
    names = sorted(entry.name for entry in demo.iterdir() if entry.name.endswith(".eml"))
    for number, name in enumerate(names):
        values = {
            "ref": str(first),
            "plus": refs.plus_address(config.office.address, first),
            "office": config.office.address,
            "office_name": config.office.name,
            "date": format_datetime(now - timedelta(hours=len(names) - number)),
            "ack_id": refs.message_id(config.office.domain, first),
            "authserv_id": config.office.authserv_id,
        }
        raw = Template(demo.joinpath(name).read_text()).substitute(values).replace("\n", "\r\n")
        write_file(inbox / "new" / f"{int(now.timestamp())}.demo{number:02d}.{name}", raw)
    return len(names)
