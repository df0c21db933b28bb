"""net stage of the sipsniff pipeline."""
