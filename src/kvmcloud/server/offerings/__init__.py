"""Service offerings: the CPU and memory a VM gets."""
