"""Ceph RBD primary storage on the agent: rbd/ceph command lines, the client, libvirt XML."""
