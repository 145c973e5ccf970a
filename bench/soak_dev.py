"""Soak ``autogrid dev``: the embedded stack with the demo and a few bots, for a given time.

Starts ``autogrid dev`` in a temporary directory (SQLite and the file-system broker under its
./var, a free port, no Redis or PostgreSQL), registers soak users, creates and starts a few
paper trailing grid bots replaying the shipped BTC/USDT candles slowly enough to last the whole
run, then samples every bot's orders and fills (and the demo bot's) through the API. At the end
it stops the stack with SIGINT and reports:

- child restarts (the supervisor's "exited unexpectedly" / "restarted" lines) and error lines in
  the log, grouped;
- orders and fills over time, per window, and each bot's status;
- a verdict: non-zero exit if ``autogrid dev`` died, the API stopped answering for longer than
  ``--api-down-seconds``, a window passed with no new fill across the soak bots, or a soak bot
  stopped trading (not running at the end, or no fill in the second half of the run: one bot may
  rightly sit idle for a while when the price leaves its levels). The demo bot is reported but
  not judged: it replays at 300x and finishes its candles after about 15 minutes, by design.

    PYTHONPATH=src .venv/bin/python bench/soak_dev.py --minutes 120

Long-running: not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from autogrid.core.config import Settings

API = "/api/v1"
# The shipped demo candles: BTC/USDT 1m from 2025-05-20 00:00 to 2025-06-18 23:59 UTC.
REPLAY_START = datetime(2025, 5, 20, tzinfo=UTC)
REPLAY_SECONDS = 30 * 24 * 3600
# The replay should outlast the run by this factor, so bots still trade in the last window.
REPLAY_MARGIN = 1.3
STARTUP_TIMEOUT_SECONDS = 300
BOTS_PER_USER = 3  # the free plan's limit: soak bots are spread over soak users
STOP_TIMEOUT_SECONDS = 60
ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL)\b|Traceback \(most recent call last\)")
# Neutral trailing grids around the first replayed price (about 105.5k). Neutral: they buy base
# for their sells at start, so they trade whichever way the price goes (a long grid holds only
# buys below the price and sits idle while it rises). Trailing: the three days rise to 111.5k,
# and the grid follows, as a user running a bot for days would set it. Steps near 0.3%, just
# above the 0.2% two fees cost.
GRIDS: tuple[tuple[str, str, int], ...] = (
    ("104000", "107000", 10),
    ("103500", "107500", 13),
    ("104500", "106500", 7),
    ("103000", "108000", 16),
    ("104200", "106800", 8),
)


@dataclass
class Sample:
    at: float  # seconds since the bots were started
    orders: dict[str, int]
    fills: dict[str, int]
    statuses: dict[str, str]


@dataclass
class Account:
    email: str
    password: str
    token: str = ""


@dataclass
class Soak:
    base_url: str
    workdir: Path
    process: subprocess.Popen[bytes]
    log: Path
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=20))
    bots: dict[str, str] = field(default_factory=dict)  # id -> name
    owners: dict[str, Account] = field(default_factory=dict)  # bot id -> its owner
    demo_bots: set[str] = field(default_factory=set)

    def alive(self) -> bool:
        return self.process.poll() is None

    def demo_account(self) -> Account:
        login = json.loads((self.workdir / "var" / "demo-login.json").read_text())
        return Account(login["email"], login["password"])

    def register(self, email: str) -> Account:
        account = Account(email, secrets.token_urlsafe(16))
        answer = self.client.post(
            f"{self.base_url}{API}/auth/register",
            json={"email": account.email, "password": account.password},
        )
        answer.raise_for_status()
        return account

    def login(self, account: Account) -> None:
        answer = self.client.post(
            f"{self.base_url}{API}/auth/login",
            json={"email": account.email, "password": account.password},
        )
        answer.raise_for_status()
        account.token = answer.json()["access_token"]

    def call(self, account: Account, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An API call as ``account``; logs in (again) when its access token is missing or old."""
        if not account.token:
            self.login(account)
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {account.token}"}
            url = f"{self.base_url}{API}{path}"
            answer = self.client.request(method, url, headers=headers, **kwargs)
            if answer.status_code != 401 or attempt:
                return answer
            self.login(account)
        return answer


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def dev_environment(port: int) -> dict[str, str]:
    """This environment without any AutoGrid setting (so the embedded defaults apply)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name.lower() not in Settings.model_fields and name != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update(PORT=str(port), HOST="127.0.0.1", ENVIRONMENT="development", LOG_JSON="false")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_dev(workdir: Path) -> Soak:
    port = free_port()
    log = workdir / "dev.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "autogrid.cli", "dev"],
            cwd=workdir,
            env=dev_environment(port),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Soak(f"http://127.0.0.1:{port}", workdir, process, log)


def wait_for_api(soak: Soak) -> bool:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline and soak.alive():
        try:
            if soak.client.get(f"{soak.base_url}/health", timeout=3).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(1)
    return False


def replay_speed(minutes: float) -> int:
    """Fast enough to trade often, slow enough that the candles outlast the run."""
    return max(1, int(REPLAY_SECONDS / (minutes * 60 * REPLAY_MARGIN)))


def grid_bot_body(number: int, speed: int, tick_seconds: int) -> dict[str, Any]:
    lower, upper, levels = GRIDS[number % len(GRIDS)]
    return {
        "name": f"soak grid {number + 1}",
        "type": "grid",
        "exchange": "binance",
        "symbol": "BTC/USDT",
        "mode": "paper",
        "tick_interval_seconds": tick_seconds,
        "paper": {
            "price_source": "replay",
            "timeframe": "1m",
            "start": REPLAY_START.isoformat(),
            "speed": speed,
            "balances": {"USDT": "10000"},
        },
        "config": {
            "lower_price": lower,
            "upper_price": upper,
            "grid_count": levels,
            "spacing": "arithmetic",
            "investment": "5000",
            "direction": "neutral",
            "trailing_up": True,
            "trailing_down": True,
        },
    }


def create_bots(soak: Soak, count: int, speed: int, tick_seconds: int) -> None:
    """Watch the demo's bot; create and start ``count`` grid bots, a few per soak user."""
    demo = soak.demo_account()
    for existing in soak.call(demo, "GET", "/bots", params={"limit": 100}).json()["items"]:
        soak.demo_bots.add(existing["id"])
        soak.bots[existing["id"]] = existing["name"]
        soak.owners[existing["id"]] = demo
    owner = demo
    for number in range(count):
        if number % BOTS_PER_USER == 0:  # the free plan's bot limit
            owner = soak.register(f"soak-{number // BOTS_PER_USER + 1}@example.com")
        body = grid_bot_body(number, speed, tick_seconds)
        created = soak.call(owner, "POST", "/bots", json=body)
        if created.status_code != 201:
            raise SystemExit(f"creating a bot answered {created.status_code}: {created.text}")
        bot_id = created.json()["id"]
        started = soak.call(owner, "POST", f"/bots/{bot_id}/start")
        if started.status_code != 202:
            raise SystemExit(f"starting a bot answered {started.status_code}: {started.text}")
        soak.bots[bot_id] = body["name"]
        soak.owners[bot_id] = owner


