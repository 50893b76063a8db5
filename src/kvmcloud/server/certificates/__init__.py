"""Direct-download certificates: upload, revoke, list, provision, and sync to hosts."""
