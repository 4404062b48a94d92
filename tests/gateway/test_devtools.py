"""The development tools (sandbox, demo, simulators) stay out of a production app."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# Run in a fresh interpreter: the test process itself has imported everything long ago.
PROBE = """
import json, sys
from gateway import create_app
app = create_app(json.loads(sys.argv[1]))
print(json.dumps({
    "devtools": sorted(name for name in sys.modules if name.split(".")[0] == "devtools"),
    "commands": sorted(app.cli.list_commands(None)),
    "phone_page": any(rule.rule == "/admin/phone" for rule in app.url_map.iter_rules()),
}))
"""


def _probe(config: dict[str, str]) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    probed: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return probed


def test_a_production_app_never_imports_the_development_tools(tmp_path: Path) -> None:
    """With PROVIDER=twilio: no devtools module is loaded, no demo, sandbox or phone command
    and no phone simulator page exist."""
    probed = _probe(
        {
            "PROVIDER": "twilio",
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": "0123456789abcdef" * 2,
            "SECRET_KEY": "kq3Vd8Zr1xW0pLm5Tn7Yb2Hs9Jc4Fg6E",
            "PUBLIC_BASE_URL": "https://gw.example.org",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}",
        }
    )
    assert probed["devtools"] == []
    assert not {"demo", "sandbox", "phone"} & set(probed["commands"])
    assert {"db", "members", "broadcast"} <= set(probed["commands"])
    assert probed["phone_page"] is False


def test_the_sandbox_app_carries_them(tmp_path: Path) -> None:
    probed = _probe({"PROVIDER": "sandbox", "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}"})
    assert {"demo", "sandbox", "phone"} <= set(probed["commands"])
    assert probed["phone_page"] is True
