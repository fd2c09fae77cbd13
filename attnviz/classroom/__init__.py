"""The classroom: rooms that students follow (:mod:`.rooms`) and predict-then-reveal exercises (:mod:`.exercises`).

Streamlit-free; ``attnviz.ui.room`` draws them.
"""

from .rooms import ROOMS, RoomError, Rooms, RoomState, View, normalise_code

__all__ = ["ROOMS", "RoomError", "RoomState", "Rooms", "View", "normalise_code"]
