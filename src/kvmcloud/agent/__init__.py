"""The KVM host agent: downloads templates straight into primary storage pools."""
