"""Every setting of crm-es, read from ``CRM_ES_*`` environment variables in one place."""

from __future__ import annotations

import os
import re
from decimal import Decimal, InvalidOperation
from dataclasses import dataclass, field, replace
from pathlib import Path


class SettingsError(ValueError):
    """A setting has a value crm-es cannot use."""


def _int(env: dict[str, str], key: str, default: int, minimum: int = 0) -> int:
    raw = env.get(key)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{key} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{key} must be at least {minimum}, got {value}")
    return value


def _float(env: dict[str, str], key: str, default: float) -> float:
    raw = env.get(key)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{key} must be a number, got {raw!r}") from None


def _bool(env: dict[str, str], key: str, default: bool) -> bool:
    raw = env.get(key)
    if raw is None or raw.strip() == "":
        return default
    if raw.strip().lower() in {"1", "true", "yes", "on", "y"}:
        return True
    if raw.strip().lower() in {"0", "false", "no", "off", "n"}:
        return False
    raise SettingsError(f"{key} must be true or false, got {raw!r}")


def _rate(env: dict[str, str], key: str, default: str) -> Decimal:
    raw = env.get(key)
    if raw is None or raw.strip() == "":
        return Decimal(default)
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise SettingsError(f"{key} must be a decimal number such as {default}, got {raw!r}") from None
    if not value.is_finite() or not 0 <= value < 1:
        raise SettingsError(f"{key} must be at least 0 and below 1, got {raw!r}")
    return value


def _prefix(env: dict[str, str], key: str, default: str) -> str:
    value = (env.get(key) or default).strip()
    if not re.fullmatch(r"[A-Z][A-Z0-9]{0,9}", value):
        raise SettingsError(f"{key} must be 1 to 10 capital letters or digits, starting with a letter, got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """The configuration of one crm-es process. Documented in README.md."""

    database_url: str | None = None
    data_dir: Path = Path(".crm-es")
    host: str = "127.0.0.1"
    port: int = 8000
    pool_size: int = 8
    pool_max_overflow: int = 8
    secret_key: str | None = None
    token_ttl_seconds: int = 8 * 3600
    login_max_failures: int = 5
    login_lock_seconds: int = 900
    admin_username: str | None = None
    admin_password: str | None = field(default=None, repr=False)
    timezone: str = "Asia/Shanghai"
    order_number_prefix: str = "SO"
    """Order numbers read PREFIX-YEAR-000123."""
    late_fee_daily_rate: Decimal = Decimal("0.0005")
    """Late fee (滞纳金) per day overdue, as a share of the overdue amount (0.0005: 万分之五)."""
    read_wait_seconds: float = 5.0
    projection_batch_size: int = 500
    run_projections: bool = True
    escalation_seconds: int = 60
    """How often overdue tickets are looked for and escalated (0: never; processes/sla.py)."""
    bench_endpoints: bool = False
    log_level: str = "info"
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    api_worker: bool = False
    """Set by ``serve`` for its API worker processes: they only serve (the main process made
    the tables, runs the projections and processes, and keeps the embedded database)."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            database_url=env.get("CRM_ES_DATABASE_URL") or None,
            data_dir=Path(env.get("CRM_ES_DATA_DIR") or ".crm-es"),
            host=env.get("CRM_ES_HOST") or "127.0.0.1",
            port=_int(env, "CRM_ES_PORT", 8000, minimum=1),
            pool_size=_int(env, "CRM_ES_POOL_SIZE", 8, minimum=1),
            pool_max_overflow=_int(env, "CRM_ES_POOL_MAX_OVERFLOW", 8),
            secret_key=env.get("CRM_ES_SECRET_KEY") or None,
            token_ttl_seconds=_int(env, "CRM_ES_TOKEN_TTL_SECONDS", 8 * 3600, minimum=60),
            login_max_failures=_int(env, "CRM_ES_LOGIN_MAX_FAILURES", 5, minimum=1),
            login_lock_seconds=_int(env, "CRM_ES_LOGIN_LOCK_SECONDS", 900, minimum=1),
            admin_username=env.get("CRM_ES_ADMIN_USERNAME") or None,
            admin_password=env.get("CRM_ES_ADMIN_PASSWORD") or None,
            timezone=env.get("CRM_ES_TIMEZONE") or "Asia/Shanghai",
            order_number_prefix=_prefix(env, "CRM_ES_ORDER_NUMBER_PREFIX", "SO"),
            late_fee_daily_rate=_rate(env, "CRM_ES_LATE_FEE_DAILY_RATE", "0.0005"),
            read_wait_seconds=_float(env, "CRM_ES_READ_WAIT_SECONDS", 5.0),
            projection_batch_size=_int(env, "CRM_ES_PROJECTION_BATCH_SIZE", 500, minimum=1),
            run_projections=_bool(env, "CRM_ES_RUN_PROJECTIONS", True),
            escalation_seconds=_int(env, "CRM_ES_ESCALATION_SECONDS", 60),
            bench_endpoints=_bool(env, "CRM_ES_BENCH_ENDPOINTS", False),
            log_level=(env.get("CRM_ES_LOG_LEVEL") or "info").lower(),
            workers=_int(env, "CRM_ES_WORKERS", os.cpu_count() or 1, minimum=1),
            api_worker=_bool(env, "CRM_ES_API_WORKER", False),
        )

    def with_(self, **changes: object) -> Settings:
        """A copy with some settings changed (tests, CLI flags)."""
        return replace(self, **changes)  # type: ignore[arg-type]
