"""Sources: turning what a user sent to /play into a playable, probed Track."""
