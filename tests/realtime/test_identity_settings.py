"""Which identity provider the settings name: the Firebase preset, and development mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from realtime.config import FIREBASE_JWKS_URL, Config, IdentityProvider
from realtime.devmode import DevModeError, for_serving


def test_the_firebase_preset_names_googles_keys_the_projects_issuer_and_audience() -> None:
    config = Config(jwt_firebase_project="my-app-1234")
    assert config.identity_provider == IdentityProvider(
        jwks_url="https://www.googleapis.com/service_accounts/v1/jwk/"
                 "securetoken@system.gserviceaccount.com",
        issuer="https://securetoken.google.com/my-app-1234",
        audience="my-app-1234",
    )


def test_settings_given_beside_the_firebase_preset_win() -> None:
    config = Config(jwt_firebase_project="p", jwt_jwks_url="http://127.0.0.1:1/k",
                    jwt_audience="other")
    assert config.identity_provider == IdentityProvider(
        "http://127.0.0.1:1/k", "https://securetoken.google.com/p", "other")


def test_no_provider_when_none_is_set() -> None:
    assert Config().identity_provider == IdentityProvider("", "", "")
    assert FIREBASE_JWKS_URL.startswith("https://")


def test_a_provider_and_an_api_key_serve_without_development_mode(tmp_path: Path) -> None:
    config = for_serving(Config(data_dir=str(tmp_path), jwt_firebase_project="p",
                                api_key="k"))
    assert config.jwt_secret == "" and not config.dev_mode
    assert not (tmp_path / "dev-secrets.json").exists()


def test_a_provider_without_an_api_key_is_refused_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(DevModeError, match="REALTIME_API_KEY is not"):
        for_serving(Config(data_dir=str(tmp_path), jwt_jwks_url="http://127.0.0.1:1/k"))
