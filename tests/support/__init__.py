"""Reusable test machinery: HTTP origin, test images, throwaway servers."""
