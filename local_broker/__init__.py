"""A Knative-compatible CloudEvents broker: ingress, durable log, Trigger filters, delivery.

It knows manifests and HTTP only; it imports nothing from `shoal` or `functions`, so any
CloudEvents application can use it.
"""

from local_broker.native import use_native

use_native(__name__, __path__)  # the compiled hot path, when it matches these sources
