"""Chaos run: live bots under process kills and exchange faults, audited against the exchange.

Starts the Binance simulator (tests/exchange_sim) walking a slice of real BTC/USDT 1m candles, and
AutoGrid as a deployment runs it: ``autogrid serve``, two ``autogrid worker`` and ``autogrid beat``
in production mode, on a PostgreSQL database and a Redis key prefix made for the run. Users
register through the API, each with its own exchange key on the simulator, and run live grid and
DCA bots (three each, the free plan's limit), while someone else trades thousands of times on
every key (a busy account). For ``--minutes`` the run injects every fault the simulator knows and
``kill -9``s the API, the workers and beat at random (restarting each); then it stops the bots
(half of them selling their base), waits for things to settle, and compares the exchange's record
with our database (see chaoskit/audit.py for what each count means).
Exits 1 if any count is not zero.

Everything listens on and talks to 127.0.0.1 only; the processes, the database and the Redis keys
are removed at the end, also on Ctrl-C (``--keep`` keeps the database, the logs and the
exchange's record to check a count by hand). Not part of ``make test`` or ``make bench``:

    .venv/bin/python bench/chaos.py --minutes 15 --seed 1
"""

from __future__ import annotations

import argparse
import faulthandler
import math
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import FrameType

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO_ROOT / "src"), str(REPO_ROOT)]

from chaoskit.api import AutoGridApi, Trader  # noqa: E402
from chaoskit.audit import Audit, Records, audit  # noqa: E402
from chaoskit.busy import FOREIGN_PREFIX, BusyAccount, place_resting_sell  # noqa: E402
from chaoskit.disorder import SYMBOL, Chaos, ChaosLog, ChaosSettings  # noqa: E402
from chaoskit.fleet import FleetBot, Starter, build_fleet  # noqa: E402
from chaoskit.prices import POINTS_PER_CANDLE, candle_slice, price_path  # noqa: E402
from chaoskit.processes import Environment, ManagedProcess, stack_processes  # noqa: E402
from chaoskit.records import dump_exchange, exchange_side, load_records, unsettled  # noqa: E402
from tests.exchange_sim import SimulatorClient, SimulatorProcess  # noqa: E402

STARTING_BALANCES = {"USDT": Decimal(100_000), "BTC": Decimal(2)}
READY_TIMEOUT = 120.0
BUSY_RESTING_AMOUNT = Decimal("0.5")  # BTC: room for 50,000 trades of the minimum amount
DETAIL_LINES = 15
# The free plan's limit: one user (and exchange key) per three bots.
BOTS_PER_USER = 3


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="length of the chaos")
    parser.add_argument("--seed", type=int, default=1, help="seeds the prices, faults and kills")
    parser.add_argument("--grid-bots", type=int, default=4)
    parser.add_argument("--dca-bots", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2, help="processes (threads) per worker")
    parser.add_argument(
        "--pool",
        choices=("prefork", "threads"),
        default="prefork",
        help="the workers' pool; threads: tasks at once in one process, as make run's worker",
    )
    parser.add_argument("--kill-every", type=float, default=20.0, help="mean seconds")
    parser.add_argument("--fault-every", type=float, default=3.0, help="mean seconds")
    parser.add_argument(
        "--step-seconds", type=float, default=0.5, help="seconds per price point (4 a candle)"
    )
    parser.add_argument(
        "--busy-trades-per-second",
        type=float,
        default=10.0,
        help="someone else's trades on each user's key (0: none); past 5,000 trades "
        "between an order's placing and its fill, paging the history from its placing misses it",
    )
    parser.add_argument(
        "--settle-minutes", type=float, default=8.0, help="longest wait for the bots to stop"
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the logs' folder (with the exchange's record) and the database, to inspect",
    )
    return parser.parse_args()


