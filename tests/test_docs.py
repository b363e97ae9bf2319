"""Every `sh` block of the README and docs/ runs, as shown, and succeeds: the commands the
docs show cannot drift from the code. A page is a walk-through: its blocks run in order, in
one folder. (`console` blocks need a network, a sandbox or AWS.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def pages_with_blocks() -> list[Path]:
    return [page for page in PAGES if BLOCK.search(page.read_text())]


def test_the_docs_show_commands_to_run():
    assert sum(len(BLOCK.findall(page.read_text())) for page in PAGES) >= 3


@pytest.mark.parametrize("page", pages_with_blocks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_commands_a_page_shows_run(page, tmp_path):
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for n, script in enumerate(BLOCK.findall(page.read_text()), 1):
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"block {n} failed:\n{script}\n{proc.stdout}\n{proc.stderr}"
        assert "Traceback" not in proc.stderr
