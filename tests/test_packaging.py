"""`pip install .` carries the migrations, and an installed copy keeps runtime files out of
site-packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from infra.config import PROJECT_ROOT


def test_installed_package_migrates_and_uses_the_instance_folder(tmp_path: Path) -> None:
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [
            *pip,
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            str(PROJECT_ROOT),
            "-w",
            str(tmp_path / "wheel"),
        ],
        check=True,
        timeout=300,
        cwd=tmp_path,
    )
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    site = tmp_path / "site"
    subprocess.run(
        [*pip, "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        timeout=300,
    )
    assert (site / "migrations" / "env.py").exists()
    assert (site / "migrations" / "script.py.mako").exists()
    db = tmp_path / "installed.db"
    script = (
        "import sys, infra.config as c, gateway.migrate as m; "
        f"assert c.__file__.startswith({str(site)!r}), c.__file__; "
        f"m.upgrade('sqlite:///{db}'); "
        "print(c.VAR_DIR); print(m.MIGRATIONS)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    var_dir, migrations = done.stdout.split()
    assert var_dir == str(Path(sys.prefix) / "var" / "gateway-instance")
    assert migrations == str(site / "migrations")
    import sqlite3

    with sqlite3.connect(db) as conn:
        (version,) = conn.execute("select version_num from alembic_version").fetchone()
    heads = sorted(p.name for p in (PROJECT_ROOT / "migrations" / "versions").glob("0*.py"))
    assert heads[-1].startswith(version)
