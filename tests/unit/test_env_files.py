"""env_files: setting values keeps every other line; unsafe values are refused."""

import pytest

from kvmcloud import env_files


def test_a_value_replaces_its_line_and_keeps_comments_and_other_settings() -> None:
    text = "# settings\nKVMCLOUD_A=1\nKVMCLOUD_B=two\nKVMCLOUD_A=3\n"

    result = env_files.set_values(text, {"KVMCLOUD_A": "new"})

    assert result == "# settings\nKVMCLOUD_A=new\nKVMCLOUD_B=two\n"


def test_a_commented_out_setting_is_replaced_else_the_value_is_appended() -> None:
    text = "#KVMCLOUD_PORT=8080\n# KVMCLOUD_HOST=0.0.0.0\n"

    result = env_files.set_values(text, {"KVMCLOUD_HOST": "10.0.0.1", "KVMCLOUD_NEW": "x"})

    assert result == "#KVMCLOUD_PORT=8080\nKVMCLOUD_HOST=10.0.0.1\nKVMCLOUD_NEW=x\n"


def test_setting_the_same_values_twice_changes_nothing() -> None:
    once = env_files.set_values("", {"KVMCLOUD_URL": "sqlite:////var/lib/kvmcloud/k.db"})

    assert env_files.set_values(once, {"KVMCLOUD_URL": "sqlite:////var/lib/kvmcloud/k.db"}) == once


def test_parse_reads_assignments_skips_comments_and_unquotes() -> None:
    text = "# KVMCLOUD_X=1\nKVMCLOUD_Y='a b'\n  KVMCLOUD_Z=3\nnot a line\nKVMCLOUD_Z=4\n"

    assert env_files.parse(text) == {"KVMCLOUD_Y": "a b", "KVMCLOUD_Z": "4"}


@pytest.mark.parametrize("value", ["a b", "it's", 'say "x"', "$HOME", "a\nb", "x;y", "a\\b"])
def test_values_a_shell_or_systemd_would_read_differently_are_refused(value: str) -> None:
    with pytest.raises(env_files.EnvFileError, match="KVMCLOUD_V"):
        env_files.set_values("", {"KVMCLOUD_V": value})


def test_a_name_that_is_not_a_variable_is_refused() -> None:
    with pytest.raises(env_files.EnvFileError, match="not a variable name"):
        env_files.set_values("", {"kvmcloud-x": "1"})
