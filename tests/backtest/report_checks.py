"""What every HTML report must be: one file a browser can open offline, with no script but the
report's own (which a Content-Security-Policy allows by its hash)."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infra import IN_CI


def assert_self_contained(page: str, csp: str | None = None) -> None:
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"<link|<img|<iframe|<object|\bsrc=|url\(|@import", page)
    # Links only to data: (the CSV download), never anywhere else.
    assert all(link.startswith("data:") for link in re.findall(r'href="([^"]*)"', page))
    scripts = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    assert page.count("<script") == len(scripts) <= 1
    if csp is not None:
        allowed = re.findall(r"'(sha256-[^']+)'", csp)
        for script in scripts:
            digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
            assert f"sha256-{digest}" in allowed, "the page's script is not the one allowed"


def chromium() -> str:
    """The headless browser; skipped locally without it, a failure in CI."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    message = "headless Chromium is not installed (apt-get install -y chromium)"
    if IN_CI:
        pytest.fail(f"CI requires it: {message}", pytrace=False)
    pytest.skip(message)


def measure_in_chromium(page: str, script: str, tmp_path: Path) -> Any:
    """Load ``page`` in headless Chromium with ``script`` appended, which must put its JSON
    findings in ``<pre id="measured">``; returns them parsed."""
    browser = chromium()
    report = tmp_path / "report.html"
    report.write_text(page.replace("</body>", f"<script>{script}</script></body>"), "utf-8")
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,1600",
        "--dump-dom",
        report.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    found = re.search(r'<pre id="measured">(.*?)</pre>', done.stdout, re.DOTALL)
    assert found, f"no measurements in Chromium's output: {done.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))
