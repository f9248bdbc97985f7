"""The web pages: the embeddable player."""
