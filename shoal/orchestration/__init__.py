"""Pure orchestration decisions: plain data in, plain data out, no I/O and no clock.

- `spec`: the Deployment resource a user writes, validated (`quantity`, `fields` help).
- `rollout`: rolling-update fenceposts, one reconcile step at a time, restart back-off.
- `placement`: the scheduler's filter and score, placing many replicas per call.
- `autoscale`: the HorizontalPodAutoscaler algorithm with its stabilization and rate limit.
- `nodes`: which nodes (and so which replicas) are lost, from heartbeat times.

Time is always passed in as float seconds (`now`), so every decision is reproducible.
"""
