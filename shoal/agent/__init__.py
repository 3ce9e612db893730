"""The node agent (`shoal agent`): runs the replicas the scheduler places on its node(s).

- `agent`: the core: events and exits in, driver calls and reports out.
- `reconcile`: its decisions, pure: what an event does to a replica, what a restart does.
- `driver`: the driver interface every driver keeps; `sim` and `exec` implement it
  (`shim`, `procfs` and `locks` help `exec`).
- `spec`: the replica a driver runs, read from `dev.shoal.replica.scheduled`.
- `reports`: the events the agent sends; `sender` posts them to the broker.
- `store`: what the agent was told, in SQLite, for restarts.
- `server`: its HTTP endpoint; `trigger`: the Trigger that points the broker at it.
- `settings` and `runner`: assembling and running it all.
"""

from shoal.agent.trigger import render_agent_trigger

__all__ = ["render_agent_trigger"]
