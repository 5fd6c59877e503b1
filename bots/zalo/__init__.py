"""Zalo Official Account channel: webhook, event parsing, API client, token store, rendering."""
