"""What a network computes, as frozen records of plain numbers: shapes, parameters, costs,
memory (summary), receptive fields (field), and the homework working (homework)."""

from .field import FieldTracker, ReceptiveField
from .summary import Row, Summary, Totals, analyse, fold

__all__ = ["FieldTracker", "ReceptiveField", "Row", "Summary", "Totals", "analyse", "fold"]
