"""Instrument side of afmcurrent: bias sources, scan controllers, the dual-polarity protocol.

``acquisition`` imports ``afmcurrent``; ``afmcurrent`` never imports ``acquisition``.
"""
