"""ClickTrack's web studio (Gradio): ``clicktrack-studio``, or ``python app.py`` in a checkout.

:mod:`clicktrack_studio.app` builds the page, :mod:`clicktrack_studio.launch` serves it and
:mod:`clicktrack_studio.choices` holds what its menus offer.
"""
