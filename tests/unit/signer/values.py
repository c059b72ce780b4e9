"""Keys, a fixed clock and paths shared by the signer tests."""

from __future__ import annotations

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
SECRET_1 = "unit-test-secret-one-32-bytes-long"
SECRET_2 = "unit-test-secret-two-32-bytes-long"
KEYS = {"k1": SECRET_1, "k2": SECRET_2}
CHAPTER = "courses/python-jumpstart/ch03/"
SEGMENT = "courses/python-jumpstart/ch03/seg-00001.ts"
