"""mmstats3: live stats of a running program in a memory-mapped file.

Read any program's stats files (mmstats3.open, list_dir, watch: the
standard library only), and keep a Python program's own stats (Writer,
Model: through libmmstats with ctypes). Named mmstats3 for the file
format's version 3 and so as not to collide with the 2013 PyPI project
`mmstats`. Documented in docs/python.md of the mmstats sources.
"""

from .reader import (FileInfo, Stats, StatsError, default_dir, delta,
                     list_dir, open, rollups, snapshot, values, watch)
from .writer import (Counter, FloatGauge, Gauge, Histogram, MmstatsError,
                     MovingAverage, Scalar, String, Struct, Table, Timer,
                     Writer, load_library)
from .model import (AverageField, CounterField, FloatField, GaugeField,
                    HistogramField, IntField, Model, MovingAverageField,
                    ScalarField, StringField, TimerField)

__version__ = "0.1.0"

__all__ = [
    "open", "snapshot", "values", "list_dir", "watch", "delta", "rollups",
    "default_dir", "Stats", "FileInfo", "StatsError",
    "Writer", "MmstatsError", "load_library", "Counter", "Gauge",
    "FloatGauge", "Scalar", "String", "Histogram", "Timer",
    "MovingAverage", "Struct", "Table",
    "Model", "CounterField", "GaugeField", "IntField", "FloatField",
    "StringField", "ScalarField", "HistogramField", "TimerField",
    "MovingAverageField", "AverageField",
]
