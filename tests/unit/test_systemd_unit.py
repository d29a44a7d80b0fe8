"""The shipped unit, contrib/systemd/casework-hub.service: `systemd-analyze verify` finds nothing to say
about it (with its paths pointed at a stand-in `hub` and office, since verify wants ExecStart to exist),
and it carries the notify protocol, the hardening and the credentials the README promises."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "contrib" / "systemd" / "casework-hub.service"


def require_systemd_analyze() -> str:
    """Its path; skips the test without it (scripts/test.sh installs it), fails it under CI=true."""
    found = shutil.which("systemd-analyze")
    if found:
        return found
    reason = "systemd-analyze is missing (apt-get install systemd; scripts/test.sh does it as root)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def settings() -> dict[str, list[str]]:
    """Each key of [Service] with its values, in order (a key may repeat)."""
    found: dict[str, list[str]] = {}
    section = ""
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_systemd_analyze(), "verify", "--man=no", str(unit)], capture_output=True,
                          text=True, timeout=120)


def stand_in(tmp_path: Path, text: str) -> Path:
    """The unit with its paths under `tmp_path`: an executable `hub` and the office folder."""
    (tmp_path / "bin").mkdir()
    hub = tmp_path / "bin" / "hub"
    hub.write_text("#!/bin/sh\n")
    hub.chmod(0o755)
    (tmp_path / "office" / "var").mkdir(parents=True)
    unit = tmp_path / "casework-hub.service"
    text = text.replace("/srv/casework/.venv/bin/hub", str(hub))
    unit.write_text(text.replace("/srv/casework", str(tmp_path / "office")))
    return unit


def test_systemd_analyze_verify_passes_without_a_word(tmp_path: Path) -> None:
    result = verify(stand_in(tmp_path, UNIT.read_text()))
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_verify_would_speak_of_a_mistake(tmp_path: Path) -> None:
    """The test above can fail: a misspelt key is reported (verify still exits 0 for it)."""
    result = verify(stand_in(tmp_path, UNIT.read_text().replace("ProtectSystem=strict", "ProtectSystm=strict")))
    assert "Unknown key 'ProtectSystm'" in result.stderr


def test_the_unit_is_notify_hardened_and_reads_credentials() -> None:
    service = settings()
    expected = {"Type": "notify", "NotifyAccess": "main", "ProtectSystem": "strict",
                "ReadWritePaths": "/srv/casework/var", "NoNewPrivileges": "yes", "PrivateTmp": "yes",
                "CapabilityBoundingSet": "", "KillMode": "mixed", "User": "casework",
                "RestartPreventExitStatus": "78"}  # a schema this version does not run: no restart loop
    assert {key: service.get(key, ["(missing)"])[-1] for key in expected} == expected
    assert service["WatchdogSec"] and service["ExecStart"][0].endswith(" run")
    credentials = [value.split(":", 1)[0] for value in service["LoadCredential"]]
    assert credentials == ["HUB_INBOX_PASSWORD", "HUB_SMTP_PASSWORD"]
    assert set(service["RestrictAddressFamilies"][0].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}


def test_the_readme_installs_the_shipped_unit() -> None:
    readme = (UNIT.parents[2] / "README.md").read_text()
    section = readme.split("## Running as a service", 1)[1].split("\n## ", 1)[0]
    assert "contrib/systemd/casework-hub.service" in section
    assert "[Service]" not in section, "a unit written out in the README drifts from the shipped one"


