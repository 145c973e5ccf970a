"""The locked dependency set: complete, consistent with pyproject.toml, hashed, and what every
install (make, CI, the image) uses; and the audit wrapper never reports a check that did not run."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from tools.audit_dependencies import judge

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", re.MULTILINE)


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text()
    return {canonicalize_name(name): version for name, version in PIN.findall(text)}


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [
        ("main.lock", PYPROJECT["dependencies"]),
        ("dev.lock", PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["dev"]),
    ],
)
def test_every_requirement_is_pinned_within_its_range(lock: str, requirements: list[str]) -> None:
    pinned = pins(lock)
    for line in requirements:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not in requirements/{lock}: run make lock"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{name}=={pinned[name]} is outside {requirement.specifier}: run make lock"
        )


def test_the_two_locks_agree_and_every_pin_is_hashed() -> None:
    main, dev = pins("main.lock"), pins("dev.lock")
    assert {name: dev[name] for name in main} == main
    for lock in ("main.lock", "dev.lock"):
        blocks = re.split(r"\n(?=[A-Za-z0-9_.\-]+==)", (ROOT / "requirements" / lock).read_text())
        unhashed = [b.split()[0] for b in blocks if "==" in b.split()[0] and "--hash" not in b]
        assert unhashed == [], lock


def test_make_ci_and_the_image_install_from_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet --require-hashes -r $(DEV_LOCK)" in makefile
    assert "pip install --quiet --no-deps -e ." in makefile
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes -r requirements/main.lock" in dockerfile
    assert "--no-deps" in dockerfile


def dependency(name: str, **fields: object) -> dict[str, object]:
    return {"name": name, "version": "1.0", **fields}


def test_an_audit_that_looked_nothing_up_says_it_could_not_run() -> None:
    report = {
        "dependencies": [
            dependency("a", skip_reason="Dependency not found on PyPI and could not be audited"),
            dependency("b", skip_reason="Dependency not found on PyPI and could not be audited"),
        ]
    }
    verdict = judge(report)
    assert verdict.exit_code == 0
    assert "could NOT run" in verdict.message and "none of 2 packages" in verdict.message


def test_a_vulnerability_fails_the_audit_and_is_named() -> None:
    report = {
        "dependencies": [
            dependency("a", vulns=[]),
            dependency("b", vulns=[{"id": "GHSA-xxxx", "fix_versions": ["1.1"]}]),
            dependency("c", skip_reason="not on PyPI"),
        ]
    }
    verdict = judge(report)
    assert verdict.exit_code == 1
    assert "b 1.0: GHSA-xxxx (fixed in 1.1)" in verdict.message


def test_a_clean_audit_counts_what_it_checked() -> None:
    report = {"dependencies": [dependency("a", vulns=[]), dependency("c", skip_reason="x")]}
    assert judge(report).message == (
        "1 packages audited, no known vulnerabilities, 1 could not be looked up"
    )
