"""Prometheus metrics: a registry per gateway (no global state), read from the components at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edge.store import EventStore
from edge.supervisor import Supervisor

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _CoreCollector(Collector):
    def __init__(self, store: EventStore) -> None:
        self._store = store

    def collect(self) -> Iterable[Metric]:
        written = CounterMetricFamily("edge_events_written", "Events stored durably", labels=["kind", "priority"])
        for (kind, prio), n in sorted(self._store.written_counts().items()):
            written.add_metric([kind, prio], n)
        yield written
        st = self._store.stats()
        yield GaugeMetricFamily("edge_store_used_bytes", "Bytes of the database in use", value=st.used_bytes)
        yield GaugeMetricFamily("edge_store_file_bytes", "Bytes of the database and its WAL on disk",
                                value=st.file_bytes)
        yield GaugeMetricFamily("edge_store_max_bytes", "The configured size bound", value=st.max_bytes)
        yield GaugeMetricFamily("edge_store_events", "Events held", value=st.events)
        yield GaugeMetricFamily("edge_store_unsynced_events", "Events not yet acknowledged upstream",
                                value=st.unsynced)
        yield GaugeMetricFamily("edge_alerts_open", "Open alerts", value=st.open_alerts)
        yield CounterMetricFamily("edge_store_evicted_events", "Events evicted by the size bound",
                                  value=st.evicted)


class Metrics:
    def __init__(self, store: EventStore, supervisor: Supervisor) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_CoreCollector(store))
        self.task_restarts = Counter("edge_task_restarts", "Supervised task restarts", ["task"],
                                     registry=self.registry)
        supervisor.restart_counter = lambda name: self.task_restarts.labels(name).inc()

    def register(self, collector: Collector) -> None:
        """Subsystems add their own collectors (sync lag, BLE adverts, ...)."""
        self.registry.register(collector)

    def gauge(self, name: str, doc: str, fn: Callable[[], float]) -> None:
        """A gauge read from fn() at scrape time."""

        class _One(Collector):
            def collect(self) -> Iterable[Metric]:
                yield GaugeMetricFamily(name, doc, value=fn())

        self.registry.register(_One())

    def render(self) -> bytes:
        return generate_latest(self.registry)
