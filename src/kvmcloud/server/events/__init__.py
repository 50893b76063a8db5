"""Events: what happened, for operators (CloudStack's event table and listEvents)."""
