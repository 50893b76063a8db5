"""The acceptance suite (kvmcloud-integration-tests), run from the source tree on a live stack.

The packaged command is run by tests/packaging; here the same suite runs as
``python -m kvmcloud_acceptance`` against the e2e stack, so regular CI covers it.
"""

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Stack, running_stack
from tests.support.libvirt import libvirt_or_skip

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def suite_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with libvirt_or_skip():
        workdir = tmp_path_factory.mktemp("e2e-acceptance")
        env = {"KVMCLOUD_AGENT_CONSOLE_DIR": str(workdir / "consoles")}
        with running_stack(f"sqlite:///{workdir}/kvmcloud.db", workdir, env) as stack:
            stack.api.updateConfiguration(name="instance.name", value=f"at-{secrets.token_hex(3)}")
            yield stack


def test_the_acceptance_suite_passes_and_leaves_the_cloud_as_it_found_it(
    suite_stack: Stack,
) -> None:
    api = suite_stack.api
    bystander = api.createServiceOffering(
        name="bystander", displaytext="not the suite's", cpunumber=1, cpuspeed=500, memory=128
    )["serviceoffering"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    command = [
        sys.executable, "-m", "kvmcloud_acceptance", "-v",
        "--endpoint", suite_stack.endpoint,
        "--api-key", suite_stack.keys.api_key, "--secret-key", suite_stack.keys.secret_key,
        "--zone", "zone1", "--serve-image",
    ]  # fmt: skip

    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)

    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "skipped" not in done.stdout.splitlines()[-1], done.stdout[-3000:]
    assert "test_a_vm_is_deployed_stopped_started_destroyed_and_expunged PASSED" in done.stdout
    (still,) = api.listServiceOfferings(id=bystander["id"])["serviceoffering"]
    assert still["name"] == "bystander"
    assert not [
        o for o in api.listServiceOfferings().get("serviceoffering", [])
        if o["name"].startswith("kat")
    ]  # fmt: skip
