"""Defaults that give usable answers, and output that explains itself.

One-dimensional data without biases get a warning naming bias=True; the demo's footer says
what tol, P(0) and a negative gap are.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dualnet as dn
from dualnet.cli import main


def test_one_feature_without_bias_warns_and_names_the_better_problem() -> None:
    x = np.linspace(-2, 2, 20)[:, None]
    y = np.sin(2 * x[:, 0])
    with pytest.warns(UserWarning, match=r"one feature and bias=False.*Pass bias=True") as record:
        plain = dn.solve(x, y, beta=0.1)
    assert record[0].filename == __file__          # attributed to the caller's line, not to dualnet
    with warnings.catch_warnings(record=True) as quiet:
        warnings.simplefilter("always")            # pyproject.toml ignores this warning elsewhere
        spline = dn.solve(x, y, beta=0.1, bias=True)
    assert not quiet
    # Both certified; the problem the warning names is the far better fit (measured 4.37 vs 0.66).
    assert plain.certified and spline.certified and spline.setting == "relu-1d"
    assert spline.value < 0.2 * plain.value


def test_no_warning_where_biases_do_not_apply() -> None:
    x = np.linspace(-2, 2, 10)[:, None]
    y = x[:, 0] ** 2
    with warnings.catch_warnings(record=True) as quiet:
        warnings.simplefilter("always")
        dn.solve(x, y, beta=0.1, activation="linear")            # linear networks have no biases
        net = dn.solve(x, y, beta=0.1).network                    # (this one warns)
        dn.certify(net, x, y, beta=0.1)                           # certify judges the network given
    assert len(quiet) == 1 and "one feature" in str(quiet[0].message)


def test_demo_footer_explains_tol_p0_and_negative_gaps(capsys) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    footer = out[out.index("rel. gap: "):]
    assert "P(0) is the objective of the zero network" in footer
    assert "rel. gap <= tol (1e-6" in footer
    assert "negative rel. gap" in footer and "round-off" in footer
