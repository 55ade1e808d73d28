"""Mustafid wiring: settings, command line, building the app."""
