"""make bench: kvmcloud's download engine against curl, aria2c, dd and hashlib, on loopback.

Usage: python -m bench.run [--size 2G] [--reps 5] [--workdir var/bench] [--sections main,...]
    [--cases tls|NAME,...] [--fanout-agents 8] [--fanout-size 1G]
"""

import argparse
import concurrent.futures
import hashlib
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from tests.support.metalink import meta4
from tests.support.processes import free_port

from bench import pools
from bench.fanout import fanout_section
from bench.origins import Origin, PythonOrigin, Tls
from bench.stack import Stack, start_stack
from kvmcloud.protocol.agent_messages import PoolSpec

MIB = 1024 * 1024
IMAGE = "image.raw"
FANOUT_IMAGE = "fanout.raw"
SLOW_MIRROR_BYTES_S = 50 * 1000 * 1000
CONCURRENT_PREPARES = 20
PREPARE_TIMEOUT_S = 900.0
SECTIONS = ("main", "prepares", "interrupted", "metalink", "pools", "fanout")
# --cases tls: the rows of the TLS bulk-path targets (issue 19), side by side.
TLS_CASES = (
    "kvmcloud sha256",
    "kvmcloud sha256 https",
    "curl -o f https",
    "hashlib sha256 (hash limit)",
)


@dataclass
class Row:
    """One measured case: its wall times, one per repetition."""

    name: str
    run: Callable[[], float]
    times: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def parse_size(value: str) -> int:
    match = re.fullmatch(r"(\d+)([KMG]?)i?B?", value.strip(), re.IGNORECASE)
    if match is None:
        raise argparse.ArgumentTypeError(f"size like 2G, 512M or a byte count, not {value!r}")
    number, unit = int(match.group(1)), match.group(2).upper()
    size = number * {"": 1, "K": 1024, "M": MIB, "G": 1024 * MIB}[unit]
    if size <= 0 or size % MIB:
        raise argparse.ArgumentTypeError("the size must be a positive whole number of MiB")
    return size


def timed(argv: str, *, cwd: Path | None = None) -> float:
    began = time.perf_counter()
    subprocess.run(["bash", "-c", argv], check=True, cwd=cwd)
    return time.perf_counter() - began


