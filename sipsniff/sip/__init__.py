"""sip stage of the sipsniff pipeline."""
