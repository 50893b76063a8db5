"""make bench-scale: the real kvmcloud-server at scale, on each database, one table at the end.

Usage: python -m bench.scale [--databases sqlite,postgresql,mariadb] [--templates 10000,100000]
                             [--hosts 1000,5000,10000,20000] [--ping-interval 60]
                             [--duration 120] [--reps 20] [--workdir var/bench-scale]
                             [--deploy-reps 10]

For each database it starts ``kvmcloud-server serve`` (a private PostgreSQL or MariaDB
when that is the database), then:

1. templates: bulk rows through the server's models (bench/scale_data.py), then
   listTemplates (all, pagesize=500; self; no pagesize) and listZones, signed as ``cs``
   signs, p50/p95 over ``--reps`` calls each, interleaved;
2. hosts: simulated hosts enrolled by addHost through the real enrolment protocol
   (bench/scale_fleet.py), beating every ``--ping-interval`` over mutual TLS for
   ``--duration`` after one warm-up interval; server CPU per beat from /proc, hosts seen
   not Up in the database during the window, listZones p50 against the idle figure;
3. deploy: ``--deploy-reps`` deployVirtualMachine calls of a template already on the pool
   (real agent, libvirt/QEMU) against ``qemu-img create -b`` + ``virsh define`` + ``virsh
   start`` of the same domain on the same image, interleaved, medians and their ratio
   (bench/deploy_floor.py).

Every loop is bounded, every process stopped by its PID, everything on 127.0.0.1.
"""

import argparse
import contextlib
import importlib
import os
import shutil
import signal
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cs import CloudStack, CloudStackApiException
from sqlalchemy import create_engine, select, text
from tests.support.libvirt import LibvirtDaemons, LibvirtStartError, LibvirtUnavailableError
from tests.support.postgres import PostgresServer, PostgresUnavailableError
from tests.support.processes import ManagedProcess, free_port, init_server, start_server

from bench import deploy_floor
from bench.heartbeat_cost import cpu_seconds
from bench.scale_data import load_templates
from bench.scale_fleet import Fleet, run_beats
from kvmcloud.server.infrastructure.models import Host

REPO = Path(__file__).resolve().parent.parent
ENROL_BATCH = 200
ENROL_THREADS = 4
BEAT_THREADS = 16
SAMPLE_EVERY_S = 2.0
API_SAMPLE_EVERY_S = 1.0
UP = "Up"
STATEMENT_TRIES = 3
IDLE_SAMPLE_S = 10.0


@dataclass
class Row:
    """One line of the final table."""

    database: str
    case: str
    value: str


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, database: str, case: str, value: str) -> None:
        self.rows.append(Row(database, case, value))
        print(f"  {database:<11} {case:<58} {value}", flush=True)


# --- databases ------------------------------------------------------------------------------


# How many SQL statements a call makes the server send (the least of a few tries, since
# the server's background threads share the log); None where the database cannot tell.
CountStatements = Callable[[Callable[[], object]], int] | None


@dataclass(frozen=True)
class Database:
    """A fresh database for one run: its URL, and how to count statements if it can."""

    url: str
    count_statements: CountStatements = None


@dataclass(frozen=True)
class Backend:
    """A database the server can run on: how to get a fresh one, or why not."""

    name: str
    unavailable: Callable[[], str | None]
    open: Callable[[Path], contextlib.AbstractContextManager[Database]]


@contextlib.contextmanager
def _sqlite(work: Path) -> Iterator[Database]:
    path = work / "kvmcloud.db"
    path.unlink(missing_ok=True)
    yield Database(f"sqlite:///{path}")


def _postgres_unavailable() -> str | None:
    from tests.support.postgres import find_bindir

    try:
        find_bindir()
    except PostgresUnavailableError as exc:
        return str(exc)
    return None


@contextlib.contextmanager
def _postgres(_work: Path) -> Iterator[Database]:
    with PostgresServer() as server:
        yield Database(server.url, lambda call: _postgres_statements(server, call))


