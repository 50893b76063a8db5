"""Global settings operators change with updateConfiguration (CloudStack's configuration table)."""
