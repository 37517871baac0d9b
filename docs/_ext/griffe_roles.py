"""Griffe extension for the documentation build: numpydoc docstrings read as Markdown.

dualnet's docstrings are numpydoc, written for ``help()`` and Sphinx. mkdocstrings renders
them as Markdown, where two things would come out wrong:

* Sphinx roles (``:func:`rho```, ``:class:`Network```) would show verbatim. Each becomes an
  *optional* autorefs link: a link when the target has an API page, plain code otherwise
  (never a broken reference, so ``mkdocs build --strict`` stays meaningful).
* Sub- and superscripts written the TeX way, ``t^{L−2}`` and ``ξ_{j+1}``, would turn into
  emphasis and attribute lists; they become ``<sup>``/``<sub>`` (the rule of the site's
  ``mathml`` hook, which does the same in the text of every page).
* Math written in plain text would turn into emphasis: ``U*, ... F*`` and ``(x − ξ_k)_+ ...
  (ξ_k − x)_+``. A ``*`` right after a symbol and a ``_`` right after a bracket are escaped
  (outside code spans and the Examples section); ``*emphasis*`` and ``**bold**`` are kept.

Only the documentation build loads this; the package's docstrings are unchanged.
"""

from __future__ import annotations

import html
import importlib.util
import re
from pathlib import Path
from typing import Any

import griffe

_spec = importlib.util.spec_from_file_location("_dualnet_docs_mathml", Path(__file__).with_name("mathml.py"))
_mathml = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mathml)

CODE = re.compile(r"(``?).+?\1")
EMPHASIS = re.compile(r"(?<![\w*\\])\*[^\s*][^*\n]*?(?<=[^\s*])\*(?![\w*])|\*\*[^*\n]+\*\*")
MATH_STAR = re.compile(r"(?<=[\w)\]′])\*(?!\*)")
MATH_UNDERSCORE = re.compile(r"(?<=[)\]}‖|'′>])_")
EXAMPLES = re.compile(r"^\s*Examples\s*\n\s*-{3,}\s*$", re.M)
ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|mod|data|obj|exc|const):`(~?)\.?([\w.]+)(?:\(\))?`")


def _resolve(name: str, obj: griffe.Object) -> str | None:
    """The canonical path of ``name`` as seen from ``obj`` (its scope, then enclosing scopes)."""
    first, *rest = name.split(".")
    scope: griffe.Object | None = obj if obj.is_class or obj.is_module else obj.parent
    while scope is not None:
        if first in scope.members:
            target: Any = scope.members[first]
            try:
                for part in rest:
                    target = target.members[part]
                return target.canonical_path if not target.is_alias else target.final_target.path
            except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
                return None
        scope = scope.parent
    return None


def _plain_math(plain: str) -> str:
    return MATH_UNDERSCORE.sub(r"\\_", MATH_STAR.sub(r"\\*", _mathml.scripts(plain)))


def _escape_math(text: str) -> str:
    """Sub/superscripts as HTML, and escapes for what Markdown would read as emphasis, outside code."""
    out, pos = [], 0
    for match in re.finditer(f"{CODE.pattern}|{EMPHASIS.pattern}", text):
        out += [_plain_math(text[pos:match.start()]), match.group(0)]
        pos = match.end()
    return "".join([*out, _plain_math(text[pos:])])


def _rewrite(obj: griffe.Object, pkg: griffe.Module) -> None:
    if obj.docstring is None:
        return
    head, *tail = EXAMPLES.split(obj.docstring.value, maxsplit=1)
    examples = EXAMPLES.search(obj.docstring.value)
    obj.docstring.value = _escape_math(head) + (examples.group(0) + tail[0] if examples else "")

    def link(match: re.Match) -> str:
        short, name = match.group(1), match.group(2)
        title = name.rsplit(".", 1)[-1] if short else name
        if name.split(".")[0] == pkg.name:
            try:
                target = pkg[name.split(".", 1)[1]] if "." in name else pkg
                path = target.final_target.path if target.is_alias else target.canonical_path
            except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
                path = None
        else:
            path = _resolve(name, obj)
        code = f"<code>{html.escape(title)}</code>"
        if path is None:
            return f"`{title}`"
        return f'<autoref identifier="{html.escape(path)}" optional>{code}</autoref>'

    obj.docstring.value = ROLE.sub(link, obj.docstring.value)


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx cross-reference roles in every docstring of the loaded package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        todo: list[griffe.Object] = [pkg]
        while todo:
            obj = todo.pop()
            _rewrite(obj, pkg)
            todo.extend(member for member in obj.members.values() if not member.is_alias)
