"""The orchestration functions' bodies: records read through the invocation's transaction, the
pure decisions of `shoal.orchestration` applied, events emitted.

`functions/*.py` are thin: subscriptions and dispatch. What is here does no I/O but the state
transaction it is handed (`Context.state`), and reads no clock but the invocation's `now`.

- `records`: reading and writing the `shoal.model` records, validating event data.
- `replica_events`: building the list-carrying replica events (`shoal.events`).
- `deployment_step`, `deployment_events`, `replica_news`: the deployments function.
- `cluster`, `placing`, `releasing`: the scheduler.
"""