def take_sample(soak: Soak, at: float) -> Sample | None:
    """Every bot's order total, fill count and status; None when the API did not answer."""
    orders: dict[str, int] = {}
    fills: dict[str, int] = {}
    statuses: dict[str, str] = {}
    try:
        for bot_id in soak.bots:
            owner = soak.owners[bot_id]
            bot = soak.call(owner, "GET", f"/bots/{bot_id}")
            page = soak.call(owner, "GET", f"/bots/{bot_id}/orders", params={"limit": 1})
            stats = soak.call(owner, "GET", f"/bots/{bot_id}/stats")
            if not all(answer.status_code == 200 for answer in (bot, page, stats)):
                return None
            statuses[bot_id] = bot.json()["status"]
            orders[bot_id] = page.json()["total"]
            fills[bot_id] = stats.json()["trades"]
    except httpx.HTTPError:
        return None
    return Sample(at, orders, fills, statuses)


def stop_dev(soak: Soak) -> int | None:
    """SIGINT as a Ctrl-C would; the exit code, or None if it had to be killed."""
    if not soak.alive():
        return soak.process.returncode
    soak.process.send_signal(signal.SIGINT)
    try:
        return soak.process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(soak.process.pid, signal.SIGKILL)
        soak.process.wait()
        return None


def log_findings(log: Path) -> tuple[list[str], list[str], Counter[str]]:
    """Restart lines, death lines, and error lines grouped by their message."""
    restarts: list[str] = []
    deaths: list[str] = []
    errors: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        if "exited unexpectedly" in line:
            deaths.append(line)
        elif " restarted (pid " in line:
            restarts.append(line)
        if ERROR_LINE.search(line):
            # Group by the message without its timestamp and ids.
            message = re.sub(r"^\S+ \S+ ", "", line)
            message = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}|\b\d+(\.\d+)?\b", "#", message)
            errors[message[:160]] += 1
    return restarts, deaths, errors


def windows(samples: list[Sample], window_seconds: float) -> list[tuple[float, Sample, Sample]]:
    """(window start, the sample at or before its start, the last sample in it), in order."""
    found: list[tuple[float, Sample, Sample]] = []
    start = 0.0
    while samples and start < samples[-1].at:
        before = [s for s in samples if s.at <= start] or samples[:1]
        inside = [s for s in samples if s.at <= start + window_seconds]
        if inside[-1] is not before[-1]:
            found.append((start, before[-1], inside[-1]))
        start += window_seconds
    return found


