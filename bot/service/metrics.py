"""The service's Prometheus metrics, kept by prometheus_client in one registry per Service.

:class:`Registry` creates each metric once by name (front ends add their own, such as HTTP request
counts, without clashing when an app is made twice); gauges that describe the loaded index are
read at scrape time through ``set_function``; ``render`` is the ``GET /metrics`` body.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from bot import __version__

if TYPE_CHECKING:
    from bot.service.questionlog import QuestionLog
    from bot.service.service import IndexInfo

# generate_latest writes the classic text format (our names are all legacy-valid ASCII).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created

M = TypeVar("M", Counter, Gauge, Histogram)


class Registry:
    """A CollectorRegistry whose metrics are made once per name and fetched after that."""

    def __init__(self) -> None:
        self.collectors = CollectorRegistry()
        self._made: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _make(
        self, kind: type[M], name: str, help_text: str, labels: Sequence[str], **kw: Any
    ) -> M:
        with self._lock:
            known = self._made.get(name)
            if known is None:
                known = kind(name, help_text, labels, registry=self.collectors, **kw)
                self._made[name] = known
        if not isinstance(known, kind):
            raise ValueError(f"metric {name} is already registered as another type")
        return known

    def counter(self, name: str, help_text: str, labels: Sequence[str] = ()) -> Counter:
        """The counter called ``name`` (made on first use)."""
        return self._make(Counter, name, help_text, labels)

    def gauge(self, name: str, help_text: str, labels: Sequence[str] = ()) -> Gauge:
        """The gauge called ``name`` (made on first use)."""
        return self._make(Gauge, name, help_text, labels)

    def histogram(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> Histogram:
        """The histogram called ``name`` (made on first use)."""
        return self._make(Histogram, name, help_text, labels, buckets=buckets)

    def value(self, name: str, **labels: str) -> float | None:
        """One sample's current value (None when it has none), as a scrape would show it."""
        return self.collectors.get_sample_value(name, labels)

    def render(self) -> bytes:
        """Every metric in the Prometheus text format."""
        return prometheus_client.generate_latest(self.collectors)


class _Dropped(Collector):
    """``newsbot_question_log_dropped_total``: read from the question log at scrape time."""

    def __init__(self, log: Callable[[], QuestionLog]) -> None:
        self._log = log

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "newsbot_question_log_dropped",
            "Question log entries lost to write errors or a full queue.",
            value=self._log().dropped,
        )


_Children = tuple[Counter, Histogram | None, Counter | None]  # questions, latency, cache lookups


class ServiceMetrics:
    """The metrics of the question service; front ends add their own to ``registry``."""

    def __init__(
        self, index: Callable[[], IndexInfo | None], question_log: Callable[[], QuestionLog]
    ) -> None:
        reg = self.registry = Registry()
        reg.gauge("newsbot_build_info", "Version of newsbot.", ("version",)).labels(
            __version__
        ).set(1)
        self.questions = reg.counter(
            "newsbot_questions_total",
            "Questions by front end and outcome (answered, abstained, rejected, error).",
            ("frontend", "outcome"),
        )
        self.latency = reg.histogram(
            "newsbot_question_latency_seconds",
            "Time to answer a question, including the hop to the worker thread.",
            ("frontend",),
        )
        self.in_flight = reg.gauge(
            "newsbot_questions_in_flight", "Questions being answered right now."
        )
        self.reindexes = reg.counter(
            "newsbot_reindex_total", "Index rebuilds requested through the service.", ("result",)
        )
        self.cache = reg.counter(
            "newsbot_answer_cache_total", "Answer cache lookups by result (hit, miss).", ("result",)
        )
        self.last_build_seconds = reg.gauge(
            "newsbot_index_last_build_seconds", "Duration of the last rebuild done by the service."
        )
        self.votes = reg.counter(
            "newsbot_answer_votes_total",
            "Votes on answers by front end and vote.",
            ("frontend", "vote"),
        )

        def of_index(read: Callable[[IndexInfo], float | None]) -> Callable[[], float]:
            return lambda: 0.0 if (info := index()) is None else float(read(info) or 0.0)

        index_gauges: dict[str, tuple[str, Callable[[IndexInfo], float | None]]] = {
            "newsbot_index_loaded": ("1 when an index is loaded.", lambda i: 1.0),
            "newsbot_index_passages": ("Passages in the loaded index.", lambda i: i.passages),
            "newsbot_index_sources": ("Sources in the loaded index.", lambda i: i.sources),
            "newsbot_index_built_timestamp_seconds": (
                "When the loaded index was built (Unix time, from its manifest; 0 if unknown).",
                lambda i: i.built_timestamp,
            ),
        }
        for name, (help_text, read) in index_gauges.items():
            reg.gauge(name, help_text).set_function(of_index(read))
        reg.collectors.register(_Dropped(question_log))
        # The labelled children each kind of question updates, looked up once: ``labels()``
        # takes a lock and builds a key every time.
        self._children: dict[tuple[str, str, str | None], _Children] = {}

    def count(self, frontend: str, outcome: str, seconds: float, lookup: str | None) -> None:
        """Count one question: its outcome, its latency (when answered or declined) and the
        answer cache's ``lookup`` ("hit", "miss", or None when the question never got that far)."""
        key = (frontend, outcome, lookup)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = self._children_of(*key)
        questions, latency, cache = children
        questions.inc()
        if latency is not None:
            latency.observe(seconds)
        if cache is not None:
            cache.inc()

    def _children_of(self, frontend: str, outcome: str, lookup: str | None) -> _Children:
        timed = outcome in ("answered", "abstained")
        return (
            self.questions.labels(frontend, outcome),
            self.latency.labels(frontend) if timed else None,
            self.cache.labels(lookup) if lookup is not None else None,
        )
