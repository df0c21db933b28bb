"""sipsniff: a SIP traffic analyzer."""

__version__ = "0.1.0"
