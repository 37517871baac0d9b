"""dualnet: globally optimal weight-decay-regularized neural networks, with a certificate.

Implements the convex duality of Ergen & Pilanci, "Revealing the Structure of Deep Neural
Networks via Convex Duality" (ICML 2021). See ``dualnet.solve`` to start.
"""

from .api import certify, dual_program, path, solve
from .results import Path, Solution
from .certificate import Certificate
from .convention import Convention, beta_from_torch
from .collapse import CollapseMetrics, collapse_metrics
from .errors import DualnetError, InputError, PerformanceWarning, SettingError, SolverError
from .linalg import whiten
from .losses import LOSSES, Loss
from .network import Network
from .problem import DualProgram
from .settings.spline import Interpolant, min_norm_interpolant

__version__ = "0.1.0"

__all__ = [
    "LOSSES",
    "Certificate",
    "CollapseMetrics",
    "Convention",
    "DualProgram",
    "DualnetError",
    "InputError",
    "Interpolant",
    "Loss",
    "Network",
    "Path",
    "PerformanceWarning",
    "SettingError",
    "Solution",
    "SolverError",
    "__version__",
    "beta_from_torch",
    "certify",
    "collapse_metrics",
    "dual_program",
    "min_norm_interpolant",
    "path",
    "solve",
    "whiten",
]
