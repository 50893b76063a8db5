"""Pool management: maintenance and deletion of primary storage pools."""
