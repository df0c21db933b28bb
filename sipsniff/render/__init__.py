"""render stage of the sipsniff pipeline."""
