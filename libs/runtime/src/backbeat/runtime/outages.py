"""Outages of the process's dependencies (Kafka, the database), told once instead of thousands
of times.

While a broker is down, every aiokafka client of a process retries and logs each failed
attempt: a 20 s broker restart wrote over 2,000 error lines per process. The filter here
recognises those records per dependency, logs "kafka unreachable" once when the outage
starts, a reminder at most every 30 s with the count of errors it held back, and "kafka
reachable again" once when a probe (the service's readiness check) answers. The same state
feeds readiness and the ``backbeat_dependency_up`` gauge.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

KAFKA = "kafka"
DATABASE = "database"
# The readiness checks named like this are dependencies whose outages are tracked.
DEPENDENCIES = (KAFKA, DATABASE)

REMINDER_INTERVAL_S = 30.0
# An outage of a dependency the process has no probe for ends after this long without errors.
QUIET_END_S = 15.0
# After an outage the clients find their way back (a consumer rediscovers its group
# coordinator, finds its session expired and rejoins): three lines per consumer group, all
# told by "reachable again". The dependency's records that are not themselves a failure to
# connect are held for this long after it.
SETTLE_S = 10.0

Probe = Callable[[], Awaitable[None]]

log = logging.getLogger("backbeat.runtime.outages")

# Phrases of aiokafka's records that mean "the broker did not answer", as opposed to a broker
# that answered with an error (a group coordinator still loading after a topic's creation
# is no outage, and its one line is written as it is).
_KAFKA_CONNECTION_PHRASES = (
    "unable connect",
    "unable to bootstrap",
    "unable to request metadata",
    "unable to update metadata",
    "connection refused",
    "connect call failed",
    "kafkaconnectionerror",
    "nodenotreadyerror",
    "requesttimedouterror",
    "kafkatimeouterror",
)
_KAFKA_CONNECTION_ERRORS = frozenset(
    {"KafkaConnectionError", "NodeNotReadyError", "RequestTimedOutError", "KafkaTimeoutError"}
)
# asyncpg's errors for a server that is not there, starting or shutting down; SQLAlchemy's
# wrappers count through the driver error they were raised from.
_DATABASE_CONNECTION_ERRORS = frozenset(
    {
        "CannotConnectNowError",
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "PostgresConnectionError",
        "ClientCannotConnectError",
        "AdminShutdownError",
        "CrashShutdownError",
    }
)


def _exceptions(*roots: BaseException | None) -> Iterator[BaseException]:
    """The exceptions, those they were raised from or during, and those of their groups."""
    seen: set[int] = set()
    pending = [exc for exc in roots if exc is not None]
    while pending:
        exc = pending.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        yield exc
        pending.extend(e for e in (exc.__cause__, exc.__context__) if e is not None)
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(exc.exceptions)


def dependency_failure(dependency: str, error: BaseException) -> dict[str, object]:
    """Extras for a record that reports ``error`` of ``dependency`` without a traceback
    (``log.warning("retrying", extra=dependency_failure(DATABASE, error))``): the outage
    filter counts it like the dependency's own errors."""
    return {"dependency": dependency, "dependency_error": error}


def _raised_in(exc: BaseException, packages: tuple[str, ...]) -> bool:
    if type(exc).__module__.split(".")[0] in packages:
        return True
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.split(".")[0] in packages:
            return True
        tb = tb.tb_next
    return False


def _is_connection_error(exc: BaseException, names: frozenset[str]) -> bool:
    return (
        isinstance(exc, OSError | TimeoutError)
        or getattr(exc, "connection_invalidated", False) is True
        or any(cls.__name__ in names for cls in type(exc).__mro__)
    )


@dataclass(frozen=True)
class Trouble:
    """What a log record says about a dependency: whose it is, and whether it means the
    dependency did not answer (which starts an outage) or is merely a consequence of one."""

    dependency: str
    unreachable: bool


