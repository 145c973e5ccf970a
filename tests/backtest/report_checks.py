"""What every HTML report must be: one file a browser can open offline, with no script but the
report's own (which a Content-Security-Policy allows by its hash)."""

from __future__ import annotations

import base64
import hashlib
import re


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
