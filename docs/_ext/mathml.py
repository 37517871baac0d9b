r"""MkDocs hook: TeX between $…$ becomes MathML when the site is built.

pymdownx.arithmatex (generic mode) marks the TeX of the theory pages up as
``<span class="arithmatex">\(…\)</span>`` and ``<div class="arithmatex">\[…\]</div>``.
latex2mathml turns each into MathML, which browsers render natively: no JavaScript, nothing
fetched at build time or in the browser, and the pages read the same offline. TeX that
latex2mathml cannot convert is a warning, so ``mkdocs build --strict`` fails on it.

Prose that writes formulas in plain text (the API reference's docstrings, a few pages) uses
TeX's ``x^{…}`` and ``x_{…}``; in the text of a page (not in code, not in MathML) these
become ``<sup>``/``<sub>``, so no page shows raw TeX. ``tests/test_docs.py`` scans the built
site for anything left.
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

from latex2mathml.converter import convert

log = logging.getLogger("mkdocs.hooks.mathml")
MATH = re.compile(r'<(span|div) class="arithmatex">(.*?)</\1>', re.S)
TOC_MATH = re.compile(r"\\\((.+?)\\\)")        # \(…\) left in the plain text of a heading
# Text outside tags, code and MathML: the only place plain-text sub/superscripts are rewritten.
SKIPPED = re.compile(r"<(code|pre|math|script|style)\b.*?</\1>|<[^>]*>", re.S)
SCRIPT = re.compile(r"([\^_])\{")


def _mathml(tex: str, display: str, where: str) -> str | None:
    try:
        return convert(tex, display=display)
    except Exception as err:                   # latex2mathml raises a variety of parser errors
        log.warning("%s: cannot convert TeX to MathML (%s: %s): %s", where, type(err).__name__, err, tex[:80])
        return None


def _replace(match: re.Match, where: str) -> str:
    tag, body = match.group(1), html.unescape(match.group(2)).strip()
    block = tag == "div"
    mathml = _mathml(body[2:-2], "block" if block else "inline", where)   # drop the \( \) or \[ \]
    if mathml is None:
        return match.group(0)
    return f'<div class="arithmatex">{mathml}</div>' if block else mathml


def _toc_titles(items: Any, where: str) -> None:
    """Headings with math: the table of contents holds their text with the TeX still in it."""
    for item in items:
        item.title = TOC_MATH.sub(lambda m: _mathml(html.unescape(m.group(1)), "inline", where) or m.group(0),
                                  item.title)
        _toc_titles(item.children, where)


def scripts(text: str) -> str:
    """``x^{a}`` and ``x_{a}`` (braces balanced) as ``x<sup>a</sup>`` and ``x<sub>a</sub>``."""
    out, pos = [], 0
    while (match := SCRIPT.search(text, pos)) is not None:
        depth, end = 1, match.end()
        while end < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        if depth:                                  # unbalanced: leave the rest as it is
            break
        tag = "sup" if match.group(1) == "^" else "sub"
        out += [text[pos:match.start()], f"<{tag}>{scripts(text[match.end():end - 1])}</{tag}>"]
        pos = end
    return "".join(out) + text[pos:]


def plain_text_scripts(html_text: str) -> str:
    """Rewrite sub/superscripts in the text of ``html_text``, leaving tags, code and MathML alone."""
    out, pos = [], 0
    for match in SKIPPED.finditer(html_text):
        out += [scripts(html_text[pos:match.start()]), match.group(0)]
        pos = match.end()
    return "".join(out) + scripts(html_text[pos:])


def on_page_content(html_text: str, page: Any, **kwargs: Any) -> str:
    _toc_titles(page.toc, page.file.src_path)
    return plain_text_scripts(MATH.sub(lambda m: _replace(m, page.file.src_path), html_text))