def _postgres_statements(server: PostgresServer, call: Callable[[], object]) -> int:
    """Count the statements PostgreSQL logs (``log_statement = all``) while ``call`` runs.

    BEGIN, COMMIT and ROLLBACK are left out: the figure is the queries.
    """
    engine = create_engine(server.url, isolation_level="AUTOCOMMIT")
    counts = []
    try:
        with engine.connect() as connection:
            connection.execute(text("ALTER SYSTEM SET log_statement = 'all'"))
            connection.execute(text("SELECT pg_reload_conf()"))
            time.sleep(1.0)
            for _ in range(STATEMENT_TRIES):
                offset = server.log_path.stat().st_size
                call()
                time.sleep(0.2)
                with server.log_path.open("rb") as log:
                    log.seek(offset)
                    lines = log.read().decode(errors="replace").splitlines()
                counts.append(sum(_is_query(line) for line in lines))
            connection.execute(text("ALTER SYSTEM RESET log_statement"))
            connection.execute(text("SELECT pg_reload_conf()"))
    finally:
        engine.dispose()
    return min(counts)


def _is_query(line: str) -> bool:
    _, marker, statement = line.partition("LOG:  statement: ")
    if not marker:
        _, marker, rest = line.partition("LOG:  execute ")
        statement = rest.partition(": ")[2]
    if not marker:
        return False
    return statement.strip().upper() not in ("BEGIN", "COMMIT", "ROLLBACK")


def _mariadb_server_class() -> tuple[Any, str | None]:
    """The test suite's private-MariaDB fixture class, once tests/support has one."""
    try:
        module = importlib.import_module("tests.support.mariadb")
    except ImportError:
        return None, "tests/support has no MariaDB fixture (tests/support/mariadb.py) yet"
    for name in dir(module):
        candidate = getattr(module, name)
        lowered = name.lower()
        if (
            isinstance(candidate, type)
            and lowered.startswith("mariadb")
            and lowered.endswith("server")
            and hasattr(candidate, "__enter__")
        ):
            return candidate, None
    return None, "tests/support/mariadb.py has no MariaDB…Server context manager"


def _mariadb_unavailable() -> str | None:
    server_class, reason = _mariadb_server_class()
    if server_class is None:
        return reason
    if shutil.which("mariadbd") is None and not Path("/usr/sbin/mariadbd").exists():
        return "no mariadbd program (install mariadb-server)"
    return None


@contextlib.contextmanager
def _mariadb(_work: Path) -> Iterator[Database]:
    server_class, _ = _mariadb_server_class()
    with server_class() as server:
        yield Database(str(server.url))


BACKENDS = {
    "sqlite": Backend("SQLite", lambda: None, _sqlite),
    "postgresql": Backend("PostgreSQL", _postgres_unavailable, _postgres),
    "mariadb": Backend("MariaDB", _mariadb_unavailable, _mariadb),
}


# --- timing ---------------------------------------------------------------------------------


def timed_ms(call: Callable[[], object]) -> float:
    began = time.perf_counter()
    call()
    return (time.perf_counter() - began) * 1000


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def p95(samples: list[float]) -> float:
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


def list_cases(api: CloudStack) -> dict[str, Callable[[], object]]:
    return {
        "listTemplates all pagesize=500": lambda: api.listTemplates(
            templatefilter="all", pagesize=500, page=1
        ),
        "listTemplates self pagesize=500": lambda: api.listTemplates(
            templatefilter="self", pagesize=500, page=1
        ),
        "listTemplates all, no pagesize": lambda: api.listTemplates(templatefilter="all"),
        "listZones": lambda: api.listZones(),
    }


def time_lists(api: CloudStack, reps: int) -> dict[str, list[float]]:
    cases = list_cases(api)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for call in cases.values():  # warm-up, not counted
        call()
    for _ in range(reps):
        for name, call in cases.items():
            samples[name].append(timed_ms(call))
    return samples


# --- one database ---------------------------------------------------------------------------


