"""The benchmark: the real operator on the local cluster, measured against the physical floor (server-side apply
of the same manifests). Run with `scripts/benchmark`."""
