"""The benchmark suite, run end to end in seconds so it never rots (``--quick``).

``python -m benchmarks --quick`` starts the real servers (``castedge edge``, ``origin``
and ``locator``, nginx), the real load (wrk, the podcast apps, moto's S3 behind the
shaping proxy), and writes the report, the JSON and the plots. The figures mean
nothing at these sizes on a shared machine; what is checked is that every scenario ran
on both servers without an error, that the cold-cache storm cost castedge one object's
bytes upstream, and that the outputs are there and readable.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ["video seeking", "HLS", "locator redirects", "release storm", "mixed soak"]


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    # About 25 s on an idle 2-core machine; the bound leaves room for a busy one.
    out = tmp_path_factory.mktemp("bench-suite")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out), "--tmpdir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=220,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return out, json.loads((out / "results.json").read_text())


@pytest.mark.timeout(240)
def test_every_scenario_ran_on_both_servers_without_errors(
    suite: tuple[Path, dict[str, Any]],
) -> None:
    _, doc = suite
    seen = {(row["scenario"], row["server"]) for row in doc["rows"]}
    assert seen == {(s, server) for s in SCENARIOS for server in ("castedge", "nginx")}
    for row in doc["rows"]:
        assert row["requests"] > 0 and row["errors"] == 0, row
        assert row["server_cpu_s"] is not None and row["server_cpu_s"] > 0, row
    seeks = [r for r in doc["rows"] if r["scenario"] == "video seeking"]
    # Every seek is a 1-2 MB range: anything else is a server answering the wrong bytes.
    for row in seeks:
        assert 1e6 <= row["bytes"] / row["requests"] <= 2.1e6, row
    assert sorted({r["concurrency"] for r in seeks}) == [2, 8]


@pytest.mark.timeout(240)
def test_a_cold_release_storm_costs_castedge_one_episode_upstream(
    suite: tuple[Path, dict[str, Any]],
) -> None:
    _, doc = suite
    storm = [r for r in doc["rows"] if r["scenario"] == "release storm"]
    for row in storm:
        episode = row["extra"]["episode_bytes"]
        # Headers ride on the proxy's count too: a few hundred bytes an answer.
        assert episode <= row["upstream_bytes"] < episode + 20_000, row
    castedge = next(r for r in storm if r["server"] == "castedge")
    assert castedge["hit_ratio"] is not None and castedge["hit_ratio"] < 1.0


@pytest.mark.timeout(240)
def test_the_report_json_and_plots_are_written(suite: tuple[Path, dict[str, Any]]) -> None:
    out, doc = suite
    table = (out / "results.md").read_text()
    for scenario in SCENARIOS:
        assert f"| {scenario} |" in table
    assert "Upstream × episode" in table
    assert "python -m benchmarks --quick" in doc["command"]
    assert doc["plots"] == ["throughput.png", "p99.png"]
    for name in doc["plots"]:
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
