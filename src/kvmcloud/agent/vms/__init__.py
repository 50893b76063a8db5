"""VMs on this host: domain XML, libvirt, their volumes, and the lifecycle commands."""
