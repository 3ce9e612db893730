"""A Knative-compatible CloudEvents broker: ingress, durable log, Trigger filters, delivery.

It knows manifests and HTTP only; it imports nothing from `shoal` or `functions`, so any
CloudEvents application can use it.
"""
