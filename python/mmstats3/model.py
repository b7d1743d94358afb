"""The original mmstats's model style: a class whose attributes are
fields, one stats file per instance (or fields added to a given writer).

    class WebStats(mmstats3.Model):
        requests = mmstats3.CounterField(units="requests")
        latency = mmstats3.TimerField()
        workers = mmstats3.GaugeField()
        phase = mmstats3.StringField(capacity=32)

    stats = WebStats(label="web")       # keyword arguments of Writer
    stats.requests.inc()
    with stats.latency: ...
    stats.workers = 4                   # value fields: assign to set
    stats.phase = "serving"

Field names are the attribute names (or NAME=...), under PREFIX (an
argument of the model, e.g. "web" for "web.requests").
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from .writer import Writer

__all__ = ["Model", "CounterField", "GaugeField", "FloatField",
           "StringField", "ScalarField", "HistogramField", "TimerField",
           "MovingAverageField", "IntField", "AverageField"]


class _Desc:
    method = ""
    settable = False

    def __init__(self, name: Optional[str] = None, **kw: Any) -> None:
        self.name, self.kw, self.attr = name, kw, ""

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr

    def __get__(self, obj: Any, owner: Optional[type] = None) -> Any:
        if obj is None:
            return self
        return obj._mms_fields[self.attr]

    def __set__(self, obj: Any, value: Any) -> None:
        if not self.settable:
            raise AttributeError("%s: a %s is updated through its methods" %
                                 (self.attr, type(self).__name__))
        obj._mms_fields[self.attr].set(value)

    def make(self, w: Writer, prefix: Optional[str]) -> Any:
        name = self.name or self.attr
        if prefix:
            name = prefix + "." + name
        return getattr(w, self.method)(name, **self.kw)


class CounterField(_Desc):
    method = "counter"


class GaugeField(_Desc):
    method, settable = "gauge", True


class FloatField(_Desc):
    method, settable = "float_gauge", True


class StringField(_Desc):
    method, settable = "string", True


class ScalarField(_Desc):
    """ScalarField("u32"), ScalarField("bool"), ...: see Writer.scalar."""
    method, settable = "scalar", True

    def __init__(self, type: str, name: Optional[str] = None,
                 **kw: Any) -> None:
        super().__init__(name, type=type, **kw)


class HistogramField(_Desc):
    method = "histogram"


class TimerField(_Desc):
    method = "timer"


class MovingAverageField(_Desc):
    method = "moving_average"


IntField = GaugeField          # the original mmstats's names
AverageField = MovingAverageField


class Model:
    """Base class of a model: see the module's docstring. WRITER: add the
    fields to that writer (else a new Writer(**writer_kwargs), closed by
    close()); PREFIX: put the fields under PREFIX."""

    def __init__(self, writer: Optional[Writer] = None,
                 prefix: Optional[str] = None, **writer_kwargs: Any) -> None:
        self._mms_own = writer is None
        self.writer = writer or Writer(**writer_kwargs)
        self._mms_fields: Dict[str, Any] = {}
        for cls in reversed(type(self).__mro__):
            for attr, d in vars(cls).items():
                if isinstance(d, _Desc):
                    self._mms_fields[attr] = d.make(self.writer, prefix)

    def close(self) -> None:
        """Close the writer if the model opened it."""
        if self._mms_own:
            self.writer.close()

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
