"""capture stage of the sipsniff pipeline."""
