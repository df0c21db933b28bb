"""The interactive call browser (``sipsniff browse``, ``live --browse``), built with Textual.

Modules: ``app`` (the application, the call list and flow screens), ``calls`` (the call list
widget), ``flow`` (the flow widget, message text, diff), ``rows`` (columns, cells, sorting,
combined flows: no Textual), ``filter`` (the filter box), ``loader`` (feeding the session from a
worker thread), ``export`` (files), ``screens`` (help, text pages, columns, export, password).
"""
