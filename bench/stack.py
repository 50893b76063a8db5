"""A real kvmcloud for the benchmark: server and agent processes, one zone, host and pool."""

import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cs import CloudStack
from tests.support.egress import ALLOW_SETTING, LOOPBACK, LOOPBACK_RULES
from tests.support.processes import (
    ManagedProcess,
    free_port,
    init_server,
    start_agent,
    start_server,
)
from tests.support.trust import TestTrust, agent_token

from kvmcloud.agent.enrollment import load_enrollment
from kvmcloud.protocol.agent_messages import (
    CommandEnvelope,
    CommandState,
    CommandStatus,
    DirectDownloadCommand,
    PoolSpec,
    PoolType,
    Timeouts,
    command_to_json,
    from_json,
)

COMMAND_TIMEOUT_S = 900.0
POLL_WAIT_S = 30.0


class CommandFailedError(Exception):
    """The agent answered the command with an error."""


@dataclass
class Stack:
    """A running server and agent; the agent can also be sent commands directly."""

    api: CloudStack
    server: ManagedProcess
    agent: ManagedProcess
    agent_url: str
    host_key: str
    zone_id: str
    pool_id: str
    pool_path: Path
    database_url: str
    # The server's CA and certificate: the agent accepts commands only over mutual TLS.
    trust: TestTrust

    def direct_download(
        self,
        url: str,
        checksum: str | None,
        install_name: str,
        *,
        metalink: bool = False,
        pool: PoolSpec | None = None,
    ) -> dict[str, Any]:
        """Send DirectDownload to the agent and wait for its answer (the real command path).

        The file goes to ``pool``, by default the stack's SharedMountPoint pool.
        """
        command = DirectDownloadCommand(
            template_uuid=str(uuid.uuid4()),
            url=url,
            format="RAW",
            pool=pool
            or PoolSpec(
                uuid=self.pool_id, type=PoolType.SHARED_MOUNT_POINT, path=str(self.pool_path)
            ),
            install_name=install_name,
            checksum=checksum,
            timeouts=Timeouts(
                connect_s=5.0, read_s=30.0, request_s=10.0, total_s=COMMAND_TIMEOUT_S
            ),
            metalink=metalink,
            # The origin listens on loopback, which the egress policy denies by default.
            egress=LOOPBACK_RULES,
        )
        command_id = uuid.uuid4().hex
        headers = {"Authorization": f"Bearer {self.host_key}"}
        body = command_to_json(CommandEnvelope(id=command_id, command=command))
        with self.trust.client(
            base_url=self.agent_url, headers=headers, timeout=POLL_WAIT_S + 30
        ) as client:
            response = client.post("/commands", content=body)
            response.raise_for_status()
            status = from_json(CommandStatus, response.text)
            deadline = time.monotonic() + COMMAND_TIMEOUT_S
            # Bounded by the deadline; each long poll waits at most POLL_WAIT_S.
            while status.state is not CommandState.DONE:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"DirectDownload {command_id} did not finish")
                response = client.get(f"/commands/{command_id}", params={"wait_s": POLL_WAIT_S})
                response.raise_for_status()
                status = from_json(CommandStatus, response.text)
        answer = status.answer
        if answer is None or not answer.ok:
            raise CommandFailedError(f"DirectDownload of {url} failed: {answer}")
        return {"install_path": getattr(answer.result, "install_path", "")}

    def stop(self) -> None:
        for process in (self.agent, self.server):
            try:
                process.stop()
            except Exception as exc:  # keep stopping the others
                print(f"could not stop {process.name}: {exc}")


def start_stack(work: Path, cert_dir: Path) -> Stack:
    """Start server and agent (SQLite), build zone, pod, cluster, host and a pool in ``work``."""
    pool_path = work / "pool"
    pool_path.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite:///{work}/kvmcloud.db"
    (work / "kvmcloud.db").unlink(missing_ok=True)
    config_dir = work / "server-config"
    shutil.rmtree(config_dir, ignore_errors=True)
    shutil.rmtree(work / "agent-state", ignore_errors=True)
    keys = init_server(database_url, work / "init.log", config_dir)
    server_port, agent_port = free_port(), free_port()
    state_dir = work / "agent-state"
    server = start_server(database_url, server_port, work / "server.log", config_dir)
    try:
        agent = start_agent(
            agent_port,
            state_dir,
            work / "agent.log",
            {"KVMCLOUD_AGENT_CERT_DIR": str(cert_dir), "KVMCLOUD_AGENT_LOG_LEVEL": "WARNING"},
        )
    except BaseException:
        server.stop()
        raise
    api = CloudStack(
        endpoint=f"http://127.0.0.1:{server_port}/client/api",
        key=keys.api_key,
        secret=keys.secret_key,
        fetch_result=True,
        poll_interval=0.1,
        job_timeout=int(COMMAND_TIMEOUT_S),
    )
    try:
        zone = api.createZone(name="bench", networktype="Advanced", dns1="127.0.0.53")["zone"]
        # The origin listens on loopback, which the egress policy denies by default.
        api.updateConfiguration(name=ALLOW_SETTING, value=LOOPBACK, zoneid=zone["id"])
        pod = api.createPod(name="pod1", zoneid=zone["id"])["pod"]
        cluster = api.addCluster(
            clustername="c1", zoneid=zone["id"], podid=pod["id"], hypervisor="KVM"
        )["cluster"][0]
        api.addHost(
            zoneid=zone["id"],
            podid=pod["id"],
            clusterid=cluster["id"],
            hypervisor="KVM",
            url=f"http://127.0.0.1:{agent_port}",
            username="root",
            password=agent_token(state_dir),
        )
        pool = api.createStoragePool(
            name="pool1",
            zoneid=zone["id"],
            clusterid=cluster["id"],
            url=f"SharedMountPoint://localhost{pool_path}",
        )["storagepool"]
        enrollment = load_enrollment(state_dir)
        if enrollment is None:
            raise RuntimeError("the agent did not save its enrollment")
    except BaseException:
        agent.stop()
        server.stop()
        raise
    return Stack(
        api=api,
        server=server,
        agent=agent,
        agent_url=f"https://127.0.0.1:{agent_port}",
        trust=TestTrust.of(config_dir / "pki"),
        host_key=enrollment.host_key,
        zone_id=zone["id"],
        pool_id=pool["id"],
        pool_path=pool_path,
        database_url=database_url,
    )
