"""The pure packages load without the I/O libraries, so their cores stay pure.

Each check imports a module in a fresh interpreter whose import system refuses the
libraries that only services, adapters and storage modules may use: a module that
reaches for one, directly or through a package ``__init__``, fails there as it would
on a machine without that library.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: What the pure packages must do without (STYLE.md, "Pure cores, thin I/O").
REFUSED = ("aiohttp", "aiofiles", "boto3", "botocore", "geoip2", "maxminddb", "prometheus_client")

# Run as ``python -I -c HARNESS <refused,...> <repo root> <module>``.
HARNESS = """
import importlib
import importlib.abc
import sys
from pathlib import Path

refused = frozenset(sys.argv[1].split(","))


class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in refused:
            raise ModuleNotFoundError(f"{name} is refused here", name=name)
        return None


loaded = sorted(refused.intersection(name.partition(".")[0] for name in sys.modules))
if loaded:
    sys.exit(f"already loaded before the check began: {loaded}")
sys.meta_path.insert(0, Refuse())
root = Path(sys.argv[2])
sys.path.insert(0, str(root))
module = importlib.import_module(sys.argv[3])
# The venv may hold an editable install of another checkout: check this one's code.
if root not in Path(module.__file__).resolve().parents:
    sys.exit(f"{module.__name__} came from {module.__file__}, not from {root}")
"""


def import_without_io(module: str) -> subprocess.CompletedProcess[str]:
    """Import ``module`` in a new interpreter that refuses every library in REFUSED."""
    # -I: no PYTHONPATH, user site-packages or current directory; the harness puts
    # this repository first on the path and checks that the module came from it.
    return subprocess.run(
        [sys.executable, "-I", "-c", HARNESS, ",".join(REFUSED), str(ROOT), module],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("package", ["config", "signer", "geo", "analytics"])
def test_a_pure_package_imports_without_the_io_libraries(package: str) -> None:
    done = import_without_io(package)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("module", "library"),
    [
        ("delivery.admin", "aiohttp"),  # the admin routes are an aiohttp app
        ("geo.reader", "geoip2"),  # the reloading reader wraps geoip2's Reader
    ],
)
def test_a_module_that_needs_one_fails_to_import(module: str, library: str) -> None:
    done = import_without_io(module)
    assert done.returncode != 0
    assert f"ModuleNotFoundError: {library} is refused here" in done.stderr
