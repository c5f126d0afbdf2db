"""Statistics for the reader studies, the model comparison and the learning curves.

Pure functions on numpy arrays and pandas frames: no UI, no store. Modules:
``roc`` (ROC, AUC, DeLong), ``metrics`` (threshold metrics, calibration), ``mcnemar``,
``readers`` (BI-RADS ROC, decision changes, automation bias), ``mrmc``
(Obuchowski-Rockette), ``curves`` (rolling metrics, CUSUM); ``inputs`` checks arrays and
raises ``UserError`` for bad input.
"""
