"""Host-side tools for the firmware: the one-ring runner and its timeline. Never copied to the device."""
