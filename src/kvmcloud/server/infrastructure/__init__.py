"""Zones, pods, clusters, hosts and primary storage pools."""
