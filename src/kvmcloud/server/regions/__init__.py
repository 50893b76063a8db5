"""Regions: CloudStack's region 1, "Local", this management server's endpoint."""
