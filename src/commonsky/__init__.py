"""commonsky: cooperative air surveillance, from sensor plots to a shared common air picture."""

__version__ = "0.1.0"
