"""Server CPU per agent heartbeat: N simulated hosts posting beats to the real agent routes.

Usage: python -m bench.heartbeat_cost [--hosts 200] [--beats 4000] [--threads 4]
                                       [--src DIR] [--database-url URL | --postgres]

A child process runs the server (``--src`` chooses whose code, e.g. another worktree's
``src`` to compare before/after): it enrols ``--hosts`` fake hosts through addHost, starts
its background threads (state sweeper, last-seen flusher) and serves the agent routes
with uvicorn on loopback, plain HTTP (the TLS handshake cost is left out of both). This
process posts ``--beats`` heartbeats round-robin, as an agent sends them (its domains and
certificates, unchanged), and reads the child's CPU time from /proc. ``--postgres`` runs a
private PostgreSQL for the run (its own CPU is not counted). Not a timed test.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 600.0
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    """Measure (parent) or serve (child, ``--serve DIR``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--beats", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--src", type=Path, default=REPO / "src")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--postgres", action="store_true", help="run a private PostgreSQL")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        _serve(args.serve, args.port, args.hosts, args.database_url)
        return 0
    if args.postgres:
        from tests.support.postgres import PostgresServer

        with PostgresServer() as server:
            args.database_url = server.url
            return _measure(args)
    return _measure(args)


def _measure(args: argparse.Namespace) -> int:
    from tests.support.processes import free_port

    with TemporaryDirectory(prefix="kvmcloud-beats-") as tmp:
        work = Path(tmp)
        port = free_port()
        env = {**os.environ, "PYTHONPATH": f"{args.src.resolve()}:{REPO}"}
        command = [sys.executable, "-m", "bench.heartbeat_cost", "--serve", str(work)]
        command += ["--port", str(port), "--hosts", str(args.hosts)]
        command += ["--database-url", args.database_url]
        child = subprocess.Popen(command, env=env, cwd=REPO)
        try:
            hosts = _wait_ready(work / "hosts.json", child)
            base = f"http://127.0.0.1:{port}/agent/v1/heartbeat"
            _post_beats(base, hosts, len(hosts), 1)  # warm up: one beat per host
            time.sleep(1.0)
            cpu_before, started = cpu_seconds(child.pid), time.monotonic()
            _post_beats(base, hosts, args.beats, args.threads)
            elapsed = time.monotonic() - started
            cpu = cpu_seconds(child.pid) - cpu_before
        finally:
            child.terminate()
            child.wait(timeout=30)
    print(f"code under test:     {args.src}")
    print(f"database:            {args.database_url or 'SQLite (temp file)'}")
    print(f"hosts, beats:        {len(hosts)}, {args.beats} ({args.threads} client threads)")
    print(f"server CPU per beat: {cpu / args.beats * 1000:.2f} ms")
    print(f"beats/s (this run):  {args.beats / elapsed:.0f}")
    print(f"server CPU per s:    {cpu / elapsed:.2f} (cores busy)")
    return 0


def _wait_ready(path: Path, child: subprocess.Popen[bytes]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not path.exists():
        if child.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.2)
    hosts: list[dict[str, Any]] = json.loads(path.read_text())
    return hosts


def _post_beats(url: str, hosts: list[dict[str, Any]], beats: int, threads: int) -> None:
    errors: list[str] = []

    def worker(offset: int) -> None:
        with httpx.Client(timeout=60) as client:
            for index in range(offset, beats, threads):
                host = hosts[index % len(hosts)]
                response = client.post(
                    url,
                    content=host["body"],
                    headers=beat_headers(host["uuid"], host["key"]),
                )
                if response.status_code != 200:
                    errors.append(f"{response.status_code} {response.text[:200]}")
                    return

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    if errors:
        raise RuntimeError(f"heartbeats refused: {errors[0]}")


def beat_headers(host_uuid: str, key: str) -> dict[str, str]:
    """The headers of an agent's heartbeat: its host uuid and key (checked before the body)."""
    return {
        "Authorization": f"Bearer {key}",
        "X-Kvmcloud-Host": host_uuid,
        "Content-Type": "application/json",
    }


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime: fields 14 and 15 of stat(5), counted after the command name.
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def _serve(work: Path, port: int, host_count: int, database_url: str) -> None:
    import dataclasses
    from datetime import UTC, datetime

    import uvicorn
    from starlette.testclient import TestClient
    from tests.fakes import FAKE_TOKEN, FakeAgent, FakeAgentClient
    from tests.integration.server.conftest import ServerHarness

    from kvmcloud.protocol import agent_messages as msg
    from kvmcloud.server import db_migrations
    from kvmcloud.server.accounts.service import ensure_admin
    from kvmcloud.server.agent_pki import AgentPki
    from kvmcloud.server.app import build_services, create_agent_app, create_app
    from kvmcloud.server.configuration.service import seed_definitions
    from kvmcloud.server.db import make_engine
    from kvmcloud.server.sealing.keyfile import ensure_key_file, key_file_path
    from kvmcloud.server.settings import ServerSettings
    from kvmcloud.server.templates.guest_os import seed_guest_os

    url = database_url or f"sqlite:///{work / 'kvmcloud.db'}"
    engine = make_engine(url)
    db_migrations.upgrade(engine)
    engine.dispose()
    settings = ServerSettings(database_url=url, job_workers=1, config_dir=work / "etc")
    ensure_key_file(key_file_path(settings.config_dir))
    AgentPki.init(settings.pki_dir, [settings.agent_host], datetime.now(UTC))
    agents = FakeAgentClient()

    def clock() -> datetime:
        return datetime.now(UTC)

    services = build_services(settings, agents=agents, clock=clock)
    with services.db.transaction() as session:
        seed_definitions(session, clock())
        seed_guest_os(session)
        admin = ensure_admin(session, clock(), services.box)
    api = TestClient(create_app(services, run_background=False))
    harness = ServerHarness(services, api, api, agents, clock, admin)  # type: ignore[arg-type]
    zone = harness.ok("createZone", name="z", networktype="Advanced", dns1="8.8.8.8")["zone"]
    pod = harness.ok("createPod", name="p", zoneid=zone["id"])["pod"]
    cluster = harness.ok(
        "addCluster", clustername="c", zoneid=zone["id"], podid=pod["id"], hypervisor="KVM"
    )["cluster"][0]
    hosts = []
    for number in range(host_count):
        address = f"127.1.{number // 250}.{number % 250 + 1}"
        report = dataclasses.replace(FakeAgent().report, hostname=f"kvm{number}")
        agent = agents.add(f"https://{address}:8252", FakeAgent(report=report))
        host = harness.ok(
            "addHost",
            zoneid=zone["id"],
            podid=pod["id"],
            clusterid=cluster["id"],
            url=f"http://{address}",
            username="root",
            password=FAKE_TOKEN,
            hypervisor="KVM",
        )["host"][0]
        beat = msg.Heartbeat(host_uuid=host["id"], report=report, vm_states={}, certificates={})
        hosts.append({"uuid": host["id"], "key": agent.key, "body": msg.to_json(beat)})
    services.start_background()
    app = create_agent_app(services, require_client_certificate=False)
    (work / "hosts.json").write_text(json.dumps(hosts))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    services.stop_background()


if __name__ == "__main__":
    sys.exit(main())