def prepare_image(path: Path, size: int) -> None:
    if path.exists() and path.stat().st_size == size:
        print(f"reusing {path} ({size} bytes of random data)")
        return
    print(f"writing {size} bytes of random data to {path}")
    with path.open("wb") as image:
        for _ in range(size // (4 * MIB)):
            image.write(os.urandom(4 * MIB))
        if size % (4 * MIB):
            image.write(os.urandom(size % (4 * MIB)))


def parse_cases(value: str) -> tuple[str, ...]:
    if value == "tls":
        return TLS_CASES
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError("--cases takes case names separated by commas, or tls")
    return names


def hash_file(path: Path, algorithm: str) -> tuple[str, float]:
    """Hash ``path`` with hashlib from the page cache: the hashing limit."""
    buffer = bytearray(4 * MIB)
    view = memoryview(buffer)
    began = time.perf_counter()
    digest = hashlib.new(algorithm)
    with path.open("rb", buffering=0) as source:
        # Bounded by the file's size.
        while count := source.readinto(buffer):
            digest.update(view[:count])
    return digest.hexdigest(), time.perf_counter() - began


class Bench:
    """Everything one run needs: the image, the origin, the stack, the output directory."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.size: int = args.size
        self.reps: int = args.reps
        self.fanout_agents: int = args.fanout_agents
        self.fanout_size: int = args.fanout_size
        self.work: Path = args.workdir.resolve()
        self.root = self.work / "origin"
        self.pool: Path = self.work / "pool"
        self.out = self.pool / "baseline"
        self.image = self.root / IMAGE
        self.sha256 = ""
        self.md5 = ""
        self.cases: tuple[str, ...] | None = args.cases
        self.origin: Origin | None = None
        self.stack: Stack | None = None

    # --- the cases --------------------------------------------------------------------------

    def engine(self, url: str, checksum: str, *, metalink: bool = False) -> float:
        assert self.stack is not None
        name = f"bench-{uuid.uuid4().hex[:12]}.raw"
        began = time.perf_counter()
        result = self.stack.direct_download(url, checksum, name, metalink=metalink)
        elapsed = time.perf_counter() - began
        Path(result["install_path"]).unlink()
        return elapsed

    def shell(self, command: str) -> float:
        elapsed = timed(command, cwd=self.out)
        for leftover in self.out.iterdir():
            leftover.unlink()
        return elapsed

    def rows(self) -> dict[str, Row]:
        assert self.origin is not None
        http, https = self.origin.url(IMAGE), self.origin.url(IMAGE, https=True)
        ca = shlex.quote(str(self.origin.tls.ca_file))
        count = self.size // MIB
        sha = f"{{SHA-256}}{self.sha256}"
        md5 = f"{{MD5}}{self.md5}"
        aria = (
            "aria2c -q --allow-overwrite=true --auto-file-renaming=false "
            "--file-allocation=falloc -o f"
        )
        cases: list[tuple[str, Callable[[], float]]] = [
            ("kvmcloud sha256", lambda: self.engine(http, sha)),
            ("kvmcloud md5", lambda: self.engine(http, md5)),
            ("kvmcloud sha256 https", lambda: self.engine(https, sha)),
            ("curl -o f", lambda: self.shell(f"curl -sS -o f {http}")),
            ("curl -o f https", lambda: self.shell(f"curl -sS --cacert {ca} -o f {https}")),
            (
                "curl -o f && sha256sum f",
                lambda: self.shell(f"curl -sS -o f {http} && sha256sum f >/dev/null"),
            ),
            (
                "curl -o f && openssl dgst -sha256 f",
                lambda: self.shell(f"curl -sS -o f {http} && openssl dgst -sha256 f >/dev/null"),
            ),
            (
                "aria2c -x1 --checksum=sha-256",
                lambda: self.shell(f"{aria} -x1 -s1 --checksum=sha-256={self.sha256} {http}"),
            ),
            (
                "aria2c -x8 --checksum=sha-256",
                lambda: self.shell(f"{aria} -x8 -s8 --checksum=sha-256={self.sha256} {http}"),
            ),
            ("curl -o /dev/null", lambda: timed(f"curl -sS -o /dev/null {http}")),
            (
                "dd conv=fsync (disk limit)",
                lambda: self.shell(
                    f"dd if=/dev/zero of=f bs=1M count={count} conv=fsync status=none"
                ),
            ),
            ("hashlib sha256 (hash limit)", lambda: hash_file(self.image, "sha256")[1]),
            ("hashlib md5 (hash limit)", lambda: hash_file(self.image, "md5")[1]),
        ]
        unknown = set(self.cases or ()) - {name for name, _ in cases}
        if unknown:
            raise SystemExit(f"--cases: no case named {', '.join(sorted(unknown))}")
        chosen = [(name, run) for name, run in cases if self.cases is None or name in self.cases]
        return {name: Row(name, run) for name, run in chosen}

    # --- the sections -----------------------------------------------------------------------

    def main_table(self) -> dict[str, Row]:
        rows = self.rows()
        order = list(rows.values())
        print(f"\n== {len(order)} cases x {self.reps} repetitions, interleaved ==", flush=True)
        for name in ("kvmcloud sha256", "curl -o f"):  # warm-up, not counted
            if name in rows:
                rows[name].run()
        for rep in range(self.reps):
            # Rotated each repetition, so slow drift of the machine spreads over every case.
            for row in order[rep % len(order) :] + order[: rep % len(order)]:
                row.times.append(row.run())
            print(f"  repetition {rep + 1}/{self.reps} done", flush=True)
        return rows

    def concurrent_prepares(self) -> dict[str, Any]:
        assert self.stack is not None and self.origin is not None
        api, stack = self.stack.api, self.stack
        print(f"\n== {CONCURRENT_PREPARES} concurrent prepares of one template ==", flush=True)

        def register(name: str) -> str:
            template = api.registerTemplate(
                name=name,
                displaytext=name,
                url=self.origin_url(f"{IMAGE}?t={name}"),
                format="RAW",
                hypervisor="KVM",
                zoneid=stack.zone_id,
                directdownload=True,
                checksum=f"{{SHA-256}}{self.sha256}",
            )["template"][0]
            return str(template["id"])

        def prepare(template_id: str) -> str | None:
            try:
                api.prepareTemplate(
                    templateid=template_id, zoneid=stack.zone_id, storageid=stack.pool_id
                )
            except Exception as exc:  # the API's answer is the result, not a crash
                return str(exc)
            return None

        def wait_ready(template_id: str) -> None:
            engine = create_engine(stack.database_url)
            deadline = time.monotonic() + PREPARE_TIMEOUT_S
            try:
                # Bounded by the deadline.
                while time.monotonic() < deadline:
                    with engine.connect() as conn:
                        states = [
                            row[0]
                            for row in conn.execute(
                                text(
                                    "select r.download_state from template_spool_ref r join "
                                    "vm_template t on t.id = r.template_id where t.uuid = :id"
                                ),
                                {"id": template_id},
                            )
                        ]
                    if states and all(state == "DOWNLOADED" for state in states):
                        return
                    if "DOWNLOAD_ERROR" in states:
                        raise RuntimeError(f"prepare of {template_id} failed")
                    time.sleep(0.02)
                raise TimeoutError(f"template {template_id} was not ready in time")
            finally:
                engine.dispose()

        def one_prepare(rep: int) -> float:
            single = register(f"bench-single-{rep}")
            began = time.perf_counter()
            prepare(single)
            wait_ready(single)
            return time.perf_counter() - began

        origin = self.origin

        def twenty_prepares(rep: int) -> tuple[float, list[str], int, int]:
            name = f"bench-twenty-{rep}"
            many = register(name)
            before = len(origin.transfers())
            began = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(CONCURRENT_PREPARES) as executor:
                errors = [e for e in executor.map(prepare, [many] * CONCURRENT_PREPARES) if e]
            wait_ready(many)
            elapsed = time.perf_counter() - began
            gets = [
                row
                for row in origin.transfers()[before:]
                if f"t={name}" in row.uri and row.body_bytes > 0
            ]
            return elapsed, errors, len(gets), sum(row.body_bytes for row in gets)

        return self._prepare_rounds(one_prepare, twenty_prepares)

    def _prepare_rounds(
        self,
        one_prepare: Callable[[int], float],
        twenty_prepares: Callable[[int], tuple[float, list[str], int, int]],
    ) -> dict[str, Any]:
        # One round per repetition, each with templates not yet on the pool; the order of
        # the two alternates so that drift of the machine spreads over both.
        ones: list[float] = []
        twenties: list[float] = []
        errors: list[str] = []
        transfers = sent = 0
        for rep in range(self.reps):
            if rep % 2:
                twenty, failed, gets, size = twenty_prepares(rep)
                one = one_prepare(rep)
            else:
                one = one_prepare(rep)
                twenty, failed, gets, size = twenty_prepares(rep)
            ones.append(one)
            twenties.append(twenty)
            errors += failed
            transfers = max(transfers, gets)
            sent = max(sent, size)
            for published in self.pool.glob("*"):
                if published.is_file():
                    published.unlink()
        return {
            "one": statistics.median(ones),
            "twenty": statistics.median(twenties),
            "one_range": f"{min(ones):.2f}-{max(ones):.2f}",
            "twenty_range": f"{min(twenties):.2f}-{max(twenties):.2f}",
            "ratio": statistics.median(t / o for t, o in zip(twenties, ones, strict=True)),
            "transfers": float(transfers),
            "bytes": float(sent),
            "errors": float(len(errors)),
            "error": errors[0] if errors else "",
        }

    def origin_url(self, path: str) -> str:
        assert self.origin is not None
        return self.origin.url(path)

    def interrupted(self) -> dict[str, float]:
        assert self.stack is not None
        print("\n== interrupted transfer (the origin closes the connection at half) ==", flush=True)
        server = PythonOrigin(self.root)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            uri = f"/{IMAGE}"
            server.break_after[uri] = self.size // 2
            url = f"http://127.0.0.1:{server.port}{uri}"
            elapsed = self.engine(url, f"{{SHA-256}}{self.sha256}")
            sent = server.bytes_sent(uri)
            gets = len(server.log)
        finally:
            server.shutdown()
            server.server_close()
        return {"seconds": elapsed, "bytes": float(sent), "gets": float(gets)}

    def metalink(self) -> dict[str, Row]:
        assert self.origin is not None
        print("\n== Metalink: a dead, a slow and a fast mirror ==", flush=True)
        dead = f"http://127.0.0.1:{free_port()}/{IMAGE}"
        slow = self.origin.url(IMAGE, port=self.origin.slow_port)
        fast = self.origin.url(IMAGE)
        document = meta4(
            [(dead, 1), (slow, 2), (fast, 3)],
            size=self.size,
            hashes={"sha-256": self.sha256},
            name=IMAGE,
        )
        (self.root / "image.meta4").write_bytes(document)
        metalink_url = self.origin.url("image.meta4")
        sha = f"{{SHA-256}}{self.sha256}"
        aria = (
            "aria2c -q --allow-overwrite=true --auto-file-renaming=false "
            "--file-allocation=falloc --follow-metalink=mem"
        )
        rows = {
            "kvmcloud metalink": Row(
                "kvmcloud metalink", lambda: self.engine(metalink_url, sha, metalink=True)
            ),
            "kvmcloud best mirror": Row("kvmcloud best mirror", lambda: self.engine(fast, sha)),
            "aria2c metalink": Row("aria2c metalink", lambda: self.shell(f"{aria} {metalink_url}")),
        }
        order = list(rows.values())
        for rep in range(self.reps):
            for row in order[rep % len(order) :] + order[: rep % len(order)]:
                row.times.append(row.run())
        return rows

    def agent_peak_rss(self) -> int:
        assert self.stack is not None
        status = Path(f"/proc/{self.stack.agent.pid}/status").read_text()
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        return int(match.group(1)) * 1024 if match else -1

    # --- the whole run ----------------------------------------------------------------------

    def run(self, sections: set[str]) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self.root.mkdir(exist_ok=True)
        if self.pool.exists():
            shutil.rmtree(self.pool)
        self.pool.mkdir()
        self.out.mkdir()
        prepare_image(self.image, self.size)
        self.sha256, _ = hash_file(self.image, "sha256")
        self.md5, _ = hash_file(self.image, "md5")
        tls = Tls.create(self.work / "tls")
        cert_dir = self.work / "agent-certs"
        cert_dir.mkdir(exist_ok=True)
        shutil.copy(tls.ca_file, cert_dir / "bench-ca.pem")
        self.origin = Origin(self.root, tls, SLOW_MIRROR_BYTES_S).start(self.work)
        try:
            self.stack = start_stack(self.work, cert_dir)
            try:
                self.report(sections)
            finally:
                self.stack.stop()
        finally:
            self.origin.stop()

    def report(self, sections: set[str]) -> None:
        assert self.origin is not None
        print(
            f"\nimage: {self.size} bytes ({self.size / (1024 * MIB):g} GiB) of random data; "
            f"origin: {self.origin.kind} on 127.0.0.1; {os.cpu_count()} CPUs; "
            f"load average before: {os.getloadavg()[0]:.2f}"
        )
        if "main" in sections:
            self.print_main(self.main_table())
        if "prepares" in sections:
            self.print_prepares()
        if "interrupted" in sections:
            self.print_interrupted()
        if "metalink" in sections:
            self.print_metalink()
        if "pools" in sections:
            self.print_pools()
        if "fanout" in sections:
            # A file of its own size: N agents each write a copy, three cases over.
            image = self.root / FANOUT_IMAGE
            prepare_image(image, self.fanout_size)
            fanout_section(
                work=self.work / "fanout",
                origin=self.origin,
                image=FANOUT_IMAGE,
                sha256=hash_file(image, "sha256")[0],
                size=self.fanout_size,
                agents=self.fanout_agents,
            )
            print(f"  load average after: {os.getloadavg()[0]:.2f}")
        rss = self.agent_peak_rss()
        print(f"\nagent peak RSS (VmHWM over the whole run): {rss / MIB:.0f} MiB [< 150]")

    def print_main(self, rows: dict[str, Row]) -> None:
        size_mb = self.size / 1e6
        print(f"\n{'case':40} {'median s':>9} {'min-max s':>15} {'MB/s':>7}")
        for row in rows.values():
            spread = f"{min(row.times):.2f}-{max(row.times):.2f}"
            print(f"{row.name:40} {row.median:9.3f} {spread:>15} {size_mb / row.median:7.0f}")
        print(f"load average after: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
        print("\nratios (median of the per-repetition ratios; target in brackets)")
        for ours, base, target in (
            ("kvmcloud sha256", "curl -o f", "<= 0.5"),
            ("kvmcloud sha256", "curl -o f && sha256sum f", "<= 0.25"),
            ("kvmcloud sha256", "hashlib sha256 (hash limit)", "<= 1.4"),
            ("kvmcloud sha256 https", "curl -o f https", "<= 1.0"),
            ("kvmcloud sha256 https", "kvmcloud sha256", "<= 1.3"),
            ("kvmcloud sha256", "curl -o f && openssl dgst -sha256 f", ""),
            ("kvmcloud sha256", "aria2c -x1 --checksum=sha-256", ""),
            ("kvmcloud sha256", "aria2c -x8 --checksum=sha-256", ""),
            ("kvmcloud sha256", "curl -o /dev/null", ""),
            ("kvmcloud sha256", "dd conv=fsync (disk limit)", ""),
            ("kvmcloud md5", "hashlib md5 (hash limit)", ""),
            ("kvmcloud md5", "curl -o f", ""),
        ):
            if ours not in rows or base not in rows:
                continue  # left out with --cases
            ratio = paired_ratio(rows[ours], rows[base])
            print(f"  {ours} / {base}: {ratio:.2f}" + (f"  [{target}]" if target else ""))

    def print_prepares(self) -> None:
        prepares = self.concurrent_prepares()
        print(
            f"  one prepare: {prepares['one']:.3f} s ({prepares['one_range']}); "
            f"{CONCURRENT_PREPARES} concurrent: {prepares['twenty']:.3f} s "
            f"({prepares['twenty_range']}); ratio {prepares['ratio']:.2f} [<= 1.2] (medians "
            f"of {self.reps} rounds); transfers at the origin per round: at most "
            f"{prepares['transfers']:.0f} [1], {prepares['bytes'] / self.size:.2f} x the file"
        )
        if prepares["errors"]:
            print(
                f"  {prepares['errors']:.0f} of the {CONCURRENT_PREPARES} prepareTemplate "
                f"calls were answered with an error, e.g. {prepares['error'][:160]}"
            )

    def print_interrupted(self) -> None:
        interrupted = self.interrupted()
        print(
            f"  {interrupted['gets']:.0f} GETs, {interrupted['bytes']:.0f} bytes sent for a "
            f"{self.size}-byte file: {interrupted['bytes'] / self.size:.3f} x [<= 1.05]; "
            f"{interrupted['seconds']:.3f} s"
        )

    def print_metalink(self) -> None:
        metalink = self.metalink()
        for row in metalink.values():
            spread = f"{min(row.times):.2f}-{max(row.times):.2f}"
            print(f"  {row.name:38} {row.median:9.3f} {spread:>15}")
        ours = metalink["kvmcloud metalink"]
        print(
            f"  kvmcloud metalink / kvmcloud best mirror: "
            f"{paired_ratio(ours, metalink['kvmcloud best mirror']):.2f} [<= 1.2]"
        )
        print(
            f"  kvmcloud metalink / aria2c metalink: "
            f"{paired_ratio(ours, metalink['aria2c metalink']):.2f} [< 1]"
        )

    def print_pools(self) -> None:
        assert self.origin is not None
        print("\n== direct download into shared pools, against CloudStack's way ==", flush=True)

        def engine(pool: PoolSpec, name: str) -> float:
            assert self.stack is not None
            began = time.perf_counter()
            self.stack.direct_download(
                self.origin_url(IMAGE), f"{{SHA-256}}{self.sha256}", name, pool=pool
            )
            return time.perf_counter() - began

        context = pools.Context(
            image_url=self.origin_url(IMAGE),
            sha256=self.sha256,
            size=self.size,
            reps=self.reps,
            spool=self.out,
            engine=engine,
        )
        pools.nfs_section(context)
        pools.rbd_section(context)


def paired_ratio(ours: Row, base: Row) -> float:
    return statistics.median(a / b for a, b in zip(ours.times, base.times, strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=parse_size("2G"))
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path("var/bench"))
    parser.add_argument(
        "--fanout-agents",
        type=int,
        default=8,
        help="agents (hosts, each with a host-local pool) in the fanout section",
    )
    parser.add_argument(
        "--fanout-size",
        type=parse_size,
        default=parse_size("1G"),
        help="the template's size in the fanout section (the issue's case: 1G)",
    )
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)",
    )
    parser.add_argument(
        "--cases",
        type=parse_cases,
        default=None,
        help="main section: comma-separated case names, or 'tls' for "
        + ", ".join(TLS_CASES)
        + " (default: every case)",
    )
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    if not sections <= set(SECTIONS):
        parser.error(f"--sections takes {','.join(SECTIONS)}")
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    if args.fanout_agents < 2:
        parser.error("--fanout-agents must be at least 2")
    for tool in ("curl", "aria2c", "openssl", "sha256sum", "dd", "qemu-img"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not installed (make bench installs it)")
    print(f"{sys.executable} -m bench.run {' '.join(sys.argv[1:])}")
    Bench(args).run(sections)
    return 0


if __name__ == "__main__":
    sys.exit(main())
