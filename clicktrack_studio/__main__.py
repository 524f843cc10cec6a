"""``python -m clicktrack_studio``: start the studio."""

from clicktrack_studio.launch import main

main()
