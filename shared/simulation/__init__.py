"""The rollout simulator: the production engine over the fakes on a simulated clock.

``python -m shared.simulation run SCENARIO.json [--trace]`` plays a scenario file
(:mod:`shared.simulation.scenario`) through :class:`shared.services.Engine`, ``decide()`` and
the sequential judge, unchanged, over clocked fakes (:mod:`shared.fakes.clocked_endpoints`,
:mod:`shared.simulation.traffic`), and prints one JSON line per decision and a summary.
``what-if`` answers how a policy would treat a good and a bad version on an endpoint's real
traffic. Nothing here is imported by the app.
"""
