"""Chat models behind one small interface, and the machinery that calls them."""
