"""The documentation runs as written, and the built site has no unconverted TeX.

The pages follow one convention, which these tests hold them to:

* every fenced ```` ```python ```` block of a page in :data:`PAGES` runs, in page order, in
  one namespace per page and a temporary working folder, within :data:`TIME_LIMIT` seconds of
  CPU time (a newcomer runs them in order);
* a fenced ```` ```text ```` block directly after a Python block (blank lines only in
  between) is what that block prints;
* an HTML comment ``<!-- snippet: skip REASON -->`` on the line before a block keeps it out
  of the run; the reason is required;
* in a fenced ```` ```console ```` block of a page in :data:`CONSOLE_PAGES`, every line
  ``$ dualnet ...`` runs (as ``python -m dualnet ...``, in a folder holding ``iris.csv``) and
  prints the lines that follow it, up to the next ``$``.

Printed outputs are compared token by token: ``...`` stands for anything, a space stands for
any run of whitespace, an integer must be equal, a decimal number written on the page matches
to the precision written (one unit of its last digit), a number written below 1e-6 in
magnitude matches any number that small (a duality gap at round-off level), and a time
``<number> s`` matches any time.

The site build (``mkdocs build --strict``) runs when MkDocs is installed (the ``test`` extra
brings it), and the built HTML is scanned for TeX that was not turned into MathML.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dualnet.datasets import IRIS_CSV

# ------------------------------------------------------------------ reading a page
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
SKIP = re.compile(r"<!--\s*snippet:\s*skip\s+(?P<reason>[^>]+?)\s*-->\s*$")
NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
TOKEN = re.compile(rf"(?P<ellipsis>\.\.\.|…)|(?P<time>{NUMBER})(?=\s*s\b)|(?P<number>{NUMBER})")
ROUNDOFF = 1e-6


@dataclass
class Snippet:
    """One Python block of a page, with the output the page shows for it (None: not shown)."""

    line: int
    code: str
    expected: str | None = None
    skip: str | None = None


@dataclass
class Page:
    path: Path
    snippets: list[Snippet] = field(default_factory=list)


def _dedent(body: str, indent: str) -> str:
    return "\n".join(line[len(indent):] if line.startswith(indent) else line for line in body.splitlines())


def read_page(path: Path) -> Page:
    """The page's Python snippets in order, each with its expected output."""
    text = path.read_text(encoding="utf-8")
    page = Page(path)
    last_end, last = 0, None
    for match in FENCE.finditer(text):
        lang, body = match.group("lang"), _dedent(match.group("body"), match.group("indent"))
        before = text[last_end:match.start()]
        line = text.count("\n", 0, match.start()) + 1
        if lang == "python":
            prefix = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            skip = SKIP.search(prefix)
            last = Snippet(line, body, skip=skip.group("reason") if skip else None)
            page.snippets.append(last)
        elif lang == "text" and last is not None and not before.strip() and last.expected is None:
            last.expected = body
        else:
            last = None
        last_end = match.end()
    return page


def _pattern(expected: str) -> tuple[re.Pattern, list[str | None]]:
    """A regex for ``expected`` and, per captured number, the text written on the page (None: a time)."""
    parts, numbers, pos = [], [], 0
    for token in TOKEN.finditer(expected):
        parts.append(r"\s+".join(map(re.escape, expected[pos:token.start()].split(" "))))
        if token.group("ellipsis"):
            parts.append(r".*?")
        else:
            parts.append(f"({NUMBER}|nan|inf)")
            numbers.append(token.group("number"))
        pos = token.end()
    parts.append(r"\s+".join(map(re.escape, expected[pos:].split(" "))))
    return re.compile("".join(parts), re.S), numbers


def _number_matches(written: str, got: str) -> bool:
    want, value = float(written), float(got)
    if abs(want) < ROUNDOFF:
        return abs(value) < ROUNDOFF
    if not re.search(r"[.eE]", written):        # an integer: a count, a size
        return value == want
    mantissa = written.lower().split("e")[0]
    exponent = int(written.lower().split("e")[1]) if "e" in written.lower() else 0
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return abs(value - want) <= 1.01 * 10.0 ** (exponent - decimals)


def _normalize(text: str) -> str:
    return re.sub(r"[ \t]+", " ", "\n".join(line.rstrip() for line in text.strip().splitlines()))


def output_matches(expected: str, got: str) -> bool:
    """Whether ``got`` is what the page shows as ``expected`` (rules in the module docstring)."""
    pattern, numbers = _pattern(_normalize(expected))
    match = pattern.fullmatch(_normalize(got))
    if match is None:
        return False
    return all(written is None or _number_matches(written, value)
               for written, value in zip(numbers, match.groups()))


# ------------------------------------------------------------------ running the pages
ROOT = Path(__file__).resolve().parents[1]
#: CPU seconds per snippet ("a few seconds"); measured at most 2.8 s (the block importing torch).
TIME_LIMIT = 5.0
#: Every page with Python snippets.
PAGES = ["README.md", "docs/index.md", "docs/getting-started.md",
         "docs/settings/linear.md", "docs/settings/rank_one.md", "docs/settings/whitened.md",
         "docs/settings/spline.md", "docs/settings/batchnorm.md", "docs/settings/two_layer.md",
         "docs/howto/certify_pytorch.md", "docs/howto/dask.md", "docs/howto/sklearn.md", "docs/howto/solvers.md"]
#: Pages whose ```console blocks run (the command line, on the bundled Iris data).
CONSOLE_PAGES = ["docs/cli.md"]
NEEDS = {"docs/howto/certify_pytorch.md": "torch", "docs/howto/dask.md": "distributed",
         "docs/howto/sklearn.md": "sklearn"}


