"""ServerSettings: the API thread count and the database pool sized from it."""

import pytest

from kvmcloud.server.settings import ServerSettings, SettingsError


def test_the_pool_holds_a_connection_per_thread() -> None:
    settings = ServerSettings.from_env({"KVMCLOUD_API_THREADS": "16", "KVMCLOUD_JOB_WORKERS": "2"})
    assert settings.api_threads == 16
    # API threads, job runners, lease keeper, scheduler, last-seen flusher.
    assert settings.database_connections == 16 + 2 + 3
    assert ServerSettings.from_env({}).database_connections == 40 + 4 + 3


def test_a_bad_thread_count_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="KVMCLOUD_API_THREADS"):
        ServerSettings.from_env({"KVMCLOUD_API_THREADS": "0"})
