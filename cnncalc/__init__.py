"""cnncalc: shapes, parameters, costs and receptive fields of convolutional networks.

    import cnncalc
    net = cnncalc.load("examples/resnet50.yaml")
    print(cnncalc.summary(net).totals.params)     # 25557032
"""

from .api import Diagram, Summary, diagram, load, loads, sources, summary
from .errors import CnnError

__version__ = "0.1.0"
__all__ = ["CnnError", "Diagram", "Summary", "diagram", "load", "loads", "sources", "summary"]
