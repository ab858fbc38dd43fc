"""What the event log means: patient journeys and the KPI registry (patient, capacity, series
and derived KPIs, breach attribution). Pure functions of a
:class:`sim.model.simulation.RunResult`."""