class ScaleRun:
    """The server on one database, and the measurements made on it."""

    def __init__(self, args: argparse.Namespace, backend: Backend, results: Results) -> None:
        self.args = args
        self.backend = backend
        self.results = results
        self.work: Path = args.workdir.resolve() / backend.name.lower()
        self.idle_zones_p50 = 0.0
        self.zones_cpu_s = 0.0
        self.idle_cpu_rate = 0.0
        self.count_statements: CountStatements = None

    def run(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        with self.backend.open(self.work) as database:
            url = database.url
            self.count_statements = database.count_statements
            config_dir = self.work / "server-config"
            keys = init_server(url, self.work / "init.log", config_dir)
            port = free_port()
            server = start_server(url, port, self.work / "server.log", config_dir)
            fleet = Fleet(self.work)
            try:
                api = CloudStack(
                    endpoint=f"http://127.0.0.1:{port}/client/api",
                    key=keys.api_key,
                    secret=keys.secret_key,
                    timeout=120,
                )
                self.measure(api, server, fleet, url)
            finally:
                fleet.close()
                server.stop()

    def add(self, case: str, value: str) -> None:
        self.results.add(self.backend.name, case, value)

    def measure(self, api: CloudStack, server: ManagedProcess, fleet: Fleet, url: str) -> None:
        zone = api.createZone(name="scale", networktype="Advanced", dns1="127.0.0.53")["zone"]
        pod = api.createPod(name="p1", zoneid=zone["id"])["pod"]
        cluster = api.addCluster(
            clustername="c1", zoneid=zone["id"], podid=pod["id"], hypervisor="KVM"
        )["cluster"][0]
        engine = create_engine(url)
        try:
            for count in self.args.templates:
                seconds = load_templates(engine, zone["id"], count)
                self.add(f"load to {count} templates (bulk, s)", f"{seconds:.1f}")
                samples = time_lists(api, self.args.reps)
                zones = p50(samples["listZones"])
                self.idle_zones_p50 = self.idle_zones_p50 or zones
                for name, times in samples.items():
                    line = f"p50 {p50(times):.1f} ms, p95 {p95(times):.1f} ms"
                    if name != "listZones":
                        line += f", {p50(times) / zones:.0f}× listZones"
                    self.add(f"{count} templates: {name}", line)
                self.statements(api, count)
            if not self.args.templates:
                self.idle_zones_p50 = p50(time_lists(api, self.args.reps)["listZones"])
            # What one listZones costs the server, to take the sampler's calls out of the
            # CPU per beat.
            before = cpu_seconds(server.pid)
            for _ in range(self.args.reps):
                api.listZones()
            self.zones_cpu_s = (cpu_seconds(server.pid) - before) / max(1, self.args.reps)
            # The server's own background (job runner, state sweeper, flusher) with no
            # hosts: the per-beat figure is also given net of it.
            before, began = cpu_seconds(server.pid), time.monotonic()
            time.sleep(IDLE_SAMPLE_S)
            self.idle_cpu_rate = (cpu_seconds(server.pid) - before) / (time.monotonic() - began)
            self.add("idle server CPU (cores busy, no hosts)", f"{self.idle_cpu_rate:.3f}")
            if self.args.ping_interval != 60:
                api.updateConfiguration(name="ping.interval", value=str(self.args.ping_interval))
            for count in self.args.hosts:
                self.hosts(api, server, fleet, engine, zone, pod, cluster, count)
        finally:
            engine.dispose()

    def statements(self, api: CloudStack, count: int) -> None:
        if self.count_statements is None:
            self.add(f"{count} templates: SQL statements per page", "not counted here")
            return
        for name, call in list_cases(api).items():
            self.add(f"{count} templates: SQL statements, {name}", str(self.count_statements(call)))

    def hosts(
        self,
        api: CloudStack,
        server: ManagedProcess,
        fleet: Fleet,
        engine: Any,
        zone: dict[str, Any],
        pod: dict[str, Any],
        cluster: dict[str, Any],
        count: int,
    ) -> None:
        interval = float(self.args.ping_interval)
        began = time.monotonic()
        failures = self.enrol(api, fleet, zone, pod, cluster, count)
        enrol_s = time.monotonic() - began
        hosts = list(fleet.hosts[:count])
        self.add(
            f"{count} hosts: enrolled by addHost",
            f"{len(hosts)} in {enrol_s:.0f} s ({failures} refused)",
        )
        if not hosts:
            return
        # One interval of beats brings back hosts that went quiet while others enrolled.
        run_beats(fleet, hosts, interval, interval, BEAT_THREADS)
        stop = threading.Event()
        left_up: set[int] = set()
        zone_ms: list[float] = []

        def sample_states() -> None:
            query = select(Host.id).where(Host.removed.is_(None), Host.status != UP)
            # Bounded by the window: stop is set when the beats end.
            while not stop.wait(SAMPLE_EVERY_S):
                with engine.connect() as connection:
                    left_up.update(connection.scalars(query))

        def sample_api() -> None:
            while not stop.wait(API_SAMPLE_EVERY_S):
                zone_ms.append(timed_ms(api.listZones))

        samplers = [threading.Thread(target=f, daemon=True) for f in (sample_states, sample_api)]
        opened_before = fleet.connections_opened
        cpu_before, wall_before = cpu_seconds(server.pid), time.monotonic()
        for thread in samplers:
            thread.start()
        stats = run_beats(fleet, hosts, interval, self.args.duration, BEAT_THREADS)
        stop.set()
        for thread in samplers:
            thread.join(timeout=60)
        wall = time.monotonic() - wall_before
        cpu = cpu_seconds(server.pid) - cpu_before - len(zone_ms) * self.zones_cpu_s
        beats = max(1, stats.sent)
        self.add(f"{count} hosts: beats/s (offered {count / interval:.0f})", f"{beats / wall:.0f}")
        # Everything the server did in the window but the sampler's listZones: beats, the
        # state sweeper, the last-seen flusher.
        net = (cpu - self.idle_cpu_rate * wall) / beats
        self.add(
            f"{count} hosts: server CPU per beat",
            f"{cpu / beats * 1000:.2f} ms ({net * 1000:.2f} ms net of the idle server)",
        )
        self.add(f"{count} hosts: server CPU (cores busy)", f"{cpu / wall:.2f}")
        self.add(
            f"{count} hosts: TLS handshakes in the window",
            f"{fleet.connections_opened - opened_before} for {stats.sent} beats",
        )
        self.add(f"{count} hosts: load average", _load_average())
        self.add(f"{count} hosts: server RSS, open files", _rss_and_files(server.pid))
        self.add(
            f"{count} hosts: held Up without a flap",
            f"{len(hosts) - len(left_up)} of {len(hosts)} "
            f"({stats.failed} beats failed, {stats.late} late)",
        )
        if zone_ms:
            ratio = p50(zone_ms) / self.idle_zones_p50
            self.add(
                f"{count} hosts: listZones p50 under beats",
                f"{p50(zone_ms):.1f} ms, {ratio:.2f}× idle",
            )
        if stats.errors:
            self.results.notes.append(f"{self.backend.name} {count} hosts: {stats.errors[0]}")

    def enrol(
        self,
        api: CloudStack,
        fleet: Fleet,
        zone: dict[str, Any],
        pod: dict[str, Any],
        cluster: dict[str, Any],
        count: int,
    ) -> int:
        """addHost until the fleet has ``count`` hosts; return how many addHost refused."""
        refused = 0

        def add(port: int) -> bool:
            try:
                api.addHost(
                    zoneid=zone["id"],
                    podid=pod["id"],
                    clusterid=cluster["id"],
                    hypervisor="KVM",
                    url=f"http://127.0.0.1:{port}",
                    username="root",
                    password=fleet.token,
                )
            except CloudStackApiException as exc:
                if len(self.results.notes) < 20:
                    self.results.notes.append(f"{self.backend.name} addHost: {exc}")
                return False
            return True

        # Bounded: each round adds up to ENROL_BATCH hosts or counts them refused.
        for _ in range(count // ENROL_BATCH + 2):
            missing = count - len(fleet.hosts)
            if missing <= 0 or refused > count // 10:
                break
            ports, close = fleet.open_ports(min(missing, ENROL_BATCH))
            try:
                with ThreadPoolExecutor(ENROL_THREADS) as pool:
                    refused += sum(not ok for ok in pool.map(add, ports))
            finally:
                close()
            print(f"    enrolled {len(fleet.hosts)}/{count}", flush=True)
        return refused


def _load_average() -> str:
    """The machine's 1, 5 and 15 minute load averages (/proc/loadavg)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _rss_and_files(pid: int) -> str:
    """The process's resident memory and open file descriptors (a kept connection is one)."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
    )
    files = len(os.listdir(f"/proc/{pid}/fd"))
    return f"{rss_kb / 1024:.0f} MiB, {files} files"


# --- main -----------------------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgresql,mariadb")
    parser.add_argument("--templates", type=_sizes, default=[10_000, 100_000])
    parser.add_argument("--hosts", type=_sizes, default=[1_000, 5_000, 10_000, 20_000])
    parser.add_argument("--ping-interval", type=int, default=60)
    parser.add_argument(
        "--duration", type=float, default=120.0, help="seconds of beats measured per size"
    )
    parser.add_argument("--reps", type=int, default=20, help="calls per list page and size")
    parser.add_argument("--workdir", type=Path, default=REPO / "var" / "bench-scale")
    parser.add_argument(
        "--deploy-reps",
        type=int,
        default=10,
        help="rounds of a cached-template deploy vs the bare libvirt floor (0: skip)",
    )
    args = parser.parse_args(argv)
    args.databases = [name.strip().lower() for name in args.databases.split(",") if name]
    unknown = [name for name in args.databases if name not in BACKENDS]
    if unknown:
        parser.error(f"unknown database(s) {unknown}; choose from {sorted(BACKENDS)}")
    return args


def deploy_rows(args: argparse.Namespace, results: Results) -> None:
    """The deploy of a cached template against bare libvirt (bench/deploy_floor.py)."""
    print("\n== deploy vs bare libvirt ==", flush=True)
    daemons = LibvirtDaemons()
    try:
        daemons.start()
    except (LibvirtUnavailableError, LibvirtStartError) as exc:
        results.add("libvirt", "deploy of a cached template", f"not measured: {exc}")
        return
    try:
        figures = deploy_floor.measure(args.workdir.resolve() / "deploy", args.deploy_reps)
    finally:
        daemons.stop()
    reps = figures.reps
    results.add("libvirt", f"deployVirtualMachine, cached template (median of {reps}, s)",
                f"{figures.ours_s:.2f}")  # fmt: skip
    results.add("libvirt", f"qemu-img -b + virsh define + start (median of {reps}, s)",
                f"{figures.floor_s:.2f}")  # fmt: skip
    results.add("libvirt", "deploy / floor (target <= 1.3)", f"{figures.ratio:.2f}x")
    results.add(
        "libvirt", "load average before / after", f"{figures.load_before} / {figures.load_after}"
    )


def print_table(results: Results) -> None:
    print("\n| database | measure | value |\n|---|---|---|")
    for row in results.rows:
        print(f"| {row.database} | {row.case} | {row.value} |")
    for note in results.notes:
        print(f"note: {note}")


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    # SystemExit unwinds through the finally blocks that stop the server and databases.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if threading.current_thread() is not threading.main_thread():
        return _run(args)
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        return _run(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    results = Results()
    for name in args.databases:
        backend = BACKENDS[name]
        reason = backend.unavailable()
        if reason is not None:
            print(f"{backend.name}: not measured: {reason}", flush=True)
            results.add(backend.name, "not measured", reason)
            continue
        print(f"\n== {backend.name} ==", flush=True)
        ScaleRun(args, backend, results).run()
    if args.deploy_reps > 0:
        deploy_rows(args, results)
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
