"""Templates and ISOs registered for direct download, and their copies on primary storage."""
