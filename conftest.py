"""Collection rules for the whole tree (pytest reads this before tests/ and dualnet/)."""

from __future__ import annotations

# dualnet/sklearn.py needs the optional scikit-learn (extra "sklearn"); without it the
# doctest run leaves that module out instead of failing to import it. tests/test_sklearn.py
# reports its own skip (pytest.importorskip, shown by -rs).
try:
    import sklearn  # noqa: F401
except ImportError:
    collect_ignore = ["dualnet/sklearn.py"]
