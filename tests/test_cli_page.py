"""The comparison page (index.html) in a real headless browser: Debian's Chromium driven by Playwright's Python
package. The page is built from the committed cpu-demo reference run; the test loads it from disk, checks that no
console error occurs and nothing is fetched, that every table and the curves figure are there, and sorts a column by
clicking its header. With RLVR_ZOO_SCREENSHOT=FILE it also saves a screenshot (docs/img/compare-page.png is made so)."""
import os
import shutil
from pathlib import Path

import pytest

from harness import leaderboard
from harness.compare import page as report_page

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "results" / "cpu-demo-reference" / "rerun-1"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# headless as root on a machine without network (docs of the development machines: background networking off)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("page")
    rows = leaderboard.collect(REFERENCE)
    text = report_page.render(rows, "rlvr-zoo comparison: cpu-demo-reference",
                              (REFERENCE / "curves.png").read_bytes())
    path = folder / report_page.PAGE_FILE
    path.write_text(text, encoding="utf-8")
    return path, rows


def test_page_is_self_contained(page_file):
    text = page_file[0].read_text(encoding="utf-8")
    for needle in ("http://", "https://", "<link", "src=\"http", "@import"):
        assert needle not in text, needle
    assert 'src="data:image/png;base64,' in text


@pytest.mark.slow
def test_page_in_a_headless_browser(page_file):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)")
    path, rows = page_file
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors, fetched = [], []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: fetched.append(r.url))
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            trained = len([r for r in rows if not r.is_base])
            for table_id, n_rows in (("verdict-scores", len(rows)), ("verdict-vs-base", trained),
                                     ("scores", len(rows)), ("delta", len(rows)), ("dynamics", trained)):
                assert page.locator(f"table#{table_id}").is_visible(), table_id
                assert page.locator(f"table#{table_id} tbody tr").count() == n_rows, table_id
            # several seeds per objective: one pairwise verdict per pair, and the detectable difference under it
            n_algos = len({r.label for r in rows if not r.is_base})
            assert page.locator("table#verdict-pairwise tbody tr").count() == n_algos * (n_algos - 1) // 2
            assert "minimum detectable difference" in page.locator("body").inner_text()
            width = page.evaluate("document.querySelector('#curves img').naturalWidth")
            assert width > 0, "the curves image did not decode"
            # sort the scores table by its average column, then reverse it
            headers = page.locator("table#scores th").all_inner_texts()
            col = headers.index("average")

            def column():
                cells = page.locator(f"table#scores tbody tr td:nth-child({col + 1})").all_inner_texts()
                return [float(c) for c in cells]

            page.locator("table#scores th").nth(col).click()
            assert column() == sorted(column())
            assert page.locator("table#scores th").nth(col).get_attribute("aria-sort") == "ascending"
            page.locator("table#scores th").nth(col).click()
            assert column() == sorted(column(), reverse=True)
            assert len(set(column())) > 1  # the order really changed something
            shot = os.environ.get("RLVR_ZOO_SCREENSHOT")
            if shot:
                page.locator("table#scores th").nth(col).click()
                page.screenshot(path=shot, full_page=True)
            assert not errors, errors
            assert all(u.startswith(("file:", "data:")) for u in fetched), fetched
        finally:
            browser.close()


def test_leaderboard_page_flag_writes_index_html(tmp_path, capsys):
    from harness.cli import main

    copy = tmp_path / "cpu-demo-reference"
    shutil.copytree(REFERENCE, copy)
    assert main(["leaderboard", str(copy), "--page"]) == 0
    assert f"page: {copy / 'index.html'}" in capsys.readouterr().err
    text = (copy / "index.html").read_text(encoding="utf-8")
    assert 'id="scores"' in text and 'id="delta"' in text and 'id="dynamics"' in text and 'id="curves"' in text