def classify(record: logging.LogRecord) -> Trouble | None:
    """The dependency a warning or error record is about, or None when it is about none."""
    if record.levelno < logging.WARNING or record.name.startswith(log.name):
        return None
    declared = getattr(record, "dependency", None)
    reported = getattr(record, "dependency_error", None)
    exceptions = list(
        _exceptions(
            record.exc_info[1] if record.exc_info else None,
            reported if isinstance(reported, BaseException) else None,
        )
    )
    if declared in DEPENDENCIES and isinstance(reported, BaseException):
        names = _KAFKA_CONNECTION_ERRORS if declared == KAFKA else _DATABASE_CONNECTION_ERRORS
        return Trouble(str(declared), any(_is_connection_error(e, names) for e in exceptions))
    if record.name.startswith("aiokafka") or any(_raised_in(e, ("aiokafka",)) for e in exceptions):
        message = record.getMessage().lower()
        unreachable = any(p in message for p in _KAFKA_CONNECTION_PHRASES) or any(
            _is_connection_error(e, _KAFKA_CONNECTION_ERRORS) for e in exceptions
        )
        return Trouble(KAFKA, unreachable)
    database = [e for e in exceptions if _raised_in(e, ("asyncpg", "sqlalchemy"))]
    if database:
        return Trouble(
            DATABASE, any(_is_connection_error(e, _DATABASE_CONNECTION_ERRORS) for e in database)
        )
    return None


@dataclass
class _Outage:
    started: float
    last_report: float
    last_failure: float
    suppressed: int = 0  # since the last report
    suppressed_total: int = 0


class Outages:
    """Which dependencies this process cannot reach, and the log lines that say so.

    Thread-safe: records arrive from any thread that logs."""

    def __init__(
        self,
        *,
        reminder_interval_s: float = REMINDER_INTERVAL_S,
        settle_s: float = SETTLE_S,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
    ) -> None:
        self.reminder_interval_s = reminder_interval_s
        self.settle_s = settle_s
        self.clock = clock
        self.log = logger
        self._lock = threading.Lock()
        self._open: dict[str, _Outage] = {}
        self._seen: set[str] = set()
        self._suppressed: dict[str, int] = {}
        self._settling_until: dict[str, float] = {}

    def is_down(self, dependency: str) -> bool:
        with self._lock:
            return dependency in self._open

    def down(self) -> list[str]:
        with self._lock:
            return sorted(self._open)

    def observe(self, dependency: str) -> None:
        """Report ``dependency`` in the metrics (as up) before anything happened to it."""
        with self._lock:
            self._seen.add(dependency)

    def failed(self, dependency: str, error: str, *, held_back: bool = True) -> None:
        """The dependency did not answer: the first failure opens the outage and says so;
        later ones are counted, and told in a reminder at most every reminder interval.
        ``held_back`` says the failure was a log record that will not be written."""
        now = self.clock()
        count = 1 if held_back else 0
        with self._lock:
            self._seen.add(dependency)
            self._suppressed[dependency] = self._suppressed.get(dependency, 0) + count
            outage = self._open.get(dependency)
            if outage is None:
                outage = self._open[dependency] = _Outage(now, now, now)
                outage.suppressed_total = count
                reminder = None
            else:
                outage.last_failure = now
                outage.suppressed += count
                outage.suppressed_total += count
                if now - outage.last_report < self.reminder_interval_s:
                    return
                reminder = (outage.suppressed, round(now - outage.started, 1))
                outage.suppressed, outage.last_report = 0, now
        if reminder is None:
            self.log.error(
                "%s unreachable", dependency, extra={"dependency": dependency, "error": error}
            )
        else:
            self.log.error(
                "%s still unreachable",
                dependency,
                extra={
                    "dependency": dependency,
                    "error": error,
                    "down_s": reminder[1],
                    "errors_suppressed": reminder[0],
                },
            )

    def consequence(self, dependency: str) -> bool:
        """A record caused by an outage that may be open or just over: True (and counted)
        when it is."""
        with self._lock:
            outage = self._open.get(dependency)
            if outage is not None:
                outage.suppressed += 1
                outage.suppressed_total += 1
            elif self.clock() >= self._settling_until.get(dependency, 0.0):
                return False
            self._suppressed[dependency] = self._suppressed.get(dependency, 0) + 1
            return True

    def recovered(self, dependency: str) -> None:
        """The dependency answered again: closes its outage, if one is open, and says so."""
        now = self.clock()
        with self._lock:
            self._seen.add(dependency)
            outage = self._open.pop(dependency, None)
            if outage is not None:
                self._settling_until[dependency] = now + self.settle_s
        if outage is not None:
            self.log.warning(
                "%s reachable again",
                dependency,
                extra={
                    "dependency": dependency,
                    "down_s": round(now - outage.started, 1),
                    "errors_suppressed": outage.suppressed_total,
                },
            )

    def quiet_for(self, dependency: str) -> float | None:
        """Seconds since the outage's last failure, None when there is no outage."""
        with self._lock:
            outage = self._open.get(dependency)
            return None if outage is None else self.clock() - outage.last_failure

    def snapshot(self) -> tuple[dict[str, bool], dict[str, int]]:
        """Each dependency seen: whether it is up, and the errors held back so far."""
        with self._lock:
            up = {d: d not in self._open for d in self._seen}
            return up, dict(self._suppressed)


