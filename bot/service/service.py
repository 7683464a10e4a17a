"""The service layer every front end shares.

It holds the current :class:`~bot.core.pipeline.engine.Engine` (swapped atomically by
:meth:`Service.reindex`; questions in flight keep the engine they started with), the question
log and the metrics. The async front ends answer a question on the event loop when the engine
answers quickly (the hop to a worker thread then costs more than it saves) and in a worker thread
otherwise, so the loop stays responsive with a large index. No HTTP or Discord code here.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.answer import Answer
from bot.core.build import BuildReport, build_index, describe_build
from bot.core.index import load_index
from bot.core.lru import LruMap
from bot.core.pipeline.engine import Engine, Tuning
from bot.core.pipeline.semantic import SemanticSettings
from bot.core.sources import SourceMeta
from bot.errors import BadInput, Unavailable
from bot.service.limits import DEFAULT_K, DEFAULT_LIMITS, Limits
from bot.service.questionlog import QuestionLog
from bot.service.votes import Vote

if TYPE_CHECKING:  # imported where used: a one-shot CLI question needs none of them
    import asyncio  # (~25 ms of start-up with the ssl, socket and subprocess it imports)

    from prometheus_client import Gauge

    from bot.service.metrics import ServiceMetrics
    from bot.service.settings import Settings

logger = logging.getLogger(__name__)

OUTCOMES = ("answered", "abstained", "rejected", "error")
DEFAULT_CACHE_SIZE = 1024
# The async front ends answer on the event loop while the engine's recent answers took less than
# this much CPU each: about what one slow callback may hold the loop, far longer than the hop to a
# thread costs (~0.2 ms), and a large index (several ms an answer) still goes to the thread.
INLINE_SECONDS = 0.002
_SMOOTHING = 0.1  # weight of the latest answer in the running estimate of the engine's time
BATCH_SECONDS = 0.005  # how long one callback may answer queued questions before yielding

_CacheKey = tuple[str, int, int, str | None]


@dataclass(frozen=True)
class Request:
    """One question as a front end hands it to the service (``k`` and ``offset`` not yet checked).

    ``frontend`` names the front end in metrics and the question log; ``user_id`` is hashed
    before it is logged; ``limits`` are the front end's (Discord's are stricter than the CLI's).
    """

    question: str
    frontend: str
    k: int = DEFAULT_K
    user_id: str | int | None = None
    context: str | None = None
    offset: int = 0
    limits: Limits = DEFAULT_LIMITS


# A request waiting to be answered on the event loop: when it was handed in, and its future.
_Queued = tuple[Request, float, "asyncio.Future[tuple[Engine, Answer]]"]


@dataclass(frozen=True)
class IndexInfo:
    """What a health check or a metric says of the loaded index."""

    passages: int
    sources: int
    built_at: str | None  # ISO 8601, from the manifest
    generation: str | None

    @property
    def built_timestamp(self) -> float | None:
        """``built_at`` as Unix time (None when unknown or unreadable)."""
        try:
            return dt.datetime.fromisoformat(self.built_at).timestamp() if self.built_at else None
        except ValueError:
            return None


def _paths(
    settings: Settings | None, sources: Path | None, index: Path | None
) -> tuple[Path, Path]:
    """The sources and index folders: as given, else the settings'."""
    if settings is not None:
        return sources or settings.sources, index or settings.index
    if sources is None or index is None:
        raise ValueError("a Service without settings needs its sources and index folders")
    return sources, index


def _generation(engine: Engine) -> str | None:
    return str(engine.index.manifest.get("generation", "")) or None


class _InFlight:
    """A reusable ``with`` block that counts what runs inside it in a gauge (None: nowhere); a
    request queued on the loop is counted from ``begin`` to ``end`` instead."""

    __slots__ = ("gauge",)

    def __init__(self, gauge: Gauge | None) -> None:
        self.gauge = gauge

    def begin(self) -> None:
        """One more in flight (what entering the block does)."""
        if self.gauge is not None:
            self.gauge.inc()

    def end(self) -> None:
        """One fewer in flight (what leaving the block does)."""
        if self.gauge is not None:
            self.gauge.dec()

    def __enter__(self) -> None:
        self.begin()

    def __exit__(self, *exc: object) -> None:
        self.end()


class ServiceUnavailable(Unavailable):
    """No index is loaded yet (or any more); the message says why."""


