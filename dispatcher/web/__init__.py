"""The web side of ``pregonero serve``: one-click unsubscribe and health (and the desk)."""
