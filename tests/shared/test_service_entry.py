"""``python -m services.<package>`` runs the service itself (no detour through the CLI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_module_entry_refuses_a_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("gateway: {port: -1}\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "services.gateway", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "gateway.port" in done.stderr
