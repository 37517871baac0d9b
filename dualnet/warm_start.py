"""A warm start is never lost: ``solve(init=net)`` returns a network at least as good as ``net``.

The two-layer setting seeds its convex program with the activation patterns of ``init``;
that restricted program contains ``init`` (each neuron, balanced, is one of its feasible
points with the same objective), so its optimum is no worse. A solve cut short by its time
budget, or a first-order master solved to a loose tolerance, can still return a network
slightly worse than ``init``: then ``init`` itself is returned, with its own dual point
joining the certificate's candidates.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .network import Network
from .problem import Fit, Problem

__all__ = ["no_worse_than_init"]


def no_worse_than_init(pb: Problem, fitted: Fit, scaling: Any = None) -> Fit:
    """``fitted``, or ``pb.options["init"]`` in its place when that network has a lower objective on ``pb``.

    ``scaling`` (a :class:`dualnet.scaling.Scaling`, or None) maps the user's network to the
    units ``pb`` is solved in.
    """
    init = pb.options.get("init")
    if init is None:
        return fitted
    from .settings.two_layer.cutting import as_network

    net = as_network(init, pb.X.shape[1])
    if scaling is not None:
        net = scaling.scaled_network(net)
    if net.depth != fitted.network.depth or net.n_outputs != pb.n_outputs or net.activation != pb.activation:
        return fitted
    if not pb.bias and any(b is not None for br in net.branches for _, b in br):
        return fitted                  # biases the problem does not have: another problem's network
    value = pb.loss.value(net.forward(pb.X), pb.Y) + net.penalty(pb.beta)
    mine = pb.loss.value(fitted.network.forward(pb.X), pb.Y) + fitted.network.penalty(pb.beta)
    if value >= mine:
        return fitted
    balanced: Network = net.balanced()           # same function, least weight decay
    info = {**fitted.info, "init_kept": f"init's objective {value:.10g} is below the solver's {mine:.10g}"}
    return replace(fitted, network=balanced, duals=[*fitted.duals, pb.loss.dual_point(balanced.forward(pb.X), pb.Y)],
                   method=f"{fitted.method}; init kept (better than the solver's network)", info=info,
                   precomputed=None)
