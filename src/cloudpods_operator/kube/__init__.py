"""The edge that talks to the Kubernetes API server; nothing in the pure core imports it.

- :mod:`.client`: raw-JSON HTTP (aiohttp + orjson), typed errors, server-side apply;
- :mod:`.watch`: list-then-watch into a sink (the cache), bookmarks, re-list on 410;
- :mod:`.lease`: leader election on a coordination.k8s.io Lease;
- :mod:`.events`: events.k8s.io Events on the OnecloudCluster, de-duplicated.
"""
