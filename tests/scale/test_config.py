"""``[redis]`` and the PostgreSQL tracker settings reach Rasa's endpoints.yml through the launcher."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from connectors.config import PROJECT_ROOT, RedisSettings, load_settings
from connectors.launcher import lock_store_env, stack_env, tracker_env


def test_one_instance_by_default(monkeypatch):
    monkeypatch.delenv("GOVBOT_REDIS_URL", raising=False)
    settings = load_settings()
    assert settings.redis == RedisSettings() and not settings.redis.enabled
    env = stack_env(settings)
    assert env["GOVBOT_LOCK_STORE"] == "in_memory" and env["GOVBOT_TRACKER_DIALECT"] == "sqlite"


def test_redis_url_switches_rasas_lock_store(monkeypatch):
    monkeypatch.setenv("GOVBOT_REDIS_URL", "redis://:p%40ss@redis-host:6380/3")
    monkeypatch.setenv("GOVBOT_REDIS_KEY_PREFIX", "gov-bot_prod")
    settings = load_settings()
    assert settings.redis == RedisSettings(url="redis://:p%40ss@redis-host:6380/3", key_prefix="gov-bot_prod")
    assert lock_store_env(settings) == {
        "GOVBOT_LOCK_STORE": "redis", "GOVBOT_LOCK_STORE_HOST": "redis-host", "GOVBOT_LOCK_STORE_PORT": "6380",
        "GOVBOT_LOCK_STORE_DB": "3", "GOVBOT_LOCK_STORE_PASSWORD": "p@ss",
        "GOVBOT_LOCK_STORE_PREFIX": "govbotprod",  # Rasa ignores a prefix that is not alphanumeric
    }
    with pytest.raises(ValueError):
        lock_store_env(replace(settings, redis=RedisSettings(url="rediss://redis-host:6380/0")))


def test_postgresql_tracker_with_credentials_from_the_environment(monkeypatch):
    monkeypatch.setenv("GOVBOT_RASA_TRACKER_DIALECT", "postgresql")
    monkeypatch.setenv("GOVBOT_RASA_TRACKER_HOST", "db-host:5432")
    monkeypatch.setenv("GOVBOT_RASA_TRACKER_DB", "govbot")
    monkeypatch.setenv("GOVBOT_RASA_TRACKER_USER", "rasa")
    monkeypatch.setenv("GOVBOT_RASA_TRACKER_PASSWORD", "secret")
    assert tracker_env(load_settings()) == {
        "GOVBOT_TRACKER_DIALECT": "postgresql", "GOVBOT_TRACKER_HOST": "db-host:5432", "GOVBOT_TRACKER_DB": "govbot",
        "GOVBOT_TRACKER_USER": "rasa", "GOVBOT_TRACKER_PASSWORD": "secret",
    }


def test_every_endpoints_variable_is_filled():
    """Rasa refuses to start on an unset ${...}: the launcher must set each one, in both modes."""
    import re

    text = (PROJECT_ROOT / "bot" / "endpoints.yml").read_text(encoding="utf-8")
    wanted = set(re.findall(r"\$\{(\w+)\}", text))
    yaml.safe_load(text)
    base = load_settings()
    for settings in (base, replace(base, redis=RedisSettings(url="redis://127.0.0.1:6379/0"))):
        assert wanted <= set(stack_env(settings)), wanted - set(stack_env(settings))
