"""VMs on this host: domain XML, their volumes, and the lifecycle commands."""
