"""make bench-scale at tiny sizes on SQLite: the table has every row, each with its figures."""

import re
from pathlib import Path

import pytest
from bench import scale

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("libvirt_run_lock")]

NUMBER = re.compile(r"\d")


@pytest.mark.timeout(600)
def test_bench_scale_prints_a_table_of_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--databases", "sqlite", "--templates", "300", "--hosts", "8"]
    argv += ["--ping-interval", "2", "--duration", "4", "--reps", "3"]
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
