"""The bundled load-test harness.

``python -m loadtest SCENARIO ...`` drives a running node (or cluster, or the bundled
baseline relay) over the wire only, from many connections in several worker processes,
and reports latency (HDR histograms with coordinated-omission correction), loss,
duplicates, and the server's CPU and memory read from its ``/metrics``.
"""