class OutageFilter(logging.Filter):
    """A handler filter: records about a dependency that did not answer become the outage's
    few lines; every other record passes unchanged."""

    def __init__(self, outages: Outages) -> None:
        super().__init__()
        self.outages = outages

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            trouble = classify(record)
        except Exception:  # noqa: BLE001 - a record this cannot read is written as it is
            return True
        if trouble is None:
            return True
        if trouble.unreachable:
            self.outages.failed(trouble.dependency, _summary(record))
            return False
        return not self.outages.consequence(trouble.dependency)


def _summary(record: logging.LogRecord) -> str:
    """One line on what failed: the record's message and its exception's type."""
    message = record.getMessage().splitlines()[0][:300] if record.msg else ""
    exc = record.exc_info[1] if record.exc_info else getattr(record, "dependency_error", None)
    return f"{message} ({exc})" if isinstance(exc, BaseException) else message


class DependencyCollector(Collector):
    """``backbeat_dependency_up{dependency}`` (1 or 0) and the count of errors held back."""

    def __init__(self, outages: Outages, dependencies: Iterable[str] = ()) -> None:
        self.outages = outages
        for dependency in dependencies:
            outages.observe(dependency)

    def collect(self) -> Iterator[Metric]:
        up, suppressed = self.outages.snapshot()
        gauge = GaugeMetricFamily(
            "backbeat_dependency_up",
            "1 while the process reaches the dependency, 0 during an outage",
            labels=["dependency"],
        )
        errors = CounterMetricFamily(
            "backbeat_dependency_errors_suppressed",
            "Error log records held back during dependency outages",
            labels=["dependency"],
        )
        for dependency in sorted(up):
            gauge.add_metric([dependency], 1.0 if up[dependency] else 0.0)
            errors.add_metric([dependency], float(suppressed.get(dependency, 0)))
        yield gauge
        yield errors


async def probe(outages: Outages, dependency: str, check: Probe, timeout_s: float = 2.0) -> None:
    """Run ``check`` and record what it says about ``dependency``; raises what it raised."""
    try:
        await asyncio.wait_for(check(), timeout=timeout_s)
    except Exception as exc:
        outages.failed(dependency, type(exc).__name__, held_back=False)
        raise
    outages.recovered(dependency)


async def watch_outages(
    outages: Outages,
    probes: Mapping[str, Probe],
    *,
    interval_s: float = 1.0,
    quiet_end_s: float = QUIET_END_S,
) -> None:
    """While a dependency is down, probe it every ``interval_s`` so that its outage ends (and
    is told to have ended) as soon as it answers, not when a client next happens to log."""
    while True:
        await asyncio.sleep(interval_s)
        for dependency in outages.down():
            check = probes.get(dependency)
            if check is not None:
                try:
                    await probe(outages, dependency, check)
                except Exception:  # noqa: BLE001, S112 - still down: recorded by probe()
                    continue
            elif (outages.quiet_for(dependency) or 0.0) >= quiet_end_s:
                outages.recovered(dependency)


# The process's outages: the logging filter and the HTTP side share this one.
outages = Outages()
