"""Getting image bytes from a URL into a pool: downloaders, the engine, their errors."""
