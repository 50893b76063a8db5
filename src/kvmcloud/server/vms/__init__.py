"""Virtual machines deployed from direct-download templates and ISOs, their volumes and NICs."""
