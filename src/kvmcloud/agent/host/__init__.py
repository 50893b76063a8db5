"""Adapters to the host itself: processes, qemu-img and the host report."""
