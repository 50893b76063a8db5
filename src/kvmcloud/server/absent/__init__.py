"""Lists of CloudStack objects kvmcloud has none of (public IPs, routers, …): always empty."""
