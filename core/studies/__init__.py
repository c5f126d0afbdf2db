"""Reader studies: the paper's unaided-then-aided design made repeatable.

``protocol``: setting a study up, where each reader stands, and reading (a state machine in the
store); ``report``: the analysis, per reader and pooled; ``tables``, ``figures`` and
``printable``: the report as CSV and text tables, ROC figures, and one printable HTML file;
``definitions``: the types and constants they share (it imports none of them).
"""
