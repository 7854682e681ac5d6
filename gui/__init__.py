"""The desktop window. Everything Qt lives here; the engine below never imports Qt."""
