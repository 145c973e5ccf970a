"""Audit a lock file for known vulnerabilities with pip-audit, and say plainly when it could not.

pip-audit asks PyPI's JSON API for each pinned release's advisories. Where that API cannot be
reached (a registry mirror that serves packages but not their metadata, no network), every
package comes back "not found" and pip-audit still prints "No known vulnerabilities found". That
is a check that never ran, so this wrapper counts what was really looked up:

- some vulnerability found: list them, exit 1;
- nothing could be looked up: say the audit could not run and why, exit 0 (lint must stay usable
  offline; the message is the point);
- otherwise: how many packages were audited (and skipped), exit 0.

Usage: python tools/audit_dependencies.py requirements/dev.lock
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class Verdict:
    exit_code: int
    message: str


def judge(report: dict[str, Any]) -> Verdict:
    """Read pip-audit's JSON report (``--format json``)."""
    dependencies = report.get("dependencies", [])
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = [d for d in dependencies if not d.get("skip_reason")]
    vulnerable = [d for d in audited if d.get("vulns")]
    if vulnerable:
        lines = [
            f"  {d['name']} {d['version']}: {v['id']} (fixed in {_fixes(v)})"
            for d in vulnerable
            for v in d["vulns"]
        ]
        return Verdict(1, "known vulnerabilities in the locked dependencies:\n" + "\n".join(lines))
    if dependencies and not audited:
        reason = skipped[0].get("skip_reason", "")
        return Verdict(
            0,
            f"vulnerability audit could NOT run: none of {len(dependencies)} packages could be "
            f"looked up (e.g. {reason!r}); the advisory database is unreachable from here",
        )
    note = f", {len(skipped)} could not be looked up" if skipped else ""
    return Verdict(0, f"{len(audited)} packages audited, no known vulnerabilities{note}")


def _fixes(vulnerability: dict[str, Any]) -> str:
    return ", ".join(vulnerability.get("fix_versions") or ["no release yet"])


def main(lock: Path) -> int:
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--requirement",
        str(lock),
        "--require-hashes",
        "--disable-pip",  # the lock is complete: audit it as written, install nothing
        "--format",
        "json",
        "--progress-spinner",
        "off",
    ]
    try:
        result = subprocess.run(  # noqa: S603 - our own interpreter and a fixed argument list
            command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        print(f"vulnerability audit could NOT run: pip-audit gave no answer in {TIMEOUT_SECONDS} s")
        return 0
    try:
        report = json.loads(result.stdout)
    except ValueError:
        print("vulnerability audit could NOT run: pip-audit failed:\n" + result.stderr[-2000:])
        return 0
    verdict = judge(report)
    print(verdict.message)
    return verdict.exit_code


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
