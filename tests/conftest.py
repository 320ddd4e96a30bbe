"""Shared pytest hooks."""

from __future__ import annotations

import os

import pytest


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip ``@pytest.mark.libreoffice`` tests when soffice is absent, but fail them in CI.

    Locally a missing LibreOffice should not block the rest of the suite; in CI (``CI=true``)
    a silent skip would hide that the second engine never ran, so it is an error instead.
    """
    if item.get_closest_marker("libreoffice") is None:
        return
    from blueprint.libreoffice import find_soffice

    if find_soffice() is not None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(
            "LibreOffice is required in CI: soffice not found on PATH "
            "(apt-get install -y --no-install-recommends libreoffice-calc-nogui)",
            pytrace=False,
        )
    pytest.skip("LibreOffice (soffice) not found on PATH")
