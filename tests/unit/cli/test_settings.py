import pytest

from kvmcloud.cli.settings import DEFAULT_URL, CliSettings, SettingsError


def test_from_env_reads_the_kvmcloud_variables() -> None:
    settings = CliSettings.from_env(
        {
            "KVMCLOUD_URL": "http://h:9/client/api",
            "KVMCLOUD_API_KEY": "key",
            "KVMCLOUD_SECRET_KEY": "secret",
        }
    )

    assert settings == CliSettings(url="http://h:9/client/api", api_key="key", secret_key="secret")


def test_url_defaults_to_the_local_server() -> None:
    settings = CliSettings.from_env({"KVMCLOUD_API_KEY": "k", "KVMCLOUD_SECRET_KEY": "s"})

    assert settings.url == DEFAULT_URL == "http://127.0.0.1:8080/client/api"


@pytest.mark.parametrize(
    ("environ", "missing"),
    [
        ({"KVMCLOUD_SECRET_KEY": "s"}, "KVMCLOUD_API_KEY"),
        ({"KVMCLOUD_API_KEY": "k", "KVMCLOUD_SECRET_KEY": ""}, "KVMCLOUD_SECRET_KEY"),
    ],
)
def test_missing_key_names_the_variable(environ: dict[str, str], missing: str) -> None:
    with pytest.raises(SettingsError, match=missing):
        CliSettings.from_env(environ)


def test_repr_hides_the_secret() -> None:
    settings = CliSettings(api_key="k", secret_key="very-secret")

    assert "very-secret" not in repr(settings)
