"""Background import jobs (thin: they call the import service)."""
