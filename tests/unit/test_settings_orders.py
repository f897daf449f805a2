"""The orders' settings: the order number prefix and the late fee's daily rate."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm_es.settings import Settings, SettingsError


def test_defaults_are_so_and_five_ten_thousandths_a_day() -> None:
    settings = Settings.from_env({})
    assert (settings.order_number_prefix, settings.late_fee_daily_rate) == ("SO", Decimal("0.0005"))


def test_the_prefix_and_rate_are_read_from_the_environment() -> None:
    settings = Settings.from_env({"CRM_ES_ORDER_NUMBER_PREFIX": "XS2", "CRM_ES_LATE_FEE_DAILY_RATE": "0.001"})
    assert (settings.order_number_prefix, settings.late_fee_daily_rate) == ("XS2", Decimal("0.001"))


@pytest.mark.parametrize("prefix", ["so", "S-O", "2SO", "ABCDEFGHIJK", "销售"])
def test_a_bad_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(SettingsError, match="CRM_ES_ORDER_NUMBER_PREFIX"):
        Settings.from_env({"CRM_ES_ORDER_NUMBER_PREFIX": prefix})


@pytest.mark.parametrize("rate", ["abc", "-0.1", "1", "NaN", "Infinity"])
def test_a_bad_rate_is_refused(rate: str) -> None:
    with pytest.raises(SettingsError, match="CRM_ES_LATE_FEE_DAILY_RATE"):
        Settings.from_env({"CRM_ES_LATE_FEE_DAILY_RATE": rate})
