"""Resource limits: CloudStack's listResourceLimits; kvmcloud enforces none (all -1)."""
