"""fundwatch: watches Swedish agencies' funding calls for civil-society organisations."""

__version__ = "0.2.0"
