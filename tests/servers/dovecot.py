"""A private Dovecot IMAP server on a free loopback port, for the test suite and benchmarks.

Everything one server needs lives in one folder, its ``root``: its own ``dovecot.conf``, the
runtime sockets (``run/``, Dovecot's ``base_dir``), ``state/``, ``dovecot.log``, a one-user
passwd-file and the Maildir under ``mail/<user>/``. The system Dovecot service, ``/etc/dovecot``
and ``/run/dovecot`` are never read or changed.

Dovecot refuses to serve mail as uid 0. Run as root, the mail processes therefore run as
``nobody`` (who owns the Maildir) and Dovecot's own ``dovecot``/``dovenull`` accounts run its
internal and login processes; run as anyone else, every process runs as the caller.

Typical use in a test::

    require_dovecot()
    with running_dovecot(tmp_path) as server:
        server.deliver(b"Subject: hi\\r\\n\\r\\nbody\\r\\n")
        client = IMAPClient(server.host, server.port, ssl=False)
        client.login(server.user, server.password)
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import grp
import imaplib
import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
SUPPORTED_SERIES = "2.3"  # 2.4 rewrote the configuration syntax
SENT = "Sent Items"  # the folder marked \\Sent by `sent_folder=SENT`, as Microsoft 365 names it

# Non-root PATHs often lack the sbin directories, where Debian puts the binary.
_SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
# Unix socket paths are capped at 107 bytes and Dovecot's longest name under base_dir is ~25.
_MAX_BASE_DIR_LEN = 80
_NAME_RE = re.compile(r"[A-Za-z0-9._+-]+")
_SEQUENCE = itertools.count(1)
_OPEN: set[DovecotServer] = set()  # started and not yet closed


@dataclass(frozen=True)
class _Accounts:
    """The system accounts the Dovecot processes and the Maildir run as."""

    internal_user: str
    internal_group: str | None  # None: Dovecot's default ("dovecot")
    login_user: str
    mail_uid: int
    mail_gid: int


def _accounts() -> _Accounts:
    """Pick the accounts for the current user; raises KeyError when one is missing."""
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        for name in ("dovecot", "dovenull"):  # made by the dovecot-core package
            pwd.getpwnam(name)
        return _Accounts("dovecot", None, "dovenull", nobody.pw_uid, nobody.pw_gid)
    me = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    return _Accounts(me, group, me, os.getuid(), os.getgid())


def _dovecot_binary() -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN_DIRS])
    return shutil.which("dovecot", path=path)


@functools.cache
def dovecot_unavailable_reason() -> str | None:
    """None when a private Dovecot can be started here, else a one-line reason why not."""
    binary = _dovecot_binary()
    if binary is None:
        return "dovecot binary not found (apt-get install -y dovecot-imapd)"
    try:
        version = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{binary} --version failed: {exc}"
    if not version.startswith(SUPPORTED_SERIES + "."):
        return f"Dovecot {version} found; this fixture writes {SUPPORTED_SERIES} configuration"
    try:
        _accounts()
    except KeyError as exc:
        return f"a system account Dovecot needs is missing: {exc}"
    return None


def require_dovecot() -> None:
    """Skip the calling test when Dovecot is unavailable; under CI (CI=true) fail it instead."""
    reason = dovecot_unavailable_reason()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _folder_on_disk(folder: str) -> str:
    """The Maildir++ directory name of an IMAP folder ("." is the hierarchy separator)."""
    if not folder or folder[0] == "." or folder[-1] == "." or ".." in folder or "/" in folder:
        raise ValueError(f"not a deliverable folder name: {folder!r}")
    if not folder.isascii():  # Dovecot 2.3 keeps folder names in modified UTF-7 on disk
        from imapclient import imap_utf7

        folder = imap_utf7.encode(folder).decode("ascii")
    return "." + folder


@dataclass(eq=False)
class DovecotServer:
    """One private Dovecot instance; ``start()``/``stop()`` keep the same port and data."""

    host: str
    port: int
    user: str
    password: str
    root: Path  # the folder holding config, sockets, log and mail
    maildir: Path  # the user's Maildir: INBOX is cur/ new/ tmp/ here, folder X is .X/
    remove_root_on_close: bool = field(default=False, repr=False)
    # OAuth 2.0: the RFC 7662 introspection URL the oauth2 passdb asks about each token, and the SASL
    # mechanisms offered for it ("oauthbearer", "xoauth2"); None: passwords only.
    introspection_url: str | None = None
    oauth2_mechanisms: tuple[str, ...] = ("oauthbearer", "xoauth2")
    # A folder the server marks \Sent (RFC 6154 SPECIAL-USE) and creates, as Microsoft 365's "Sent Items"
    # and Gmail's "[Gmail]/Sent Mail"; None: no folder is marked.
    sent_folder: str | None = None
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def config_path(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self.root / "dovecot.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def imap_url(self) -> str:
        """``imap://USER@127.0.0.1:PORT/INBOX``; the password is deliberately left out."""
        return f"imap://{urllib.parse.quote(self.user, safe='')}@{self.host}:{self.port}/INBOX"

    def start(self) -> None:
        """(Re)start the server and return once an IMAP login works; RuntimeError if it does not."""
        if self.running:
            return
        binary = _dovecot_binary()
        if binary is None:
            raise RuntimeError("dovecot binary not found")
        self._prepare()
        log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.root / "dovecot.stderr", "wb") as stderr:
            self._proc = subprocess.Popen(
                [binary, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop() can kill all of it
            )
        _OPEN.add(self)
        try:
            self._wait_until_serving(log_start)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (idempotent): SIGTERM to all its processes, SIGKILL after 10 s."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        # The whole group, not just the master: a master alone takes over a second to shut its
        # children down. The master is not reaped yet, so its pid (the group id) is still ours.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def close(self) -> None:
        """Stop the server and delete its root if this module created it (see start_dovecot)."""
        self.stop()
        _OPEN.discard(self)
        if self.remove_root_on_close:
            shutil.rmtree(self.root, ignore_errors=True)

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        """Drop one message straight into the folder's new/, as a mail delivery agent would."""
        self.deliver_many((raw,), folder)

    def deliver_many(self, raws: Iterable[bytes], folder: str = "INBOX") -> int:
        """Drop many messages into the folder's new/ (no IMAP involved); returns how many."""
        box = self._mailbox_dir(folder)
        uid, gid = self._mail_owner()
        chown = os.geteuid() == 0
        host = re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "localhost"
        pid = os.getpid()
        count = 0
        tmp_fd = os.open(box / "tmp", os.O_RDONLY | os.O_DIRECTORY)
        new_fd = os.open(box / "new", os.O_RDONLY | os.O_DIRECTORY)
        try:
            for raw in raws:
                now = time.time()
                # S= and W= (size with CRLF line ends) spare Dovecot a stat() and a read per message.
                vsize = len(raw) + raw.count(b"\n") - raw.count(b"\r\n")
                name = (
                    f"{int(now)}.M{int(now % 1 * 1e6)}P{pid}Q{next(_SEQUENCE)}.{host}"
                    f",S={len(raw)},W={vsize}"
                )
                # Written in tmp/ and renamed into new/, so Dovecot never sees a partial file.
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=tmp_fd)
                try:
                    view = memoryview(raw)
                    while view:
                        view = view[os.write(fd, view) :]
                    if chown:
                        os.fchown(fd, uid, gid)
                finally:
                    os.close(fd)
                os.rename(name, name, src_dir_fd=tmp_fd, dst_dir_fd=new_fd)
                count += 1
        finally:
            os.close(tmp_fd)
            os.close(new_fd)
        return count

    def _mail_owner(self) -> tuple[int, int]:
        accounts = _accounts()
        return accounts.mail_uid, accounts.mail_gid

    def _make_dirs(self, *paths: Path) -> None:
        """Create mail directories (mode 0700) owned by the mail user."""
        uid, gid = self._mail_owner()
        for path in paths:
            path.mkdir(mode=0o700, exist_ok=True)
            if os.geteuid() == 0:
                os.chown(path, uid, gid)

    def _mailbox_dir(self, folder: str) -> Path:
        if folder.upper() == "INBOX":
            return self.maildir
        box = self.maildir / _folder_on_disk(folder)
        if not (box / "new").is_dir():
            self._make_dirs(box, box / "cur", box / "new", box / "tmp")
        return box

    def _prepare(self) -> None:
        """Write the config and passwd-file and create the directories (idempotent)."""
        if not _NAME_RE.fullmatch(self.user):
            raise ValueError(f"user name must match {_NAME_RE.pattern}: {self.user!r}")
        if any(c in self.password for c in ":\r\n\0"):
            raise ValueError("password must not contain ':' or line breaks (passwd-file format)")
        accounts = _accounts()
        self.root.mkdir(parents=True, exist_ok=True)
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(mode=0o755, exist_ok=True)
        passwd = self.root / "passwd"
        passwd.write_text(f"{self.user}:{{PLAIN}}{self.password}::::::\n")
        passwd.chmod(0o640)
        if os.geteuid() == 0:  # the auth process runs as the internal user and reads it
            os.chown(passwd, 0, pwd.getpwnam(accounts.internal_user).pw_gid)
        self.maildir.parent.mkdir(parents=True, exist_ok=True)
        self._make_dirs(self.maildir, self.maildir / "cur", self.maildir / "new", self.maildir / "tmp")
        self.config_path.write_text(_config(self, accounts))
        if self.introspection_url:
            oauth2 = self.root / "oauth2.conf.ext"
            oauth2.write_text(f"introspection_mode = post\nintrospection_url = {self.introspection_url}\n"
                              "username_attribute = username\nactive_attribute = active\nactive_value = true\n"
                              "force_introspection = yes\n")
            oauth2.chmod(0o644)

    def _wait_until_serving(self, log_start: int) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            assert self._proc is not None
            code = self._proc.poll()
            if code is not None:
                raise RuntimeError(f"dovecot exited with status {code} while starting\n{self._log_tail()}")
            # The master retries a failing service with growing back-off rather than exiting.
            if " Fatal: " in self._log_since(log_start):
                raise RuntimeError(f"dovecot failed while starting\n{self._log_tail()}")
            try:
                with imaplib.IMAP4(self.host, self.port, timeout=2) as imap:
                    imap.login(self.user, self.password)
                return
            except (OSError, imaplib.IMAP4.abort):
                pass  # not listening yet
            except imaplib.IMAP4.error as exc:
                raise RuntimeError(f"IMAP login to the private dovecot failed: {exc}\n{self._log_tail()}") from exc
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"dovecot did not serve IMAP on {self.host}:{self.port} within "
                    f"{STARTUP_TIMEOUT:.0f} s\n{self._log_tail()}"
                )
            time.sleep(0.05)

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def _log_tail(self, lines: int = 30) -> str:
        text = ""
        for path in (self.root / "dovecot.stderr", self.log_path):
            with contextlib.suppress(OSError):
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:]) or "(dovecot wrote no log)"


