"""Signal receivers of the operations app."""