def soak_run(args: argparse.Namespace, workdir: Path) -> int:
    soak = start_dev(workdir)
    problems: list[str] = []
    samples: list[Sample] = []
    try:
        if not wait_for_api(soak):
            print(Path(soak.log).read_text(errors="replace")[-4000:])
            raise SystemExit("autogrid dev never answered /health")
        speed = args.speed or replay_speed(args.minutes)
        create_bots(soak, args.bots, speed, args.tick_seconds)
        print(
            f"autogrid dev at {soak.base_url} (pid {soak.process.pid}), work dir {workdir}; "
            f"{args.bots} grid bots replaying at {speed}x, tick {args.tick_seconds}s; "
            f"running {args.minutes:g} min",
            flush=True,
        )
        started = time.monotonic()
        deadline = started + args.minutes * 60
        down_since: float | None = None
        interrupted = False  # Ctrl-C while waiting: stop the stack and report what was seen
        while time.monotonic() < deadline:
            if interrupted:
                problems.append("interrupted before the end (a partial report follows)")
                break
            if not soak.alive():
                problems.append(f"autogrid dev exited by itself (code {soak.process.returncode})")
                break
            now = time.monotonic()
            sample = take_sample(soak, now - started)
            if sample is None:
                down_since = down_since or now
                if now - down_since > args.api_down_seconds:
                    problems.append(f"the API did not answer for {now - down_since:.0f}s")
                    break
            else:
                down_since = None
                samples.append(sample)
                print(
                    f"[{sample.at / 60:6.1f} min] orders {sum(sample.orders.values()):6d}  "
                    f"fills {sum(sample.fills.values()):6d}  "
                    f"statuses {dict(Counter(sample.statuses.values()))}",
                    flush=True,
                )
            try:
                time.sleep(max(0.0, min(args.sample_seconds, deadline - time.monotonic())))
            except KeyboardInterrupt:
                interrupted = True
    finally:
        stop_code = stop_dev(soak)
        soak.client.close()
    return report(args, soak, samples, problems, stop_code)


def report(
    args: argparse.Namespace,
    soak: Soak,
    samples: list[Sample],
    problems: list[str],
    stop_code: int | None,
) -> int:
    restarts, deaths, errors = log_findings(soak.log)
    judged = [bot_id for bot_id in soak.bots if bot_id not in soak.demo_bots]
    window_minutes = args.window_minutes or min(10.0, args.minutes / 4)
    window_seconds = max(window_minutes * 60, 2 * args.sample_seconds)
    print("\n== soak report ==")
    print(f"duration: {args.minutes:g} min, samples: {len(samples)}, log: {soak.log}")
    print(f"stopped on SIGINT with exit code: {stop_code}")
    print(f"child deaths: {len(deaths)}, restarts: {len(restarts)}")
    for line in deaths + restarts:
        print(f"  {line}")
    print(f"error lines: {sum(errors.values())} ({len(errors)} distinct)")
    for message, count in errors.most_common(10):
        print(f"  {count:5d} x {message}")
    print(f"fills per {window_seconds / 60:g}-minute window (soak bots):")
    for number, (start, first, last) in enumerate(windows(samples, window_seconds)):
        new_fills = sum(last.fills[b] - first.fills[b] for b in judged)
        new_orders = sum(last.orders[b] - first.orders[b] for b in judged)
        warm_up = " (warm-up: ladders being placed, not judged)" if number == 0 else ""
        print(f"  {start / 60:6.1f} min: +{new_fills} fills, +{new_orders} orders{warm_up}")
        if new_fills <= 0 and number > 0:
            problems.append(f"no new fill between {start / 60:.1f} and {last.at / 60:.1f} min")
    if samples:
        last = samples[-1]
        halfway = next(s for s in samples if s.at >= last.at / 2)
        print("bots at the end:")
        for bot_id, name in soak.bots.items():
            new = last.fills[bot_id] - halfway.fills[bot_id]
            judged_mark = "" if bot_id in judged else "  (demo, not judged)"
            print(
                f"  {name}: {last.statuses[bot_id]}, {last.orders[bot_id]} orders, "
                f"{last.fills[bot_id]} fills, +{new} in the second half{judged_mark}"
            )
            if bot_id in judged and last.statuses[bot_id] != "running":
                problems.append(f"{name} ended {last.statuses[bot_id]}")
            elif bot_id in judged and new <= 0:
                problems.append(f"{name} made no fill in the second half of the run")
    else:
        problems.append("no sample was taken")
    if problems:
        print("FAILED:")
        for problem in problems:
            print(f"  {problem}")
        return 1
    print("OK: the stack stayed up and every soak bot kept trading")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="how long to run (default 5)")
    parser.add_argument("--bots", type=int, default=5, help="paper grid bots besides the demo")
    parser.add_argument(
        "--tick-seconds", type=int, default=1, help="the bots' tick interval (default 1, the least)"
    )
    parser.add_argument(
        "--speed", type=int, default=None, help="replay speed (default: candles outlast the run)"
    )
    parser.add_argument("--sample-seconds", type=float, default=30.0, help="API sampling period")
    parser.add_argument(
        "--window-minutes",
        type=float,
        default=None,
        help="judge trading per window of this length (default: 10, or a quarter of a short run)",
    )
    parser.add_argument(
        "--api-down-seconds",
        type=float,
        default=120.0,
        help="fail when the API does not answer for this long",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="autogrid-soak-"))
    code = 1
    try:
        code = soak_run(args, workdir)
    finally:
        if args.keep or code != 0:
            print(f"work dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
