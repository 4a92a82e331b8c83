from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_totals() -> None:
    """Each test counts its own database's rows: no total kept by an earlier test."""
    from idolsite.metrics import forget_totals

    forget_totals()
