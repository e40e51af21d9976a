"""Life-cycle sweeps run by beat (thin: they call inventory.services)."""
