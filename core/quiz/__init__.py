"""The practice quiz, case by case, with its state in the store.

``flow``: the state machine and the view the page gets at each step; ``selection``: which
cases a session holds (practice sets and spaced repetition); ``scoring``: a session's reads
scored against the truth. Reads themselves (the answer, its checks, storing it, the model
output shown) belong to :mod:`core.reads`; the model shown to :mod:`core.shown_model`.
"""
