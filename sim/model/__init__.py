"""The simulation itself: ``simulate(scenario, replication) -> RunResult``. Population, natural
history and disease course, the pathway, MDTs, treatment and the capacity-limited resources. It
records facts in the event log and computes no KPI; it imports neither pandas nor matplotlib."""