class Service:
    """The engine, question log and metrics behind every front end; ask and reindex go here."""

    def __init__(
        self,
        settings: Settings | None,
        *,
        engine: Engine | None,
        sources: Path | None = None,
        index: Path | None = None,
        question_log: QuestionLog | None = None,
        tuning: Tuning | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
        counted: bool = True,
    ) -> None:
        """``settings`` may be None when ``sources`` and ``index`` are given (the CLI without a
        settings file); ``counted=False`` keeps no metrics (a process that ends at once)."""
        self.settings = settings
        self.sources_dir, self.index_dir = _paths(settings, sources, index)
        self.tuning = tuning or (engine.tuning if engine else Tuning())
        self.question_log = question_log or QuestionLog(None)
        self._engine = engine
        self._unavailable = "the index is not loaded yet"
        self._reindex_lock: asyncio.Lock | None = None  # made by the first reindex
        # Answers stay right while their engine is current: entries hold the engine that made them.
        self.cache: LruMap[_CacheKey, tuple[Engine, Answer]] = LruMap(cache_size)
        # Engine work for the async front ends: one thread (started on first use) answers in
        # turn; more threads would only contend for the interpreter lock.
        self.answers = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsbot-answer")
        self.inline_seconds = INLINE_SECONDS  # 0: engine work always goes to the answer thread
        # CPU seconds an engine answer takes, smoothed; it starts at the limit, so the first
        # answer goes to the thread and is measured there.
        self.engine_seconds = INLINE_SECONDS
        self.counted = counted
        self._metrics: ServiceMetrics | None = None
        self._tracker: _InFlight | None = None
        self._batch: list[_Queued] = []  # requests waiting to be answered on the loop
        self._batch_loop: asyncio.AbstractEventLoop | None = None
        self._waiting: list[str] = []  # questions sent to the answer thread, not yet primed
        self._waiting_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        settings: Settings | None,
        sources: Path | None = None,
        index: Path | None = None,
        *,
        tuning: Tuning | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
        notify: Callable[[str], None] = logger.info,
        counted: bool = True,
    ) -> Service:
        """Open the engine (rebuilding a missing or stale index) and the question log. Blocking.

        ``notify`` hears about a rebuild on the way (the CLI prints it on stderr); without
        ``settings`` nothing is logged.
        """
        sources, index = _paths(settings, sources, index)
        configured = settings.semantic if settings is not None else "auto"
        tuning = tuning or Tuning(semantic=SemanticSettings.chosen(configured))
        engine = Engine.open(sources, index, tuning, notify=notify)
        engine.warm()
        log = QuestionLog.from_settings(settings.question_log) if settings else None
        return cls(
            settings,
            engine=engine,
            sources=sources,
            index=index,
            question_log=log,
            cache_size=cache_size,
            counted=counted,
        )

    @property
    def metrics(self) -> ServiceMetrics:
        """The Prometheus metrics, made on first use (prometheus_client is imported then)."""
        if self._metrics is None:
            from bot.service.metrics import ServiceMetrics

            self._metrics = ServiceMetrics(self.index_info, lambda: self.question_log)
        return self._metrics

    @property
    def current_engine(self) -> Engine | None:
        """The engine now in use, or None before one is loaded."""
        return self._engine

    @property
    def engine(self) -> Engine:
        """The engine now in use; ServiceUnavailable when there is none."""
        engine = self._engine
        if engine is None:
            raise ServiceUnavailable(self._unavailable)
        return engine

    def health(self) -> tuple[bool, str]:
        """(ok, reason): ok when an index is loaded and its arrays still pass the cheap checks."""
        engine = self._engine
        if engine is None:
            return False, self._unavailable
        problem = engine.index.health()
        if problem is not None:
            return False, f"the index fails verification: {problem}"
        return True, f"index loaded: {engine.index.size} passages"

    def index_info(self) -> IndexInfo | None:
        """Size and build of the loaded index, or None before one is loaded."""
        engine = self._engine
        if engine is None:
            return None
        built = engine.index.manifest.get("built_at")
        return IndexInfo(
            passages=engine.index.size,
            sources=len(engine.index.sources),
            built_at=str(built) if built else None,
            generation=_generation(engine),
        )

    def sources(self) -> list[SourceMeta]:
        """The corpus metadata of the current index."""
        return self.engine.sources()

    async def load(self) -> None:
        """Load the engine in a worker thread (for a Service made with ``engine=None``)."""
        import asyncio

        try:
            engine = await asyncio.to_thread(
                Engine.open, self.sources_dir, self.index_dir, self.tuning, logger.info
            )
        except Exception as exc:
            self._unavailable = f"the index could not be loaded: {exc}"
            raise
        self._engine = engine

    def unload(self, reason: str) -> None:
        """Drop the engine so health checks fail and questions get ServiceUnavailable."""
        self._unavailable = reason
        self._engine = None

    def answer(self, request: Request) -> Answer:
        """Answer one request: checked against its limits, from the cache or the engine, counted
        and logged. Blocking (the CLI calls it directly; the async front ends use :meth:`ask`).

        Raises BadInput (QuestionError, QuestionTooLong, ``k`` out of range) for a request that
        cannot be searched, logged as rejected, and ServiceUnavailable when no index is loaded.
        """
        return self.answer_with_engine(request)[1]

    def answer_with_engine(self, request: Request) -> tuple[Engine, Answer]:
        """:meth:`answer`, also returning the engine that answered (whose passage ids it uses)."""
        with self._in_flight():
            return self._answer(request, time.perf_counter())

    async def ask(self, request: Request) -> Answer:
        """:meth:`answer` for the async front ends (see :meth:`ask_with_engine`)."""
        return (await self.ask_with_engine(request))[1]

    async def ask_with_engine(self, request: Request) -> tuple[Engine, Answer]:
        """:meth:`answer_with_engine` without holding the event loop long (see :meth:`submit`)."""
        return await self.submit(request)

    def submit(self, request: Request) -> asyncio.Future[tuple[Engine, Answer]]:
        """The future of :meth:`ask_with_engine`'s result, with no task made when it can be
        answered on the loop (a front end may wait for it with a callback instead of a task).

        When the engine's answers take under ``inline_seconds`` of CPU, the request is answered
        on the event loop, together with the others that arrived with it (the hop to a worker
        thread would cost more than it saves). Otherwise a cheap request (answered from the
        cache, or refused by the limits) is handled at once and the engine runs in a worker
        thread (the request is in flight while it waits for one). Call it on the event loop.
        """
        import asyncio

        loop = asyncio.get_running_loop()
        if self.engine_seconds < self.inline_seconds:
            return self._in_batch(loop, request, time.perf_counter())
        return loop.create_task(self._ask_off_loop(loop, request))

    async def _ask_off_loop(
        self, loop: asyncio.AbstractEventLoop, request: Request
    ) -> tuple[Engine, Answer]:
        """A cheap request answered here, any other in the answer thread; in flight meanwhile."""
        with self._in_flight():
            began = time.perf_counter()
            if self._cheap(request):
                return self._answer(request, began)
            with self._waiting_lock:
                self._waiting.append(request.question)
            return await loop.run_in_executor(self.answers, self._answer_queued, request, began)

    def _answer_queued(self, request: Request, began: float) -> tuple[Engine, Answer]:
        """:meth:`_answer` in the answer thread, with the questions queued since the last one
        prepared together first (``Engine.prime``: one batch through the embedding model costs
        far less than one question at a time)."""
        with self._waiting_lock:
            waiting, self._waiting = self._waiting, []
        engine = self._engine
        if engine is not None and len(waiting) > 1:
            engine.prime(waiting)
        return self._answer(request, began)

    def _in_batch(
        self, loop: asyncio.AbstractEventLoop, request: Request, began: float
    ) -> asyncio.Future[tuple[Engine, Answer]]:
        """Queue a request to be answered on the loop, right after the others that arrived with it
        (one callback answers them back to back: the engine's caches stay warm between them,
        which saves more than the future costs). It is in flight until answered."""
        self._in_flight().begin()
        future: asyncio.Future[tuple[Engine, Answer]] = loop.create_future()
        batch = self._batch
        if not batch or self._batch_loop is not loop:
            batch = self._batch = []
            self._batch_loop = loop
            loop.call_soon(self._answer_batch, batch)
        batch.append((request, began, future))
        return future

    def _answer_batch(self, batch: list[_Queued]) -> None:
        """Answer (count and log) every queued request, even one whose asker has gone; after
        ``BATCH_SECONDS`` the rest waits for the next callback, so the loop is never held long
        (a cold engine's first answers take longer than its estimate says)."""
        if self._batch is batch:
            self._batch = []
        deadline = time.perf_counter() + BATCH_SECONDS
        in_flight = self._in_flight()
        for n, (request, began, future) in enumerate(batch, 1):
            try:
                result = self._answer(request, began)
            except Exception as exc:
                if not future.cancelled():
                    future.set_exception(exc)
            else:
                if not future.cancelled():
                    future.set_result(result)
            finally:
                in_flight.end()
            if n < len(batch) and time.perf_counter() > deadline:
                import asyncio

                asyncio.get_running_loop().call_soon(self._answer_batch, batch[n:])
                return

    def _key(self, request: Request) -> _CacheKey:
        """The cache key of a request, its question and numbers checked against its limits."""
        limits = request.limits
        question = limits.question(request.question)
        k, offset = limits.k(request.k), limits.offset(request.offset)
        return question, k, offset, request.context

    def _cheap(self, request: Request) -> bool:
        """Whether the request needs no engine work: its answer is cached, or it is refused."""
        try:
            found = self.cache.get(self._key(request))
        except BadInput:
            return True
        return found is not None and found[0] is self._engine

    def _in_flight(self) -> _InFlight:
        """A ``with`` block counting the request in the in-flight gauge while it is handled."""
        tracker = self._tracker
        if tracker is None:
            tracker = self._tracker = _InFlight(self.metrics.in_flight if self.counted else None)
        return tracker

    def _answer(self, request: Request, began: float) -> tuple[Engine, Answer]:
        """Check, answer, count and log one request (``began``: when it was handed in)."""
        engine = self.engine
        metrics = self.metrics if self.counted else None
        answer: Answer | None = None
        cached = False
        lookup: str | None = None  # "hit" or "miss" once the cache was asked
        error: str | None = None
        outcome = "error"
        try:
            key = self._key(request)
            question, k, offset, _ = key
            found = self.cache.get(key)
            if found is not None and found[0] is engine:
                answer, cached, lookup = found[1], True, "hit"
            else:
                lookup = "miss"
                cpu = time.thread_time()
                answer = engine.ask(question, k, context=request.context, offset=offset)
                took = time.thread_time() - cpu
                self.engine_seconds += (took - self.engine_seconds) * _SMOOTHING
                self.cache[key] = (engine, answer)
            outcome = "answered" if answer.answered else "abstained"
            return engine, answer
        except BadInput as exc:
            outcome, error = "rejected", str(exc)
            raise
        except Exception as exc:
            error = f"internal error: {type(exc).__name__}"
            raise
        finally:
            seconds = time.perf_counter() - began
            if metrics is not None:
                metrics.count(request.frontend, outcome, seconds, lookup)
            self.question_log.record(
                frontend=request.frontend,
                user_id=request.user_id,
                question=request.question,
                answer=answer,
                latency_ms=seconds * 1000,
                k=request.k,
                offset=request.offset,
                context=request.context,
                error=error,
                index=_generation(engine),
                cached=cached,
            )

    def surrounding(self, engine: Engine, passage_id: int) -> list[tuple[int, str]]:
        """A quoted passage with its neighbours, from the engine that quoted it (its ids)."""
        return engine.surrounding(passage_id)

    def record_vote(self, vote: Vote, engine: Engine | None) -> None:
        """Log a vote on an answer made by ``engine`` (the last per user counts) and count it."""
        generation = _generation(engine) if engine is not None else None
        self.question_log.record_vote(replace(vote, index=generation))
        if self.counted:
            self.metrics.votes.labels(vote.frontend, vote.vote).inc()

    async def reindex(self) -> BuildReport:
        """Rebuild the index from the sources in a thread, then swap in a new engine atomically.

        Rebuilds are serialised; if one fails, the current engine stays in use.
        """
        import asyncio

        if self._reindex_lock is None:
            self._reindex_lock = asyncio.Lock()
        async with self._reindex_lock:
            try:
                report = await asyncio.to_thread(
                    build_index,
                    self.sources_dir,
                    self.index_dir,
                    self.tuning.bm25,
                    on_problem=lambda p: logger.warning("%s", p),
                    extras=Engine.extras(self.tuning),
                )
                index = await asyncio.to_thread(load_index, self.index_dir)
                engine = await asyncio.to_thread(Engine.over, index, self.tuning)
            except Exception:
                self.metrics.reindexes.labels("failed").inc()
                raise
            self._engine = engine  # one reference swap: questions in flight keep the old engine
            self.cache.clear()
            self.metrics.reindexes.labels("ok").inc()
            self.metrics.last_build_seconds.set(report.seconds)
            logger.info("reindexed: %s", describe_build(report))
            return report

    def close(self) -> None:
        """Finish the answers under way, flush and close the question log (blocking)."""
        self.answers.shutdown(wait=True)
        self.question_log.close()

    async def aclose(self) -> None:
        """:meth:`close` without blocking the event loop."""
        import asyncio

        await asyncio.to_thread(self.close)
