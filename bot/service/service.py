"""The service layer every front end shares.

It holds the current :class:`~bot.core.pipeline.engine.Engine` (swapped atomically by
:meth:`Service.reindex`; questions in flight keep the engine they started with), the question
log and the metrics. All retrieval runs in worker threads so the event loop stays responsive.
No HTTP or Discord code here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from pathlib import Path

from bot.core.answer import Answer
from bot.core.build import BuildReport, build_index, describe_build
from bot.core.index import load_index
from bot.core.lru import LruMap
from bot.core.pipeline.engine import Engine, QuestionError, Tuning
from bot.core.sources import SourceMeta
from bot.errors import Unavailable
from bot.service.metrics import ServiceMetrics
from bot.service.questionlog import QuestionLog
from bot.service.settings import Settings
from bot.service.votes import Vote

logger = logging.getLogger(__name__)

OUTCOMES = ("answered", "abstained", "rejected", "error")
DEFAULT_CACHE_SIZE = 1024

_CacheKey = tuple[str, int, int, str | None]


class ServiceUnavailable(Unavailable):
    """No index is loaded yet (or any more); the message says why."""


class Service:
    """The engine, question log and metrics behind every front end; ask and reindex go here."""

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine | None,
        sources: Path | None = None,
        index: Path | None = None,
        question_log: QuestionLog | None = None,
        tuning: Tuning | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self.settings = settings
        self.sources_dir = sources or settings.sources
        self.index_dir = index or settings.index
        self.tuning = tuning or (engine.tuning if engine else Tuning())
        self.question_log = question_log or QuestionLog(None)
        self._engine = engine
        self._unavailable = "the index is not loaded yet"
        self._reindex_lock = asyncio.Lock()
        # Answers stay right while their engine is current: entries hold the engine that made them.
        self.cache: LruMap[_CacheKey, tuple[Engine, Answer]] = LruMap(cache_size)
        self.metrics = ServiceMetrics(lambda: self._engine, lambda: self.question_log)

    @classmethod
    def open(
        cls,
        settings: Settings,
        sources: Path | None = None,
        index: Path | None = None,
        *,
        tuning: Tuning | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> Service:
        """Open the engine (rebuilding a missing or stale index) and the question log. Blocking."""
        sources = sources or settings.sources
        index = index or settings.index
        engine = Engine.open(sources, index, tuning, notify=logger.info)
        log = QuestionLog.from_settings(settings.question_log)
        return cls(
            settings,
            engine=engine,
            sources=sources,
            index=index,
            question_log=log,
            cache_size=cache_size,
        )

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
        """(ok, reason): ok when an index is loaded."""
        engine = self._engine
        if engine is None:
            return False, self._unavailable
        return True, f"index loaded: {engine.index.size} passages"

    def sources(self) -> list[SourceMeta]:
        """The corpus metadata of the current index."""
        return self.engine.sources()

    async def load(self) -> None:
        """Load the engine in a worker thread (for a Service made with ``engine=None``)."""
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

    async def ask(
        self,
        question: str,
        *,
        k: int,
        frontend: str,
        user_id: str | int | None,
        context: str | None = None,
        offset: int = 0,
    ) -> Answer:
        """Answer (from the cache, or the engine in a worker thread), then record metrics and log.

        Raises QuestionError for a question that cannot be searched (logged as rejected) and
        ServiceUnavailable when no index is loaded.
        """
        _, answer = await self.ask_with_engine(
            question, k=k, frontend=frontend, user_id=user_id, context=context, offset=offset
        )
        return answer

    async def ask_with_engine(
        self,
        question: str,
        *,
        k: int,
        frontend: str,
        user_id: str | int | None,
        context: str | None = None,
        offset: int = 0,
    ) -> tuple[Engine, Answer]:
        """:meth:`ask`, also returning the engine that answered (whose passage ids it uses)."""
        engine = self.engine
        metrics = self.metrics
        metrics.in_flight.inc()
        began = time.perf_counter()
        key: _CacheKey = (question, k, offset, context)
        found = self.cache.get(key)
        answer = found[1] if found is not None and found[0] is engine else None
        cached = answer is not None
        error: str | None = None
        outcome = "error"
        try:
            if answer is None:
                metrics.cache.labels("miss").inc()
                answer = await asyncio.to_thread(
                    engine.ask, question, k, context=context, offset=offset
                )
                self.cache[key] = (engine, answer)
            else:
                metrics.cache.labels("hit").inc()
            outcome = "answered" if answer.answered else "abstained"
            return engine, answer
        except QuestionError as exc:
            outcome, error = "rejected", str(exc)
            raise
        except Exception as exc:
            error = f"internal error: {type(exc).__name__}"
            raise
        finally:
            seconds = time.perf_counter() - began
            metrics.in_flight.dec()
            metrics.questions.labels(frontend, outcome).inc()
            if outcome in ("answered", "abstained"):
                metrics.latency.labels(frontend).observe(seconds)
            self.question_log.record(
                frontend=frontend,
                user_id=user_id,
                question=question,
                answer=answer,
                latency_ms=seconds * 1000,
                k=k,
                offset=offset,
                context=context,
                error=error,
                index=str(engine.index.manifest.get("generation", "")) or None,
                cached=cached,
            )

    def record_vote(self, vote: Vote, engine: Engine | None) -> None:
        """Log a vote on an answer made by ``engine`` (the last per user counts) and count it."""
        generation = engine.index.manifest.get("generation") if engine is not None else None
        self.question_log.record_vote(replace(vote, index=str(generation) if generation else None))
        self.metrics.votes.labels(vote.frontend, vote.vote).inc()

    async def reindex(self) -> BuildReport:
        """Rebuild the index from the sources in a thread, then swap in a new engine atomically.

        Rebuilds are serialised; if one fails, the current engine stays in use.
        """
        async with self._reindex_lock:
            try:
                report = await asyncio.to_thread(
                    build_index,
                    self.sources_dir,
                    self.index_dir,
                    self.tuning.bm25,
                    on_problem=lambda p: logger.warning("%s", p),
                )
                index = await asyncio.to_thread(load_index, self.index_dir)
                engine = await asyncio.to_thread(Engine, index, None, self.tuning)
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
        """Flush and close the question log (blocking; see :meth:`aclose`)."""
        self.question_log.close()

    async def aclose(self) -> None:
        """Flush and close the question log without blocking the event loop."""
        await asyncio.to_thread(self.question_log.close)
