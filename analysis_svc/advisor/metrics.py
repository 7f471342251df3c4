"""The advisor's circuit breakers as a Prometheus gauge, read at scrape.

`botmesh_circuit_breakers_open{breaker="advisor_endpoint"}` counts the LLM endpoints whose
breaker is open (calls skipped until the cool-down ends) across the advisors this process
built; trading_svc reports its exchange accounts under the same name, so one alert rule
covers every breaker (mesh.metrics.BREAKERS). Nothing is recorded on the call path: the
breakers' own state is read.
"""

from __future__ import annotations

import weakref

from analysis_svc.advisor.chain import Advisor
from analysis_svc.domain.advisor.circuit_breaker import CircuitState
from mesh.metrics import BREAKERS

ADVISOR_BREAKER = "advisor_endpoint"


class AdvisorMetrics:
    def __init__(self) -> None:
        self._advisors: weakref.WeakSet[Advisor] = weakref.WeakSet()

    def watch(self, advisor: Advisor) -> None:
        self._advisors.add(advisor)

    def open_breakers(self) -> int:
        return sum(
            1
            for advisor in list(self._advisors)
            for breaker in advisor.breakers().values()
            if breaker.state is CircuitState.OPEN
        )


ADVISOR_METRICS = AdvisorMetrics()
BREAKERS.register(ADVISOR_BREAKER, ADVISOR_METRICS.open_breakers)
