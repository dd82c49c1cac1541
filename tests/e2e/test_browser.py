"""The demo's outcome as a user sees it: the Dagster asset graph and the MLflow registered model
page, rendered by headless Chromium against UI servers started on the demo's own stores."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ports import free_port

from orchestration.cli.pipeline_commands import url_answers

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="python playwright is missing: `pip install -e '.[dev]'`"
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip(
        "Debian's chromium is not installed: run `make browser-deps` (as root)",
        allow_module_level=True,
    )

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MODEL_NAME = "reward-model"
OUR_ASSETS = {
    "feedback_events",
    "preference_dataset",
    "reward_model_candidate",
    "candidate_evaluation",
    "registered_reward_model",
    "ppo_handoff",
    "reward_drift_report",
}
# Without the background-networking flags Chromium tries to reach outside hosts.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SERVER_START_S = 180  # a cold Dagster code server on 2 busy cores takes ~25 s; leave headroom
UI_TIMEOUT_MS = 60_000


def _ui_env(home: Path) -> dict[str, str]:
    """The environment `rmops ui` gives its servers: the demo's home, never an outside store."""
    env = {**os.environ, "RMOPS_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    return env


def _start_server(cmd: list[str], env: dict[str, str], log: Path, probe: str) -> Iterator[str]:
    """Run `cmd` until the generator is closed; yield once `probe` answers 200 (bounded wait)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while not url_answers(probe):
            if proc.poll() is not None:
                pytest.fail(f"{cmd[0]} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{probe} did not answer in {SERVER_START_S} s:\n{log.read_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield probe.rsplit("/", 1)[0]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One headless Chromium (fresh profile) for the module's pages."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    with playwright_api.sync_playwright() as p:
        # Playwright refuses a raw --user-data-dir flag; a persistent context is the same thing.
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def dagster_ui(demo_run, tmp_path_factory) -> Iterator[str]:
    """Base URL of dagster-webserver serving the workspace on the demo's instance."""
    home, _ = demo_run
    port = free_port()
    cmd = [str(BIN / "dagster-webserver"), "-w", str(REPO / "workspace.yaml"),
           "-h", "127.0.0.1", "-p", str(port)]  # fmt: skip
    log = tmp_path_factory.mktemp("dagster-ui") / "webserver.log"
    yield from _start_server(cmd, _ui_env(home), log, f"http://127.0.0.1:{port}/server_info")


@pytest.fixture(scope="module")
def mlflow_ui(demo_run, tmp_path_factory) -> Iterator[str]:
    """Base URL of `mlflow server` on the demo's SQLite store and artifact folder."""
    home, _ = demo_run
    port = free_port()
    cmd = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1",
           "--backend-store-uri", f"sqlite:///{(home / 'mlflow.db').as_posix()}",
           "--default-artifact-root", (home / "mlartifacts").as_posix()]  # fmt: skip
    log = tmp_path_factory.mktemp("mlflow-ui") / "server.log"
    yield from _start_server(cmd, _ui_env(home), log, f"http://127.0.0.1:{port}/health")


def _dismiss_community_modal(page) -> None:
    """The first page load on a fresh instance opens "Join the Dagster community" over the UI."""
    # Absent once dismissed on this instance: the choice is stored in DAGSTER_HOME/.nux.
    with contextlib.suppress(playwright_api.TimeoutError):
        page.get_by_role("button", name="Skip").click(timeout=10_000)


def _expand_all_groups(page) -> None:
    """Open every asset group, in the sidebar tree (full names) and in the graph (the picture)."""
    sidebar = page.locator('[aria-label="arrow_drop_down"]')
    for i in range(sidebar.count()):
        sidebar.nth(i).click()
    # The graph renders only the nodes in view and each opened group pushes others out of it:
    # zoom out whenever no collapsed group is visible. The open set is kept across a reload,
    # which then fits the whole expanded graph into the view.
    collapsed = page.locator('foreignObject.group [aria-label="unfold_more"]')
    for _ in range(12):
        if collapsed.count():
            collapsed.first.click()
        else:
            page.locator('[aria-label="zoom_out"]').click()
        page.wait_for_timeout(500)  # the layout is recomputed and animated after each click
    page.reload(wait_until="domcontentloaded")


def test_dagster_asset_graph_lists_our_assets(browser, dagster_ui, tmp_path):
    page = browser.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto(f"{dagster_ui}/asset-groups", wait_until="domcontentloaded")
    page.get_by_text("Global asset lineage").wait_for()
    _dismiss_community_modal(page)
    page.get_by_text("Materialize all").wait_for()
    _expand_all_groups(page)
    for name in sorted(OUR_ASSETS):
        page.get_by_title(name, exact=True).first.wait_for()
    titles = set(page.locator("[title]").evaluate_all("els => els.map(e => e.title)"))
    # The last group of the loop, opened in the graph itself (short name: never truncated).
    page.locator("foreignObject").filter(has_text="ppo_handoff").first.wait_for()
    shot = tmp_path / "dagster-asset-graph.png"
    page.screenshot(path=str(shot))
    page.close()
    missing = sorted(OUR_ASSETS - titles)
    assert not missing, f"missing from the asset graph: {missing}"
    assert shot.stat().st_size > 10_000


def test_mlflow_model_page_shows_versions_and_champion(browser, mlflow_ui, demo_run, tmp_path):
    _, summary = demo_run
    versions = sorted(int(m["version"]) for m in summary["models"])
    champion = summary["champion"]
    assert versions and champion, "the demo registered no champion to look at"
    page = browser.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto(f"{mlflow_ui}/#/models/{MODEL_NAME}", wait_until="domcontentloaded")
    page.get_by_role("heading", name=MODEL_NAME).wait_for()
    for version in versions:
        page.get_by_role("link", name=f"Version {version}", exact=True).wait_for()
    champion_row = page.get_by_role("row").filter(has_text=f"Version {champion}")
    champion_row.get_by_text("@ champion").wait_for()
    with contextlib.suppress(playwright_api.TimeoutError):  # the assistant panel hides the tags
        page.get_by_role("button", name="Close").first.click(timeout=3_000)
    shot = tmp_path / "mlflow-registered-model.png"
    page.screenshot(path=str(shot))
    rows_with_champion = page.get_by_role("row").filter(has_text="@ champion").count()
    page.close()
    assert rows_with_champion == 1, "the champion alias must point at exactly one version"
    assert shot.stat().st_size > 10_000