def test_output_matching_rules():
    assert output_matches("gap 4.24e-10 (relative 3.35e-11) in 1.71 s", "gap -2.1e-16 (relative 0.0) in 12.5 s")
    assert output_matches("value 1.0685813\n...\nend", "value  1.06858131\nanything\nat all\nend")
    assert not output_matches("value 1.0685813", "value 1.0685815")
    assert not output_matches("14 patterns", "15 patterns")
    assert not output_matches("gap 0.0152", "gap 3e-9")
    assert not output_matches("True", "True\nand more")


def test_every_page_with_python_is_listed():
    with_python = {str(p.relative_to(ROOT)) for p in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]
                   if read_page(p).snippets}
    assert with_python <= set(PAGES)


def test_pages_cite_no_document_users_cannot_open():
    # The derivations live on the site (docs/theory/, docs/settings/); nothing may point to an
    # unpublished specification, neither a page nor the package's docstrings and messages.
    sources = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "docs" / "examples").glob("*.py"),
               *(ROOT / "dualnet").rglob("*.py")]
    citing = [str(p.relative_to(ROOT)) for p in sources if "MATH §" in p.read_text(encoding="utf-8")
              or "MATH Lemma" in p.read_text(encoding="utf-8") or "MATH" in p.read_text(encoding="utf-8") and p.suffix == ".md"]
    assert not citing


@pytest.mark.parametrize("name", PAGES)
def test_page_snippets_run_and_print_what_the_page_shows(name, tmp_path, monkeypatch):
    if name in NEEDS and importlib.util.find_spec(NEEDS[name]) is None:
        pytest.skip(f"{name} needs {NEEDS[name]}")
    page = read_page(ROOT / name)
    assert page.snippets, f"{name} has no Python snippet"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__main__"}
    for snippet in page.snippets:
        if snippet.skip:
            continue
        where = f"{name}:{snippet.line}"
        out = io.StringIO()
        start = time.process_time()
        with contextlib.redirect_stdout(out), warnings.catch_warnings():
            # The pages show what a user sees: warnings are allowed to print, not to fail.
            warnings.simplefilter("default")
            exec(compile(snippet.code, where, "exec"), namespace)    # noqa: S102 - the page's own code
        elapsed = time.process_time() - start
        assert elapsed <= TIME_LIMIT, f"{where}: {elapsed:.1f} s of CPU time, limit {TIME_LIMIT} s"
        if snippet.expected is not None:
            assert output_matches(snippet.expected, out.getvalue()), \
                f"{where} printed\n{out.getvalue()}\nbut the page shows\n{snippet.expected}"


def console_commands(path: Path) -> list[tuple[int, str, str]]:
    """(line, command, expected output) for every ``$ dualnet`` line of the page's console blocks."""
    text = path.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        if match.group("lang") != "console":
            continue
        first = text.count("\n", 0, match.start()) + 2
        lines = _dedent(match.group("body"), match.group("indent")).splitlines()
        starts = [i for i, line in enumerate(lines) if line.startswith("$ ")] + [len(lines)]
        for i, j in zip(starts, starts[1:]):
            found.append((first + i, lines[i][2:], "\n".join(lines[i + 1:j])))
    return found


@pytest.mark.parametrize("name", CONSOLE_PAGES)
def test_console_examples_print_what_the_page_shows(name, tmp_path):
    resource = pytest.importorskip("resource", reason="CPU time of child processes needs the resource module")

    shutil.copy(IRIS_CSV, tmp_path / "iris.csv")
    commands = console_commands(ROOT / name)
    assert commands, f"{name} has no console example"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    for line, command, expected in commands:
        program, *args = shlex.split(command)
        assert program == "dualnet", f"{name}:{line}: only dualnet commands run here"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        run = subprocess.run([sys.executable, "-m", "dualnet", *args], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        assert run.returncode == 0, f"{name}:{line}: {run.stderr}"
        assert cpu <= TIME_LIMIT, f"{name}:{line}: {cpu:.1f} s of CPU time, limit {TIME_LIMIT} s"
        assert output_matches(expected, run.stdout), \
            f"{name}:{line} printed\n{run.stdout}\nbut the page shows\n{expected}"


# ----------------------------------------------------------------------- the built site
#: TeX left in the text of a built page: delimiters arithmatex did not take, or commands and
#: sub/superscripts outside math. Code (``<code>``, ``<pre>``) and MathML are not text.
TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$[^$\s][^$]*\$|\\[a-zA-Z]{2,}\b|[\^_]\{")
NOT_TEXT = re.compile(r"<(code|pre|math|script|style)\b.*?</\1>", re.S)


def unconverted_tex(html: str) -> list[str]:
    """Snippets of TeX in the readable text of an HTML page (empty: every formula converted)."""
    text = re.sub(r"<[^>]+>", " ", NOT_TEXT.sub(" ", html))
    return [text[max(m.start() - 30, 0):m.end() + 30].strip() for m in TEX.finditer(text)]


def test_scanner_finds_raw_tex():
    assert unconverted_tex("<p>X ∈ R^{n×d}</p>")
    assert unconverted_tex(r"<p>the bound \(\rho(U)\)</p>")
    assert unconverted_tex("<p>cost $t^2$ here</p>")
    assert not unconverted_tex("<p>X ∈ <math><msup><mi>R</mi></msup></math></p><code>x_{i}</code>")


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="MkDocs is not installed (docs extra)")
def test_built_site_has_no_unconverted_tex(tmp_path):
    site = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    found = {str(page.relative_to(site)): tex for page in site.rglob("*.html")
             if (tex := unconverted_tex(page.read_text(encoding="utf-8")))}
    assert not found, f"unconverted TeX: {found}"
