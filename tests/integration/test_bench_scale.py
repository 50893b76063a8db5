"""make bench-scale at tiny sizes on SQLite: the table has every row, each with its figures."""

import re
import subprocess
from pathlib import Path

import pytest
from bench import scale

from tests.support.libvirt import URI, libvirt_or_skip

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("libvirt_run_lock")]

NUMBER = re.compile(r"\d")


def virsh_list() -> list[str]:
    """Names of all domains libvirt knows."""
    done = subprocess.run(
        ["virsh", "-c", URI, "list", "--all", "--name"], capture_output=True, text=True, check=False
    )
    return done.stdout.split()


@pytest.mark.timeout(600)
def test_bench_scale_prints_a_table_of_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--databases", "sqlite", "--templates", "300", "--hosts", "8"]
    argv += ["--ping-interval", "2", "--duration", "4", "--reps", "3", "--deploy-reps", "0"]
    assert scale.main([*argv, "--workdir", str(tmp_path)]) == 0

    table = capsys.readouterr().out.split("| database | measure | value |", 1)[1]
    rows = {
        case: value
        for database, case, value in (
            [cell.strip() for cell in line.strip("|").split("|")]
            for line in table.splitlines()
            if line.startswith("| SQLite |")
        )
    }
    expected = [
        "load to 300 templates (bulk, s)",
        "300 templates: listTemplates all pagesize=500",
        "300 templates: listTemplates self pagesize=500",
        "300 templates: listTemplates all, no pagesize",
        "300 templates: listZones",
        "8 hosts: enrolled by addHost",
        "8 hosts: beats/s (offered 4)",
        "8 hosts: server CPU per beat",
        "8 hosts: held Up without a flap",
        "8 hosts: listZones p50 under beats",
    ]
    for case in expected:
        assert NUMBER.search(rows.get(case, "")), f"no figure for {case!r} in {rows}"
    assert rows["8 hosts: enrolled by addHost"].startswith("8 in ")
    assert rows["8 hosts: held Up without a flap"].startswith("8 of 8 ")
    assert "p50" in rows["300 templates: listTemplates all pagesize=500"]


@pytest.mark.timeout(600)
def test_bench_scale_times_a_cached_deploy_against_bare_libvirt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--databases", "", "--deploy-reps", "1", "--workdir", str(tmp_path)]
    with libvirt_or_skip():
        assert scale.main(argv) == 0

    table = capsys.readouterr().out.split("| database | measure | value |", 1)[1]
    rows = {
        case: value
        for database, case, value in (
            [cell.strip() for cell in line.strip("|").split("|")]
            for line in table.splitlines()
            if line.startswith("| libvirt |")
        )
    }
    ours = float(rows["deployVirtualMachine, cached template (median of 1, s)"])
    floor = float(rows["qemu-img -b + virsh define + start (median of 1, s)"])
    assert floor > 0 and ours > 0, rows
    assert float(rows["deploy / floor (target <= 1.3)"].rstrip("x")) > 0, rows
    # Every domain of the run is gone (their names all carry "bench").
    assert [name for name in virsh_list() if "bench" in name] == []
