"""The lock: pyproject.toml says what the code accepts, requirements/*.txt what is installed.

These fail when pyproject.toml was edited without `make lock`, when the lock lost its hashes,
when the two locks disagree, and when the virtualenv the suite runs in holds other versions than
the lock (so the suite's result speaks for the locked versions, and only for them).
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(
    r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$"
)


def read_lock(name: str) -> dict[str, tuple[str, str | None, int]]:
    """{canonical name: (version, marker, number of hashes)} of one lock file."""
    entries: dict[str, tuple[str, str | None, int]] = {}
    current: str | None = None
    for line in (ROOT / "requirements" / name).read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            entries[current] = (match.group(2), match.group(3), 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, marker, hashes = entries[current]
            entries[current] = (version, marker, hashes + 1)
    return entries


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_every_line_of_both_locks_is_pinned_with_hashes() -> None:
    for name in ("main.txt", "dev.txt"):
        entries = read_lock(name)
        assert len(entries) > 20, name
        unhashed = sorted(pkg for pkg, (_, _, hashes) in entries.items() if hashes == 0)
        assert unhashed == [], f"{name}: no hash for {unhashed}"


def test_the_locks_satisfy_pyproject() -> None:
    """Editing a range in pyproject.toml without `make lock` fails here."""
    main, dev = read_lock("main.txt"), read_lock("dev.txt")
    wanted = [(Requirement(r), main) for r in project()["dependencies"]]
    wanted += [(Requirement(r), dev) for r in project()["optional-dependencies"]["dev"]]
    wanted += [(Requirement(r), dev) for r in project()["dependencies"]]
    for requirement, lock in wanted:
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{requirement} is not in the lock: run make lock"
        version = lock[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"the lock holds {name}=={version}, outside {requirement}: run make lock"
        )


def test_main_and_dev_agree_on_every_shared_library() -> None:
    main, dev = read_lock("main.txt"), read_lock("dev.txt")
    assert set(main) <= set(dev)
    differ = {name: (main[name][0], dev[name][0]) for name in main if main[name][0] != dev[name][0]}
    assert differ == {}


def test_tools_that_decide_a_pass_are_pinned_exactly() -> None:
    dev = {
        canonicalize_name(Requirement(r).name): Requirement(r)
        for r in project()["optional-dependencies"]["dev"]
    }
    for tool in ("ruff", "mypy", "playwright"):
        specs = list(dev[tool].specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{tool} must be pinned with =="


@pytest.mark.parametrize(
    "library",
    ["rq", "sqlalchemy", "redis", "werkzeug", "twilio", "alembic", "flask-babel", "babel"],
)
def test_libraries_whose_internals_the_code_uses_are_capped(library: str) -> None:
    deps = {
        canonicalize_name(Requirement(r).name): Requirement(r) for r in project()["dependencies"]
    }
    assert any(spec.operator == "<" for spec in deps[library].specifier), f"{library} has no cap"


def test_the_environment_running_the_suite_holds_the_locked_versions() -> None:
    """`make test` installs the lock; a hand-installed upgrade (or a missed reinstall) fails here."""
    environment = default_environment()
    wrong = {}
    for name, (version, marker, _) in read_lock("dev.txt").items():
        if marker and not Requirement(f"x; {marker}").marker.evaluate(environment):
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "missing"
        if installed != version:
            wrong[name] = (version, installed)
    assert wrong == {}, f"locked vs installed: {wrong}; run make setup"
