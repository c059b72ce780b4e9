"""The signer most tests verify with: two keys, k1 active, default timings."""

from __future__ import annotations

import pytest

from signer import Signer

from .values import KEYS


@pytest.fixture
def signer() -> Signer:
    return Signer(KEYS, "k1")
