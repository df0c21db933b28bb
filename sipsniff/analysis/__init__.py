"""analysis stage of the sipsniff pipeline."""
