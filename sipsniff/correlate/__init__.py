"""correlate stage of the sipsniff pipeline."""