def _config(server: DovecotServer, accounts: _Accounts) -> str:
    """The complete dovecot.conf: nothing is included from /etc/dovecot."""
    group = accounts.internal_group
    internal_group = f"default_internal_group = {group}\n" if group else ""
    # Only root may chroot(); without root these services must run unjailed.
    no_chroot = "" if os.geteuid() == 0 else "  chroot =\n"
    mechanisms = " ".join(server.oauth2_mechanisms) if server.introspection_url else ""
    oauth2_mechanisms = f" {mechanisms}" if mechanisms else ""
    oauth2_passdb = (f"passdb {{\n  driver = oauth2\n  mechanisms = {mechanisms}\n"
                     f"  args = {server.root / 'oauth2.conf.ext'}\n}}\n" if mechanisms else "")
    sent_namespace = (f'namespace inbox {{\n  inbox = yes\n  mailbox "{server.sent_folder}" {{\n'
                      f"    special_use = \\Sent\n    auto = create\n  }}\n}}\n" if server.sent_folder else "")
    return f"""\
# Written by tests/servers/dovecot.py for a private, throw-away instance.
base_dir = {server.root / "run"}
state_dir = {server.root / "state"}
instance_name = hub-dovecot
log_path = {server.log_path}
protocols = imap
listen = {server.host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login{oauth2_mechanisms}
auth_verbose = yes
# Tests log in with wrong passwords on purpose: no 2 s failure delay and no growing per-IP
# penalty (up to 15 s), which would otherwise slow every later failed login in the run.
auth_failure_delay = 0 secs
default_internal_user = {accounts.internal_user}
{internal_group}default_login_user = {accounts.login_user}
mail_uid = {accounts.mail_uid}
mail_gid = {accounts.mail_gid}
# The default (500) refuses system accounts, which a CI may run the tests as.
first_valid_uid = 1
mail_location = maildir:{server.maildir}
mail_fsync = never
maildir_very_dirty_syncs = yes
# Off: with the list index, folders that deliver() creates on disk stay unlisted until resynced.
mailbox_list_index = no
# Fallback for IDLE where inotify is unavailable.
mailbox_idle_check_interval = 1 secs
# The hub and the benchmarks open more than the default 10 connections per user and IP.
mail_max_userip_connections = 1000
{sent_namespace}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {server.root / "passwd"}
  mechanisms = plain login
}}
{oauth2_passdb}
userdb {{
  driver = passwd-file
  args = {server.root / "passwd"}
}}

service anvil {{
{no_chroot}  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}

service imap-login {{
{no_chroot}  inet_listener imap {{
    address = {server.host}
    port = {server.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


def _private_root_needed(root: Path) -> bool:
    """Whether the server cannot live under ``root`` and needs a fresh folder of its own."""
    if len(str(root / "run")) > _MAX_BASE_DIR_LEN:
        return True
    if os.geteuid() != 0:
        return False
    # As root, nobody/dovecot/dovenull must traverse every ancestor (pytest's are mode 0700).
    resolved = root.resolve()
    return any(not p.stat().st_mode & 0o001 for p in (resolved, *resolved.parents) if p.exists())


def start_dovecot(root: Path, user: str = "hub", password: str = "secret", introspection_url: str | None = None,
                  oauth2_mechanisms: tuple[str, ...] = ("oauthbearer", "xoauth2"),
                  sent_folder: str | None = None) -> DovecotServer:
    """Start a private Dovecot with one user on a free loopback port, its files under ``root``.

    When the service accounts cannot reach ``root`` (running as root inside pytest's 0700
    temp tree) or its path is too long for Unix sockets, the server gets a fresh 0755 folder
    from ``tempfile.mkdtemp`` instead; ``server.root`` tells which, and ``close()`` removes it.
    """
    root = Path(root)
    private = _private_root_needed(root)
    if private:
        root = Path(tempfile.mkdtemp(prefix="hub-dovecot-"))
        root.chmod(0o755)
    server = DovecotServer(
        host=HOST,
        port=_free_port(),
        user=user,
        password=password,
        root=root,
        maildir=root / "mail" / user,
        remove_root_on_close=private,
        introspection_url=introspection_url,
        oauth2_mechanisms=oauth2_mechanisms,
        sent_folder=sent_folder,
    )
    attempts_left = 3
    try:
        while True:
            try:
                server.start()
                return server
            except RuntimeError as exc:
                # Another process may grab the free port between _free_port() and Dovecot's bind.
                attempts_left -= 1
                if not attempts_left or "Address already in use" not in str(exc):
                    raise
                server.port = _free_port()
    except BaseException:
        server.close()
        raise


@contextlib.contextmanager
def running_dovecot(root: Path, user: str = "hub", password: str = "secret",
                    sent_folder: str | None = None) -> Iterator[DovecotServer]:
    """Start a private Dovecot, yield it, and always stop it (and remove a private root); `sent_folder`: a
    folder marked \\Sent."""
    server = start_dovecot(root, user, password, sent_folder=sent_folder)
    try:
        yield server
    finally:
        server.close()


@atexit.register
def _stop_all() -> None:
    """Never leave a Dovecot (or a private root) behind, even when a test forgot to close one."""
    for server in list(_OPEN):
        server.close()
