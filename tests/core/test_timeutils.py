"""Durations as text: to the second wherever money is computed from them (DESIGN.md: Time).

The running timers' JavaScript must print the same text as the server, so a session
reads the same while it runs and once it is stopped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.template import Context, Template

from billing_site.timeutils import format_duration

TIMER_JS = Path(__file__).resolve().parents[2] / "sessions/static/sessions/js/timer.js"

CASES = [
    (0, "0 s"),
    (1, "1 s"),
    (42, "42 s"),
    (59, "59 s"),
    (60, "1 min"),
    (61, "1 min 1 s"),
    (900, "15 min"),
    (918, "15 min 18 s"),
    (3599, "59 min 59 s"),
    (3600, "1 h 00 min"),
    (3601, "1 h 00 min 01 s"),
    (3605, "1 h 00 min 05 s"),
    (3660, "1 h 01 min"),
    (3727, "1 h 02 min 07 s"),
    (7500, "2 h 05 min"),
    (86400, "24 h 00 min"),
    (90061, "25 h 01 min 01 s"),
]


@pytest.mark.parametrize(("seconds", "text"), CASES)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_nothing_and_negative_durations():
    assert format_duration(None) == "0 s"
    assert format_duration(-3727) == "-1 h 02 min 07 s"


def test_the_template_filter_is_the_same_text():
    template = Template("{% load billing %}{{ value|duration }}")
    for seconds, text in CASES:
        assert template.render(Context({"value": seconds})) == text


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to run timer.js")
def test_the_running_timer_prints_the_same_text():
    """timer.js, run as a page would run it: one element per case, the clock fixed."""
    seconds = [case[0] for case in CASES]
    script = f"""
const now = Date.UTC(2026, 0, 1, 12, 0, 0);
Date.now = () => now;
const nodes = {json.dumps(seconds)}.map((s) => ({{
  textContent: "",
  getAttribute: () => new Date(now - s * 1000).toISOString(),
}}));
global.window = {{}};
global.document = {{ querySelectorAll: () => nodes, addEventListener: () => {{}} }};
global.setInterval = () => {{}};
eval(require("fs").readFileSync({json.dumps(str(TIMER_JS))}, "utf8"));
console.log(JSON.stringify(nodes.map((node) => node.textContent)));
"""
    result = subprocess.run(
        ["node", "-e", script], capture_output=True, text=True, timeout=30, check=True
    )
    assert json.loads(result.stdout) == [format_duration(s) for s in seconds]
