"""A small, thread-safe Prometheus registry (counters, gauges, histograms) written by hand.

Enough of the text exposition format (version 0.0.4) for ``GET /metrics`` without adding
``prometheus_client`` as a dependency: labelled counters, settable or computed gauges, and
cumulative histograms.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Labels = tuple[str, ...]
GaugeFunction = Callable[[], float | None]


def format_value(value: float) -> str:
    """A sample value as Prometheus writes it (integers without ``.0``, ±Inf, NaN)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(str(v))}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class _Metric:
    """Name, help text, label names and a lock shared by every metric type."""

    kind = "untyped"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)
        self._lock = threading.Lock()

    def _key(self, labelvalues: Sequence[str]) -> Labels:
        if len(labelvalues) != len(self.labelnames):
            raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {labelvalues}")
        return tuple(str(v) for v in labelvalues)

    def header(self) -> list[str]:
        """The ``# HELP`` and ``# TYPE`` lines."""
        help_text = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        return [f"# HELP {self.name} {help_text}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> list[str]:
        """The sample lines (overridden by each type)."""
        return []


class Counter(_Metric):
    """A monotonically increasing count per label set."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labelnames)
        self._values: dict[Labels, float] = {}

    def inc(self, *labelvalues: str, amount: float = 1.0) -> None:
        """Add ``amount`` (default 1) to the count of this label set."""
        key = self._key(labelvalues)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, *labelvalues: str) -> float:
        """The current count of a label set (0 if never incremented)."""
        with self._lock:
            return self._values.get(self._key(labelvalues), 0.0)

    def samples(self) -> list[str]:
        """One line per label set seen."""
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(self.labelnames, k)} {format_value(v)}" for k, v in items]


class Gauge(_Metric):
    """A value that goes up and down: set directly, or computed by a function at scrape time."""

    kind = "gauge"

    def __init__(
        self,
        name: str,
        help_text: str,
        labelnames: Sequence[str] = (),
        function: GaugeFunction | None = None,
    ) -> None:
        super().__init__(name, help_text, labelnames)
        self._values: dict[Labels, float] = {}
        self._function = function

    def set(self, value: float, *labelvalues: str) -> None:
        """Set the value of a label set."""
        key = self._key(labelvalues)
        with self._lock:
            self._values[key] = float(value)

    def inc(self, amount: float = 1.0, *labelvalues: str) -> None:
        """Add ``amount`` (negative to subtract)."""
        key = self._key(labelvalues)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def set_function(self, function: GaugeFunction | None) -> None:
        """Compute the (unlabelled) value at scrape time; None from it means no sample."""
        self._function = function

    def value(self, *labelvalues: str) -> float | None:
        """The current value of a label set (from the function when one is set)."""
        if self._function is not None and not labelvalues:
            return self._function()
        with self._lock:
            return self._values.get(self._key(labelvalues))

    def samples(self) -> list[str]:
        """One line per label set (or the function's value; nothing when it returns None)."""
        if self._function is not None:
            try:
                value = self._function()
            except Exception:  # a broken probe must not break the whole scrape
                return []
            return [] if value is None else [f"{self.name} {format_value(value)}"]
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(self.labelnames, k)} {format_value(v)}" for k, v in items]


class Histogram(_Metric):
    """Observations counted into cumulative buckets, with their sum and count."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> None:
        super().__init__(name, help_text, labelnames)
        self.buckets = tuple(sorted(buckets))
        self._counts: dict[Labels, list[int]] = {}
        self._sums: dict[Labels, float] = {}

    def observe(self, value: float, *labelvalues: str) -> None:
        """Record one observation."""
        key = self._key(labelvalues)
        with self._lock:
            counts = self._counts.setdefault(key, [0] * (len(self.buckets) + 1))
            slot = next((i for i, b in enumerate(self.buckets) if value <= b), len(self.buckets))
            counts[slot] += 1
            self._sums[key] = self._sums.get(key, 0.0) + value

    def count(self, *labelvalues: str) -> int:
        """How many observations a label set has."""
        with self._lock:
            return sum(self._counts.get(self._key(labelvalues), ()))

    def samples(self) -> list[str]:
        """``_bucket`` lines (cumulative, ending in +Inf), then ``_sum`` and ``_count``."""
        lines: list[str] = []
        with self._lock:
            items = sorted((k, list(v), self._sums[k]) for k, v in self._counts.items())
        for key, counts, total in items:
            running = 0
            for bound, n in zip((*self.buckets, math.inf), counts, strict=True):
                running += n
                le = f'le="{format_value(bound)}"'
                lines.append(
                    f"{self.name}_bucket{_labels(self.labelnames, key, le)} {format_value(running)}"
                )
            lines.append(f"{self.name}_sum{_labels(self.labelnames, key)} {format_value(total)}")
            lines.append(f"{self.name}_count{_labels(self.labelnames, key)} {running}")
        return lines


M = TypeVar("M", bound=_Metric)


class Registry:
    """The metrics of one process, in registration order; ``render`` is the /metrics body."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._lock = threading.Lock()

    def register(self, metric: M) -> M:
        """Add a metric, or return the one already registered under that name and type."""
        with self._lock:
            known = self._metrics.get(metric.name)
            if known is None:
                self._metrics[metric.name] = metric
                return metric
        if type(known) is not type(metric) or known.labelnames != metric.labelnames:
            raise ValueError(f"metric {metric.name} is already registered differently")
        return known  # type: ignore[return-value]

    def counter(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> Counter:
        """Register (or fetch) a counter."""
        return self.register(Counter(name, help_text, labelnames))

    def gauge(
        self,
        name: str,
        help_text: str,
        labelnames: Sequence[str] = (),
        function: GaugeFunction | None = None,
    ) -> Gauge:
        """Register (or fetch) a gauge."""
        return self.register(Gauge(name, help_text, labelnames, function))

    def histogram(
        self,
        name: str,
        help_text: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> Histogram:
        """Register (or fetch) a histogram."""
        return self.register(Histogram(name, help_text, labelnames, buckets))

    def get(self, name: str) -> _Metric | None:
        """A registered metric by name."""
        with self._lock:
            return self._metrics.get(name)

    def render(self) -> str:
        """Every metric in the Prometheus text format."""
        with self._lock:
            metrics = list(self._metrics.values())
        lines: list[str] = []
        for metric in metrics:
            lines.extend(metric.header())
            lines.extend(metric.samples())
        return "\n".join(lines) + "\n"
