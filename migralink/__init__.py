"""migralink: privacy-preserving linkage of administrative migration records."""

__version__ = "0.1.0"
