"""A lean HTTP/1.1 server and client for the broker's hot path, on asyncio and httptools (llhttp).

`message` holds the vocabulary (header fields, requests, responses), `server` serves one
handler on a port, `client` sends requests over pooled keep-alive connections. Only what the
broker needs: no framework, no TLS on the server side (the client hands https to aiohttp).
"""

from local_broker.native import use_native

use_native(__name__, __path__)  # the compiled modules of this package (local_broker/native.py)