def wait_for(condition: Callable[[], bool], timeout: float, what: str, every: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def worker_ready(process: ManagedProcess) -> bool:
    latest = process.log_text().rsplit("===== start", 1)[-1]
    return "ready." in latest


def add_accounts(sim: SimulatorClient, rng: random.Random, count: int) -> dict[str, str]:
    """api key -> secret, each funded with STARTING_BALANCES."""
    keys: dict[str, str] = {}
    for _ in range(count):
        api_key = "chaos" + "".join(rng.choices("abcdef0123456789", k=59))
        secret = "chaos" + "".join(rng.choices("abcdef0123456789", k=59))
        balances = {asset: str(amount) for asset, amount in STARTING_BALANCES.items()}
        sim.add_account(api_key, secret, balances)
        keys[api_key] = secret
    return keys


def start_busy_accounts(
    sim: SimulatorClient, sim_url: str, keys: dict[str, str], price: Decimal, per_second: float
) -> list[BusyAccount]:
    """Someone else trading on every key: a sell resting far above the market, filled in small
    pieces all along the run (see chaoskit/busy.py)."""
    if per_second <= 0:
        return []
    far = (price * 2).quantize(Decimal("0.01"))
    return [
        BusyAccount(
            sim,
            place_resting_sell(sim_url, api_key, secret, BUSY_RESTING_AMOUNT, far),
            per_second,
        )
        for api_key, secret in keys.items()
    ]


def settle(
    sim: SimulatorClient, environment: Environment, api_keys: list[str], timeout: float
) -> float:
    """Wait until every bot stopped and no order is open on either side; the seconds it took."""
    began = time.monotonic()

    def settled() -> bool:
        orders, _, _ = exchange_side(sim, api_keys)
        ours = [o for o in orders if not o.client_order_id.startswith(FOREIGN_PREFIX)]
        return unsettled(environment.asyncpg_dsn) == (0, 0) and not any(o.is_open for o in ours)

    try:
        wait_for(settled, timeout, "the bots to stop and their orders to settle", every=2.0)
    except TimeoutError as error:
        print(f"warning: {error}; auditing what is there", flush=True)
    return time.monotonic() - began


def print_report(
    args: argparse.Namespace,
    log: ChaosLog,
    records: Records,
    result: Audit,
    sim: SimulatorClient,
    fleet: list[FleetBot],
    settle_seconds: float,
    report_file: Path,
) -> None:
    hits = Counter(str(r["fault"]) for r in sim.request_log() if r.get("fault"))
    events = Counter(e.kind for e in records.events)
    lines = [
        f"chaos run: {args.minutes:g} min, seed {args.seed}, {len(fleet)} live bots "
        f"({args.grid_bots} grid, {args.dca_bots} dca) on {len(records.starting_balances)} keys",
        f"price steps: {log.price_steps}; clock skews: {log.skews}",
        f"kill -9: {sum(log.kills.values())} ({_counts(log.kills)})",
        f"died by themselves: {sum(log.crashes.values())} ({_counts(log.crashes)})",
        f"faults injected: {sum(log.faults.values())} ({_counts(log.faults)})",
        f"requests that met a fault: {sum(hits.values())} ({_counts(hits)})",
        f"exchange: {len(records.exchange_orders)} orders, {len(records.exchange_trades)} trades;"
        f" ours: {len(records.orders)} orders, {len(records.fills)} fills",
        f"our order statuses: {_counts(Counter(o.status for o in records.orders))}",
        f"bot events: {_counts(events)}",
        f"bots at the end: {_counts(Counter(b.status for b in records.bots))}; "
        f"settled in {settle_seconds:.0f}s",
    ]
    if log.errors:
        lines.append(f"control errors: {len(log.errors)} (first: {log.errors[0]})")
    lines.append("")
    lines.append("counts:")
    for name, finding in result.items():
        lines.append(f"  {name:<34} {finding.count}")
    summary = "\n".join(lines)
    details: list[str] = []
    for name, finding in result.items():
        if finding.details:
            details.append(f"\n{name}:")
            details += [f"  {d}" for d in finding.details]
    report_file.write_text(
        summary + "\n" + "\n".join(details) + "\n\nchaos log:\n" + "\n".join(log.lines) + "\n"
    )
    print(summary)
    for name, finding in result.items():
        if finding.details:
            print(f"\n{name} (first {DETAIL_LINES}):")
            for detail in finding.details[:DETAIL_LINES]:
                print(f"  {detail}")
    print(f"\nfull report: {report_file}", flush=True)


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counter.most_common()) or "none"


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run(args: argparse.Namespace, workdir: Path) -> int:
    rng = random.Random(args.seed)
    settings = ChaosSettings(
        minutes=args.minutes,
        step_seconds=args.step_seconds,
        kill_every=args.kill_every,
        fault_every=args.fault_every,
    )
    steps = math.ceil(args.minutes * 60 / settings.step_seconds) + 1
    path = price_path(candle_slice(math.ceil(steps / POINTS_PER_CANDLE), rng))
    environment = Environment(workdir)
    simulator = SimulatorProcess()
    processes: list[ManagedProcess] = []
    api = AutoGridApi(environment.api_url)
    starter_api = AutoGridApi(environment.api_url)
    starter: Starter | None = None
    try:
        sim = simulator.start()
        environment.sim_url = simulator.url
        users = math.ceil((args.grid_bots + args.dca_bots) / BOTS_PER_USER)
        keys = add_accounts(sim, rng, users)
        sim.set_price(SYMBOL, str(path[0]))
        print(f"simulator {simulator.url}; database {environment.database}; logs {workdir}")
        environment.create_database()
        environment.migrate()
        processes = stack_processes(environment, args.concurrency, args.pool)
        for process in processes:
            process.start()
        wait_for(api.ready, READY_TIMEOUT, "the API")
        workers = [p for p in processes if p.name.startswith("worker")]
        wait_for(lambda: all(worker_ready(p) for p in workers), READY_TIMEOUT, "the workers")
        traders: list[Trader] = [api.register(key, secret) for key, secret in keys.items()]
        chaos_seconds = args.minutes * 60
        fleet = build_fleet(
            api, traders, path[0], args.grid_bots, args.dca_bots, rng, chaos_seconds
        )
        for bot in fleet:
            if bot.start_at == 0:
                api.start(bot.trader, bot.id)
        busy = start_busy_accounts(sim, simulator.url, keys, path[0], args.busy_trades_per_second)
        late = [bot for bot in fleet if bot.start_at > 0]
        print(
            f"{len(fleet)} bots created, {len(fleet) - len(late)} started; chaos begins", flush=True
        )

        began = time.monotonic()
        starter = Starter(starter_api, late, began)
        starter.thread.start()

        def pace(elapsed: float) -> None:
            for account in busy:
                account.keep_pace(elapsed)

        log = Chaos(settings, rng, sim, processes, path, on_tick=pace).run()
        starter.thread.join(timeout=180)
        print(
            f"chaos over: {sum(log.kills.values())} kills, {sum(log.faults.values())} faults;"
            " stopping the bots",
            flush=True,
        )

        wait_for(api.ready, READY_TIMEOUT, "the API after the chaos")
        for number, bot in enumerate(fleet):
            api.stop(bot.trader, bot.id, sell_base=number % 2 == 0)
        settle_seconds = settle(sim, environment, list(keys), args.settle_minutes * 60)
        key_of_bot = {bot.id: bot.trader.api_key for bot in fleet}
        starting = {key: dict(STARTING_BALANCES) for key in keys}
        records = load_records(
            sim, environment.asyncpg_dsn, key_of_bot, starting, foreign_prefix=FOREIGN_PREFIX
        )
        dump_exchange(sim, list(keys), workdir / "exchange.json")
        result = audit(records)
        for error in starter.errors:
            print(f"warning: {error}")
        if busy:
            trades, errors = sum(b.trades for b in busy), sum(b.errors for b in busy)
            print(f"busy keys: {trades} foreign trades on {len(busy)} keys ({errors} errors)")
        print_report(args, log, records, result, sim, fleet, settle_seconds, workdir / "report.txt")
        return 0 if result.clean else 1
    finally:
        if starter is not None:
            starter.stop()
        api.close()
        starter_api.close()
        for process in processes:
            process.stop()
        simulator.stop()
        environment.cleanup(keep_database=args.keep)
        if args.keep and environment.created:
            print(f"database kept: {environment.asyncpg_dsn}")


def main() -> None:
    args = parse_args()
    faulthandler.register(signal.SIGUSR1)  # kill -USR1: where is it now? (stacks to stderr)
    # SIGINT too: a shell starting the run in the background ignores it unless we take it.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="autogrid-chaos-"))
    try:
        code = run(args, workdir)
    except KeyboardInterrupt:
        print("interrupted: processes, database and Redis keys cleaned up", file=sys.stderr)
        code = 130
    if not args.keep and code == 0:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"logs kept in {workdir}")

    sys.exit(code)


if __name__ == "__main__":
    main()
