"""ClickTrack studio from a checkout: ``python app.py [--host 127.0.0.1] [--port 7860] ...``.

The studio itself is the :mod:`clicktrack_studio` package (``clicktrack-studio`` once
installed); this file only starts it.
"""

from clicktrack_studio.launch import main

if __name__ == "__main__":
    main()
